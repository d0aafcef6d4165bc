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
    /// Bad page arguments.
    #[error(transparent)]
    Page(#[from] PageError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

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
            IdentityError::Page(e) => e.code(),
            IdentityError::Db(_) => Code::Internal,
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

/// Whether a database error is a unique-constraint violation on `constraint`.
pub(crate) fn is_unique_violation(err: &DbErr, constraint: &str) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(msg)) if msg.contains(constraint))
}
