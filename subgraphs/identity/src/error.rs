//! Identity's domain errors and their stable codes.

use kit::relay::PageError;
use kit::{Code, DomainError};
use sea_orm::DbErr;
use tenancy::AccessError;

/// Everything an identity operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Not signed in, or not allowed.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Invalid input.
    #[error("{message}")]
    Invalid {
        /// The input field at fault.
        field: &'static str,
        /// What is wrong, for the user.
        message: String,
    },
    /// Nothing visible with that id.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Clashes with existing data.
    #[error("{message}")]
    Conflict {
        /// The input field at fault.
        field: &'static str,
        /// What clashes, for the user.
        message: String,
    },
    /// Sign-in failed: unknown account, wrong password or code, or a spent or expired
    /// credential. One message for all, so the cause cannot be probed.
    #[error("{0}")]
    Credentials(&'static str),
    /// The tenant is suspended: nobody signs in, no token is issued.
    #[error("this academy is suspended")]
    Suspended,
    /// Too many attempts; retry after the given seconds.
    #[error("too many attempts; try again in {0} seconds")]
    RateLimited(u64),
    /// Bad page arguments.
    #[error(transparent)]
    Page(#[from] PageError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// Redis failed (rate limits cannot be checked, so sign-in is refused).
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    /// Key material or sealed data is unusable.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// The one message for a failed password sign-in.
pub const BAD_CREDENTIALS: &str = "the email or password is incorrect";
/// The one message for a refused refresh token, invitation or link.
pub const BAD_TOKEN: &str = "this link or token is invalid or has expired";

impl IdentityError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl DomainError for IdentityError {
    fn code(&self) -> Code {
        match self {
            IdentityError::Access(e) => e.code(),
            IdentityError::Invalid { .. } => Code::BadUserInput,
            IdentityError::NotFound(_) => Code::NotFound,
            IdentityError::Conflict { .. } => Code::Conflict,
            IdentityError::Credentials(_) => Code::Unauthenticated,
            IdentityError::Suspended => Code::Forbidden,
            IdentityError::RateLimited(_) => Code::RateLimited,
            IdentityError::Page(e) => e.code(),
            IdentityError::Db(e) => kit::error::db_code(e),
            IdentityError::Crypto(_) => Code::Internal,
            IdentityError::Redis(_) => Code::Unavailable,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            IdentityError::RateLimited(secs) => Some(*secs),
            _ => None,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            IdentityError::Invalid { field, .. } | IdentityError::Conflict { field, .. } => {
                Some(field)
            }
            IdentityError::Page(e) => e.field(),
            _ => None,
        }
    }
}
