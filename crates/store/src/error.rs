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
    /// Any other database error. (The message holds the driver's text; it is not also the
    /// error's `source`, so `{:#}` chains print it once.)
    #[error("database error: {}", db_text(.0))]
    Db(rusqlite::Error),
    /// Any other PostgreSQL error.
    #[error("PostgreSQL error: {}", pg_text(.0))]
    Pg(postgres::Error),
    /// A driver error ([`Db`](Self::Db) or [`Pg`](Self::Pg)) with the store it came from.
    #[error("store {store}: {error}")]
    In { store: String, error: Box<StoreError> },
}

/// A SQLite error with what the user can do about it where that is known.
fn db_text(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DatabaseCorrupt) => format!("{e} (the file is damaged: restore a copy or run `sqlite3 FILE .recover`)"),
        Some(C::DiskFull) => format!("{e} (the disk is full: the last write was rolled back, free space and resume)"),
        Some(C::ReadOnly) => format!("{e} (the file or its directory cannot be written)"),
        _ => e.to_string(),
    }
}

/// A PostgreSQL error with its cause (the driver says only "db error" and keeps the server's
/// message as its source).
fn pg_text(e: &postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) if !e.to_string().contains(&cause.to_string()) => format!("{e}: {cause}"),
        _ => e.to_string(),
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e)
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Pg(e)
    }
}
