//! The one error type of this crate: every message names what was wrong and where.

use thiserror::Error;

/// Why an architecture, string or action sequence was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SpaceError {
    /// A canonical string could not be parsed.
    #[error("cannot parse architecture string {input:?}: {reason}")]
    Parse { input: String, reason: String },
    /// An architecture does not belong to the space (value outside a vocabulary, bad skip index…).
    #[error("architecture is not in the {space} space: {reason}")]
    NotInSpace { space: &'static str, reason: String },
    /// The actions do not match the decision program (wrong count or kind).
    #[error("actions do not match the decision program: {0}")]
    Actions(String),
    /// A space configuration is unusable (empty vocabulary, zero depth…).
    #[error("invalid search-space configuration: {0}")]
    Config(String),
}
