//! Learning's domain errors and their stable codes.

use kit::relay::PageError;
use kit::storage::StorageError;
use kit::{Code, DomainError};
use sea_orm::DbErr;
use tenancy::AccessError;

/// Everything a learning operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LearningError {
    /// Not signed in, or not allowed.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Invalid input, or a change the item's state does not allow (publishing an empty course).
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
    /// A backing service (named) cannot answer right now.
    #[error("{0} is temporarily unavailable")]
    Unavailable(&'static str),
    /// Object storage failed, or a key outside the tenant's prefix was asked for.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl LearningError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl DomainError for LearningError {
    fn code(&self) -> Code {
        match self {
            LearningError::Access(e) => e.code(),
            LearningError::Invalid { .. } => Code::BadUserInput,
            LearningError::NotFound(_) => Code::NotFound,
            LearningError::Conflict { .. } => Code::Conflict,
            LearningError::Page(e) => e.code(),
            LearningError::Db(e) => kit::error::db_code(e),
            LearningError::Unavailable(_) => Code::Unavailable,
            LearningError::Storage(StorageError::Backend(_)) => Code::Unavailable,
            LearningError::Storage(_) => Code::Internal,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            LearningError::Invalid { field, .. } | LearningError::Conflict { field, .. } => {
                Some(field)
            }
            LearningError::Page(e) => e.field(),
            _ => None,
        }
    }
}
