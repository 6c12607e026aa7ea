//! Store errors, each naming the store it concerns.

use thiserror::Error;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The store could not be opened or is not a store of this program.
    #[error("store {path}: {reason}")]
    Open { path: String, reason: String },
    /// The store was written by a newer version of `nas`.
    #[error("store {path} has schema version {found}; this nas understands up to {supported} — upgrade nas")]
    TooNew { path: String, found: i64, supported: i64 },
    /// A name is already taken.
    #[error("an experiment named {0:?} already exists in this store (use --resume to continue it, or another --name)")]
    Exists(String),
    /// A referenced row does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A write would break an invariant (finishing a trial twice, …).
    #[error("{0}")]
    Conflict(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// Any other PostgreSQL error.
    #[error("PostgreSQL error: {0}")]
    Pg(#[from] postgres::Error),
}
