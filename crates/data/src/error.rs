//! Dataset errors: one line naming the file and the problem.

use thiserror::Error;

/// Why a dataset could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DataError {
    /// A file is missing or unreadable.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    /// A file's content is not what its format says.
    #[error("{path}: {reason}")]
    Format { path: String, reason: String },
    /// Inconsistent files or a bad request (subset larger than the set…).
    #[error("{0}")]
    Invalid(String),
}

impl DataError {
    pub(crate) fn format(path: &std::path::Path, reason: impl Into<String>) -> Self {
        DataError::Format { path: path.display().to_string(), reason: reason.into() }
    }
    pub(crate) fn io(path: &std::path::Path, e: std::io::Error) -> Self {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        };
        DataError::Io { path: path.display().to_string(), reason }
    }
}
