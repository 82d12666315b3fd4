//! The domain error: outcomes callers act on. HTTP and GraphQL map each variant to a status or an
//! `extensions.code`; `Internal` carries the cause for the log and never reaches a client.

use sea_orm::DbErr;

/// Domain result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A domain error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No valid credentials (missing, expired or revoked session or token, wrong password).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The row does not exist, or belongs to another tenant (existence never leaks).
    #[error("not found")]
    NotFound,
    /// The caller is known but lacks the role.
    #[error("forbidden")]
    Forbidden,
    /// Input failed validation.
    #[error("{field}: {message}")]
    Validation {
        /// Offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A uniqueness rule was hit.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Too many attempts; try again after this long.
    #[error("too many attempts; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// When the next attempt is allowed.
        retry_after: std::time::Duration,
    },
    /// The account's plan does not allow this (e.g. more members); upgrading would.
    #[error("{0}")]
    PlanLimit(String),
    /// Billing is not on here (self-hosted, or SaaS without a Stripe key).
    #[error("billing is not enabled on this server")]
    BillingDisabled,
    /// Anything else; logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// Shorthand for a validation error.
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation {
            field,
            message: message.into(),
        }
    }
}

impl From<DbErr> for Error {
    fn from(error: DbErr) -> Self {
        match error {
            DbErr::RecordNotFound(_) => Error::NotFound,
            other => Error::Internal(anyhow::Error::new(other)),
        }
    }
}

/// Turns a unique-constraint violation into [`Error::Conflict`], leaving other errors alone.
pub(crate) trait OnConflict<T> {
    fn on_conflict(self, message: &'static str) -> Result<T>;
}

impl<T> OnConflict<T> for std::result::Result<T, DbErr> {
    fn on_conflict(self, message: &'static str) -> Result<T> {
        self.map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(message),
            _ => Error::from(e),
        })
    }
}
