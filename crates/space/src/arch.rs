//! [`Architecture`]: one value of any search space, with JSON and canonical-string forms.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::{CnnArch, Nb201Arch, RnnCell, SpaceError};

/// An architecture of any space. JSON form: `{"space":"cnn","layers":[…]}` or
/// `{"space":"nb201","ops":[…]}` or `{"space":"rnn","nodes":[…],…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "space", rename_all = "lowercase")]
pub enum Architecture {
    /// A convolutional network from the paper's CNN space.
    Cnn(CnnArch),
    /// A NAS-Bench-201 cell.
    Nb201(Nb201Arch),
    /// A recurrent cell from the paper's tree space.
    Rnn(RnnCell),
}

impl Architecture {
    /// Name of the space this architecture belongs to (`cnn`, `nb201`).
    pub fn space_name(&self) -> &'static str {
        match self {
            Architecture::Cnn(_) => "cnn",
            Architecture::Nb201(_) => "nb201",
            Architecture::Rnn(_) => "rnn",
        }
    }

    /// Parse the canonical string of the given space.
    pub fn parse(space: &str, s: &str) -> Result<Self, SpaceError> {
        match space {
            "cnn" => Ok(Architecture::Cnn(s.parse()?)),
            "nb201" => Ok(Architecture::Nb201(s.parse()?)),
            "rnn" => Ok(Architecture::Rnn(s.parse()?)),
            other => Err(SpaceError::Parse {
                input: s.to_string(),
                reason: format!("unknown space {other:?} (expected cnn, rnn or nb201)"),
            }),
        }
    }

    /// Read an architecture from its JSON form, naming the problem on failure.
    pub fn from_json(json: &str) -> Result<Self, SpaceError> {
        let arch: Architecture = serde_json::from_str(json).map_err(|e| SpaceError::Parse {
            input: json.chars().take(80).collect(),
            reason: format!("malformed architecture JSON: {e}"),
        })?;
        arch.validate()?;
        Ok(arch)
    }

    /// Pretty JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("architectures always serialise")
    }

    /// Structural checks that do not depend on a space's vocabularies.
    pub fn validate(&self) -> Result<(), SpaceError> {
        match self {
            Architecture::Cnn(a) => a.validate(),
            Architecture::Nb201(_) => Ok(()),
            Architecture::Rnn(c) => c.validate(),
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Architecture::Cnn(a) => a.fmt(f),
            Architecture::Nb201(a) => a.fmt(f),
            Architecture::Rnn(c) => c.fmt(f),
        }
    }
}
