//! The NAS-Bench-201 cell space: a 4-node cell whose 6 edges each carry one of 5 operations.
//!
//! Edge order and op indices follow NASLib (and `nb201_cifar10.csv`): edges 1←0, 2←0, 3←0, 2←1,
//! 3←1, 3←2; ops 0 skip, 1 none, 2 conv3x3, 3 conv1x1, 4 avgpool3x3. The canonical string is the
//! six op indices joined by `-` (e.g. `2-2-0-2-3-2`); the official NAS-Bench-201 form
//! `|nor_conv_3x3~0|+|…|` is also accepted by the parser.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::{Action, Decision, SpaceError, TokenType};

/// The six edges as (to, from) node pairs, in NASLib order.
pub const NB201_EDGES: [(usize, usize); 6] = [(1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2)];

/// One NAS-Bench-201 operation; the discriminant is the NASLib op index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Nb201Op {
    #[serde(rename = "skip_connect")]
    Skip = 0,
    #[serde(rename = "none")]
    None = 1,
    #[serde(rename = "nor_conv_3x3")]
    Conv3x3 = 2,
    #[serde(rename = "nor_conv_1x1")]
    Conv1x1 = 3,
    #[serde(rename = "avg_pool_3x3")]
    AvgPool3x3 = 4,
}

impl Nb201Op {
    /// All ops in index order.
    pub const ALL: [Nb201Op; 5] =
        [Nb201Op::Skip, Nb201Op::None, Nb201Op::Conv3x3, Nb201Op::Conv1x1, Nb201Op::AvgPool3x3];

    /// The official NAS-Bench-201 name.
    pub fn official_name(self) -> &'static str {
        match self {
            Nb201Op::Skip => "skip_connect",
            Nb201Op::None => "none",
            Nb201Op::Conv3x3 => "nor_conv_3x3",
            Nb201Op::Conv1x1 => "nor_conv_1x1",
            Nb201Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    fn from_index(i: usize) -> Option<Self> {
        Self::ALL.get(i).copied()
    }
}

/// A NAS-Bench-201 cell: one op per edge, in [`NB201_EDGES`] order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Nb201Arch {
    pub ops: [Nb201Op; 6],
}

impl Nb201Arch {
    /// The official `|op~from|+|…|` string.
    pub fn to_official(&self) -> String {
        let mut nodes = Vec::new();
        for to in 1..=3 {
            let mut s = String::from("|");
            for (e, &(t, from)) in NB201_EDGES.iter().enumerate() {
                if t == to {
                    s.push_str(&format!("{}~{from}|", self.ops[e].official_name()));
                }
            }
            nodes.push(s);
        }
        nodes.join("+")
    }
}

impl fmt::Display for Nb201Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idx: Vec<String> = self.ops.iter().map(|&o| (o as usize).to_string()).collect();
        f.write_str(&idx.join("-"))
    }
}

fn parse_official(s: &str) -> Result<Nb201Arch, String> {
    let mut ops: [Option<Nb201Op>; 6] = [None; 6];
    let groups: Vec<&str> = s.split('+').collect();
    if groups.len() != 3 {
        return Err(format!("expected 3 node groups joined by '+', found {}", groups.len()));
    }
    for (g, group) in groups.iter().enumerate() {
        let to = g + 1;
        for item in group.split('|').filter(|x| !x.is_empty()) {
            let (name, from) = item.split_once('~').ok_or(format!("{item:?} is not op~node"))?;
            let from: usize = from.parse().map_err(|_| format!("bad node in {item:?}"))?;
            let op =
                Nb201Op::ALL.into_iter().find(|o| o.official_name() == name).ok_or(format!("unknown op {name:?}"))?;
            let e =
                NB201_EDGES.iter().position(|&(t, f)| t == to && f == from).ok_or(format!("no edge {to}<-{from}"))?;
            ops[e] = Some(op);
        }
    }
    let ops = ops.map(|o| o.ok_or("an edge is missing".to_string()));
    let mut out = [Nb201Op::None; 6];
    for (i, o) in ops.into_iter().enumerate() {
        out[i] = o?;
    }
    Ok(Nb201Arch { ops: out })
}

