//! Serde helpers that store [`Action`]s with an explicit tag. `Action` is untagged in JSON (a
//! token is a number, skips a list), which needs a self-describing format to read back; the
//! checkpoints are postcard, which is not. Use as `#[serde(with = "crate::tagged")]` on a
//! `Vec<Action>` field, or `tagged::lists` on a `Vec<Vec<Action>>`.

use nas_space::Action;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
enum Tagged {
    Token(usize),
    Skips(Vec<bool>),
}

fn tag(a: &Action) -> Tagged {
    match a {
        Action::Token(i) => Tagged::Token(*i),
        Action::Skips(f) => Tagged::Skips(f.clone()),
    }
}

fn untag(t: Tagged) -> Action {
    match t {
        Tagged::Token(i) => Action::Token(i),
        Tagged::Skips(f) => Action::Skips(f),
    }
}

pub fn serialize<S: Serializer>(actions: &[Action], s: S) -> Result<S::Ok, S::Error> {
    actions.iter().map(tag).collect::<Vec<_>>().serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Action>, D::Error> {
    Ok(Vec::<Tagged>::deserialize(d)?.into_iter().map(untag).collect())
}

/// The same for a list of action lists.
pub mod lists {
    use super::*;

    pub fn serialize<S: Serializer>(lists: &[Vec<Action>], s: S) -> Result<S::Ok, S::Error> {
        lists.iter().map(|l| l.iter().map(tag).collect::<Vec<_>>()).collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<Action>>, D::Error> {
        Ok(Vec::<Vec<Tagged>>::deserialize(d)?.into_iter().map(|l| l.into_iter().map(untag).collect()).collect())
    }
}
