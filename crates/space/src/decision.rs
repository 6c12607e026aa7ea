//! The vocabulary between spaces and strategies: token types, decisions and actions.

use serde::{Deserialize, Serialize};

/// One kind of token the controller emits, with its own softmax classifier and embedding
/// (e.g. "filter height" with 4 choices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenType {
    /// Human-readable name, shown in logs and used as the parameter name.
    pub name: String,
    /// Number of choices (vocabulary size), at least 1.
    pub choices: usize,
}

/// One step of the decision program a strategy walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// Choose one of `TokenType::choices` values of the token type with this index.
    Token { token_type: usize },
    /// The anchor point of layer `layer` (0-based): for every earlier anchor `j < layer`, decide
    /// whether layer `j` feeds layer `layer` (a Bernoulli decision each).
    Anchor { layer: usize },
}

/// What a strategy emitted for one [`Decision`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Action {
    /// Index into the token type's choices.
    Token(usize),
    /// For an anchor of layer `i`: `i` flags, flag `j` set when layer `j` feeds layer `i`.
    Skips(Vec<bool>),
}

impl Action {
    /// The flat integer form stored with a trial: a token is its index, skips are 0/1 flags.
    pub fn to_ints(actions: &[Action]) -> Vec<Vec<u32>> {
        actions
            .iter()
            .map(|a| match a {
                Action::Token(i) => vec![*i as u32],
                Action::Skips(s) => s.iter().map(|&b| b as u32).collect(),
            })
            .collect()
    }
}