impl FromStr for Nb201Arch {
    type Err = SpaceError;
    fn from_str(s: &str) -> Result<Self, SpaceError> {
        let err = |reason: String| SpaceError::Parse { input: s.to_string(), reason };
        let t = s.trim();
        if t.starts_with('|') {
            return parse_official(t).map_err(err);
        }
        let parts: Vec<&str> = t.split('-').collect();
        if parts.len() != 6 {
            return Err(err(format!("expected 6 op indices joined by '-', found {}", parts.len())));
        }
        let mut ops = [Nb201Op::None; 6];
        for (i, p) in parts.iter().enumerate() {
            ops[i] = p
                .parse::<usize>()
                .ok()
                .and_then(Nb201Op::from_index)
                .ok_or_else(|| err(format!("edge {i}: {p:?} is not an op index 0-4")))?;
        }
        Ok(Nb201Arch { ops })
    }
}

/// The NAS-Bench-201 space: one 5-way token type per edge. It has no depth.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb201Space {}

impl Nb201Space {
    /// One token type per edge, named after the edge (`edge_1<-0`).
    pub fn token_types(&self) -> Vec<TokenType> {
        NB201_EDGES.iter().map(|(t, f)| TokenType { name: format!("edge_{t}<-{f}"), choices: 5 }).collect()
    }

    /// Six token decisions, one per edge.
    pub fn decisions(&self) -> Vec<Decision> {
        (0..6).map(|token_type| Decision::Token { token_type }).collect()
    }

    /// Actions → cell.
    pub fn decode(&self, actions: &[Action]) -> Result<Nb201Arch, SpaceError> {
        if actions.len() != 6 {
            return Err(SpaceError::Actions(format!("expected 6 actions, got {}", actions.len())));
        }
        let mut ops = [Nb201Op::None; 6];
        for (i, a) in actions.iter().enumerate() {
            ops[i] = match a {
                Action::Token(k) => Nb201Op::from_index(*k),
                Action::Skips(_) => None,
            }
            .ok_or_else(|| SpaceError::Actions(format!("edge {i}: {a:?} is not an op index")))?;
        }
        Ok(Nb201Arch { ops })
    }

    /// Cell → actions.
    pub fn encode(&self, arch: &Nb201Arch) -> Vec<Action> {
        arch.ops.iter().map(|&o| Action::Token(o as usize)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_string_round_trip() {
        let a: Nb201Arch = "2-2-0-2-3-2".parse().unwrap();
        assert_eq!(a.ops[2], Nb201Op::Skip);
        assert_eq!(a.ops[4], Nb201Op::Conv1x1);
        assert_eq!(a.to_string(), "2-2-0-2-3-2");
    }

    #[test]
    fn official_string_round_trip() {
        let a: Nb201Arch = "0-1-2-3-4-2".parse().unwrap();
        let off = a.to_official();
        assert_eq!(off, "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|");
        assert_eq!(off.parse::<Nb201Arch>().unwrap(), a);
    }

    #[test]
    fn json_round_trip() {
        let a: Nb201Arch = "4-3-2-1-0-0".parse().unwrap();
        let j = serde_json::to_string(&a).unwrap();
        assert!(j.contains("avg_pool_3x3"), "{j}");
        assert_eq!(serde_json::from_str::<Nb201Arch>(&j).unwrap(), a);
    }

    #[test]
    fn bad_strings() {
        for (s, needle) in [("1-2-3", "expected 6"), ("1-2-3-4-5-0", "edge 4"), ("|foo~0|+||+||", "unknown op")] {
            let e = s.parse::<Nb201Arch>().unwrap_err().to_string();
            assert!(e.contains(needle), "{s}: {e}");
        }
    }

    #[test]
    fn encode_decode() {
        let s = Nb201Space::default();
        let a: Nb201Arch = "3-1-4-0-2-2".parse().unwrap();
        assert_eq!(s.decode(&s.encode(&a)).unwrap(), a);
        assert_eq!(s.token_types().len(), 6);
    }
}
