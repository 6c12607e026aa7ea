//! [`SearchSpace`]: the configured space of a search, dispatching to each concrete space.

use serde::{Deserialize, Serialize};

use crate::{Action, Architecture, CnnSpace, Decision, Nb201Space, RnnSpace, SpaceError, TokenType};

/// Which space, by name (for CLI flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpaceKind {
    Cnn,
    Rnn,
    Nb201,
}

/// A configured search space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SearchSpace {
    Cnn(CnnSpace),
    Rnn(RnnSpace),
    Nb201(Nb201Space),
}

impl SearchSpace {
    /// The default configuration of a space kind.
    pub fn default_for(kind: SpaceKind) -> Self {
        match kind {
            SpaceKind::Cnn => SearchSpace::Cnn(CnnSpace::default()),
            SpaceKind::Rnn => SearchSpace::Rnn(RnnSpace::default()),
            SpaceKind::Nb201 => SearchSpace::Nb201(Nb201Space::default()),
        }
    }

    /// `cnn`, `rnn` or `nb201`.
    pub fn name(&self) -> &'static str {
        match self {
            SearchSpace::Cnn(_) => "cnn",
            SearchSpace::Rnn(_) => "rnn",
            SearchSpace::Nb201(_) => "nb201",
        }
    }

    /// Whether the number of layers is a decision of the search (the depth schedule applies).
    pub fn has_depth(&self) -> bool {
        matches!(self, SearchSpace::Cnn(_))
    }

    /// Layers of a program's actions (0 for spaces without depth): the inverse of
    /// `decisions(depth).len()`, for strategies that choose the depth themselves.
    pub fn depth_of(&self, actions: &[Action]) -> usize {
        if self.has_depth() { actions.len() / self.decisions(1).len().max(1) } else { 0 }
    }

    /// Check the configuration.
    pub fn validate(&self) -> Result<(), SpaceError> {
        match self {
            SearchSpace::Cnn(s) => s.validate(),
            SearchSpace::Rnn(s) => s.validate(),
            SearchSpace::Nb201(_) => Ok(()),
        }
    }

    /// All token types; fixed for the space whatever the depth.
    pub fn token_types(&self) -> Vec<TokenType> {
        match self {
            SearchSpace::Cnn(s) => s.token_types(),
            SearchSpace::Rnn(s) => s.token_types(),
            SearchSpace::Nb201(s) => s.token_types(),
        }
    }

    /// The decision program for a depth (ignored by spaces without depth).
    pub fn decisions(&self, depth: usize) -> Vec<Decision> {
        match self {
            SearchSpace::Cnn(s) => s.decisions(depth),
            SearchSpace::Rnn(s) => s.decisions(),
            SearchSpace::Nb201(s) => s.decisions(),
        }
    }

    /// Actions → architecture.
    pub fn decode(&self, actions: &[Action]) -> Result<Architecture, SpaceError> {
        match self {
            SearchSpace::Cnn(s) => s.decode(actions).map(Architecture::Cnn),
            SearchSpace::Rnn(s) => s.decode(actions).map(Architecture::Rnn),
            SearchSpace::Nb201(s) => s.decode(actions).map(Architecture::Nb201),
        }
    }

    /// Architecture → actions, failing when it is not in this space.
    pub fn encode(&self, arch: &Architecture) -> Result<Vec<Action>, SpaceError> {
        match (self, arch) {
            (SearchSpace::Cnn(s), Architecture::Cnn(a)) => s.encode(a),
            (SearchSpace::Rnn(s), Architecture::Rnn(c)) => s.encode(c),
            (SearchSpace::Nb201(s), Architecture::Nb201(a)) => Ok(s.encode(a)),
            (s, a) => Err(SpaceError::NotInSpace {
                space: s.name(),
                reason: format!("a {} architecture was given", a.space_name()),
            }),
        }
    }

    /// Parse a canonical string of this space.
    pub fn parse(&self, s: &str) -> Result<Architecture, SpaceError> {
        Architecture::parse(self.name(), s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_json_is_tagged_and_round_trips() {
        let space = SearchSpace::default_for(SpaceKind::Cnn);
        let a = space.parse("3x3-36;5x5-48<0").unwrap();
        let j = a.to_json();
        assert!(j.contains(r#""space": "cnn""#), "{j}");
        assert_eq!(Architecture::from_json(&j).unwrap(), a);
        let nb = SearchSpace::default_for(SpaceKind::Nb201).parse("0-1-2-3-4-0").unwrap();
        assert_eq!(Architecture::from_json(&nb.to_json()).unwrap(), nb);
    }

    #[test]
    fn malformed_json_is_one_clear_error() {
        for (j, needle) in [
            ("{", "malformed architecture JSON"),
            (r#"{"space":"cnn","layers":[]}"#, "at least one layer"),
            (r#"{"space":"cnn","layers":[{"filter_h":3,"filter_w":3,"filters":8,"inputs":[0]}]}"#, "earlier layers"),
            (r#"{"space":"lstm"}"#, "unknown variant"),
            (
                r#"{"space":"rnn","nodes":[],"inject":{"combine":"add","activation":"tanh"},"cell_out":0,"inject_into":0}"#,
                "2b − 1",
            ),
        ] {
            let e = Architecture::from_json(j).unwrap_err().to_string();
            assert!(e.contains(needle), "{j}: {e}");
        }
    }

    #[test]
    fn wrong_space_is_rejected() {
        let nb = SearchSpace::default_for(SpaceKind::Nb201).parse("0-1-2-3-4-0").unwrap();
        let e = SearchSpace::default_for(SpaceKind::Cnn).encode(&nb).unwrap_err();
        assert!(e.to_string().contains("nb201 architecture"), "{e}");
    }
}
