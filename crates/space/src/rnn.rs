//! The paper's recurrent-cell space (Section 3.4, Figure 5): a cell computing (h_t, c_t) from
//! x_t, h_{t-1}, c_{t-1} as a complete binary tree.
//!
//! Nodes are numbered leaves first, then each level upwards, root last: with `base` leaves there
//! are `2·base − 1` nodes, and internal node `base + m` combines nodes `2m` and `2m + 1`.
//! - A leaf `k` computes `pre_k = combine(W_k·x_t, U_k·h_{t-1})`, an internal node
//!   `pre = combine(out_left, out_right)`; every node's output is `out = activation(pre)`.
//! - *Cell inject*: the output of node `inject_into` becomes
//!   `inject.activation(inject.combine(out, c_{t-1}))` before its parent reads it.
//! - *Cell indices*: `c_t = pre_{cell_out}` (a node's value before its activation, as in the
//!   paper's example) and `h_t = out_root`.
//!
//! Canonical string: the nodes' `combine:activation` in node order, then the inject, then the
//! two indices, e.g. the paper's base-2 example `add:tanh mul:relu mul:sigmoid | add:relu | c=1 inject=0`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::{Action, Decision, SpaceError, TokenType};

/// How a node merges its two inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    Add,
    /// Element-wise product (`elem_mult` in the paper).
    #[serde(rename = "mul")]
    ElemMult,
    /// Element-wise maximum (one of the paper's extra functions; off by default).
    Max,
}

/// A node's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Identity,
    Tanh,
    Sigmoid,
    Relu,
    /// Sine (one of the paper's extra functions; off by default).
    Sin,
}

impl Combine {
    pub const ALL: [Combine; 3] = [Combine::Add, Combine::ElemMult, Combine::Max];

    pub fn name(self) -> &'static str {
        match self {
            Combine::Add => "add",
            Combine::ElemMult => "mul",
            Combine::Max => "max",
        }
    }
}

impl Activation {
    pub const ALL: [Activation; 5] =
        [Activation::Identity, Activation::Tanh, Activation::Sigmoid, Activation::Relu, Activation::Sin];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
            Activation::Sin => "sin",
        }
    }
}

/// One tree node (or the inject): a combination and an activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RnnNode {
    pub combine: Combine,
    pub activation: Activation,
}

impl fmt::Display for RnnNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.combine.name(), self.activation.name())
    }
}

impl FromStr for RnnNode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (c, a) = s.split_once(':').ok_or(format!("{s:?} is not combine:activation"))?;
        let combine = Combine::ALL.into_iter().find(|x| x.name() == c).ok_or(format!(
            "unknown combination {c:?} (expected one of {})",
            Combine::ALL.map(Combine::name).join(", ")
        ))?;
        let activation = Activation::ALL.into_iter().find(|x| x.name() == a).ok_or(format!(
            "unknown activation {a:?} (expected one of {})",
            Activation::ALL.map(Activation::name).join(", ")
        ))?;
        Ok(RnnNode { combine, activation })
    }
}

/// A recurrent cell of the tree space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RnnCell {
    /// The tree's nodes in order (leaves, then each level up, root last): `2·base − 1` of them.
    pub nodes: Vec<RnnNode>,
    /// How c_{t-1} is merged into node `inject_into`'s output.
    pub inject: RnnNode,
    /// The node whose pre-activation value becomes c_t.
    pub cell_out: usize,
    /// The node whose output receives c_{t-1}.
    pub inject_into: usize,
}

/// Where a tree node's two inputs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeInputs {
    /// A leaf: `W_k·x_t` and `U_k·h_{t-1}` (k = its leaf index).
    Leaf(usize),
    /// An internal node: the outputs of these two nodes.
    Children(usize, usize),
}

impl RnnCell {
    /// Number of leaves (2, 4, 8, …).
    pub fn base(&self) -> usize {
        self.nodes.len().div_ceil(2)
    }

    /// The root (its output is h_t).
    pub fn root(&self) -> usize {
        self.nodes.len() - 1
    }

    /// Inputs of node `k`.
    pub fn inputs(&self, k: usize) -> NodeInputs {
        let base = self.base();
        if k < base { NodeInputs::Leaf(k) } else { NodeInputs::Children(2 * (k - base), 2 * (k - base) + 1) }
    }

    /// Structural validity: a power-of-two base ≥ 2 and indices inside the tree.
    pub fn validate(&self) -> Result<(), SpaceError> {
        let bad = |reason: String| SpaceError::NotInSpace { space: "rnn", reason };
        let n = self.nodes.len();
        let base = n.div_ceil(2);
        if n < 3 || n != 2 * base - 1 || !base.is_power_of_two() {
            return Err(bad(format!("{n} tree nodes: a tree with base b (2, 4, 8…) has 2b − 1 nodes")));
        }
        for (what, k) in [("cell_out", self.cell_out), ("inject_into", self.inject_into)] {
            if k >= n {
                return Err(bad(format!("{what} = {k} is not a node of a {n}-node tree")));
            }
        }
        Ok(())
    }
}

impl fmt::Display for RnnCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes: Vec<String> = self.nodes.iter().map(|n| n.to_string()).collect();
        write!(f, "{} | {} | c={} inject={}", nodes.join(" "), self.inject, self.cell_out, self.inject_into)
    }
}

impl FromStr for RnnCell {
    type Err = SpaceError;
    fn from_str(s: &str) -> Result<Self, SpaceError> {
        let err = |reason: String| SpaceError::Parse { input: s.to_string(), reason };
        let parts: Vec<&str> = s.split('|').map(str::trim).collect();
        let [nodes, inject, indices] = parts[..] else {
            return Err(err("expected `NODES | INJECT | c=K inject=K`".into()));
        };
        let nodes = nodes.split_whitespace().map(str::parse).collect::<Result<Vec<RnnNode>, _>>().map_err(err)?;
        let inject = inject.parse::<RnnNode>().map_err(err)?;
        let (mut cell_out, mut inject_into) = (None, None);
        for kv in indices.split_whitespace() {
            let (k, v) = kv.split_once('=').ok_or_else(|| err(format!("{kv:?} is not key=value")))?;
            let v: usize = v.parse().map_err(|_| err(format!("{kv:?}: not a node index")))?;
            match k {
                "c" => cell_out = Some(v),
                "inject" => inject_into = Some(v),
                _ => return Err(err(format!("unknown index {k:?} (expected c and inject)"))),
            }
        }
        let cell = RnnCell {
            nodes,
            inject,
            cell_out: cell_out.ok_or_else(|| err("missing c=K".into()))?,
            inject_into: inject_into.ok_or_else(|| err("missing inject=K".into()))?,
        };
        cell.validate().map_err(|e| err(e.to_string()))?;
        Ok(cell)
    }
}

fn default_base() -> usize {
    8
}
fn default_combinations() -> Vec<Combine> {
    vec![Combine::Add, Combine::ElemMult]
}
fn default_activations() -> Vec<Activation> {
    vec![Activation::Identity, Activation::Tanh, Activation::Sigmoid, Activation::Relu]
}

/// The recurrent-cell space. Defaults are the paper's: base 8, {add, elem_mult},
/// {identity, tanh, sigmoid, relu}; `max` and `sin` can be added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnSpace {
    /// Leaves of the tree: 2, 4 or 8 (any power of two ≥ 2 works).
    #[serde(default = "default_base")]
    pub base: usize,
    #[serde(default = "default_combinations")]
    pub combinations: Vec<Combine>,
    #[serde(default = "default_activations")]
    pub activations: Vec<Activation>,
}

impl Default for RnnSpace {
    fn default() -> Self {
        RnnSpace { base: default_base(), combinations: default_combinations(), activations: default_activations() }
    }
}

const COMBINE: usize = 0;
const ACTIVATION: usize = 1;
const CELL_OUT: usize = 2;
const INJECT_INTO: usize = 3;

impl RnnSpace {
    fn nodes(&self) -> usize {
        2 * self.base - 1
    }

    pub fn validate(&self) -> Result<(), SpaceError> {
        if self.base < 2 || !self.base.is_power_of_two() {
            return Err(SpaceError::Config(format!(
                "rnn.base = {}: must be 2, 4, 8 or another power of two",
                self.base
            )));
        }
        if self.combinations.is_empty() || self.activations.is_empty() {
            return Err(SpaceError::Config("rnn.combinations and rnn.activations must not be empty".into()));
        }
        Ok(())
    }

    /// Token types: combination, activation (shared by every node and the inject), and the two
    /// cell indices (one choice per tree node).
    pub fn token_types(&self) -> Vec<TokenType> {
        vec![
            TokenType { name: "combination".into(), choices: self.combinations.len() },
            TokenType { name: "activation".into(), choices: self.activations.len() },
            TokenType { name: "cell_index_c".into(), choices: self.nodes() },
            TokenType { name: "cell_index_inject".into(), choices: self.nodes() },
        ]
    }

    /// The paper's order: every tree node's combination and activation, the inject's, then the
    /// two cell indices.
    pub fn decisions(&self) -> Vec<Decision> {
        let mut d = Vec::with_capacity(2 * self.nodes() + 4);
        for _ in 0..=self.nodes() {
            d.push(Decision::Token { token_type: COMBINE });
            d.push(Decision::Token { token_type: ACTIVATION });
        }
        d.push(Decision::Token { token_type: CELL_OUT });
        d.push(Decision::Token { token_type: INJECT_INTO });
        d
    }

    /// Actions → cell.
    pub fn decode(&self, actions: &[Action]) -> Result<RnnCell, SpaceError> {
        let n = self.nodes();
        if actions.len() != 2 * n + 4 {
            return Err(SpaceError::Actions(format!("expected {} actions, got {}", 2 * n + 4, actions.len())));
        }
        let idx = |i: usize, len: usize, what: &str| match actions[i] {
            Action::Token(k) if k < len => Ok(k),
            ref a => Err(SpaceError::Actions(format!("decision {i} ({what}): {a:?} is not a choice below {len}"))),
        };
        let node = |i: usize| -> Result<RnnNode, SpaceError> {
            Ok(RnnNode {
                combine: self.combinations[idx(2 * i, self.combinations.len(), "combination")?],
                activation: self.activations[idx(2 * i + 1, self.activations.len(), "activation")?],
            })
        };
        Ok(RnnCell {
            nodes: (0..n).map(node).collect::<Result<_, _>>()?,
            inject: node(n)?,
            cell_out: idx(2 * n + 2, n, "cell index c")?,
            inject_into: idx(2 * n + 3, n, "cell index inject")?,
        })
    }

    /// Cell → actions; fails when a function is not in this space or the base differs.
    pub fn encode(&self, cell: &RnnCell) -> Result<Vec<Action>, SpaceError> {
        let bad = |reason: String| SpaceError::NotInSpace { space: "rnn", reason };
        if cell.nodes.len() != self.nodes() {
            return Err(bad(format!("the cell has base {}, the space base {}", cell.base(), self.base)));
        }
        let mut out = Vec::with_capacity(2 * self.nodes() + 4);
        for node in cell.nodes.iter().chain([&cell.inject]) {
            let c = self.combinations.iter().position(|&c| c == node.combine);
            let a = self.activations.iter().position(|&a| a == node.activation);
            let (Some(c), Some(a)) = (c, a) else {
                return Err(bad(format!("{node} uses a function this space does not offer")));
            };
            out.push(Action::Token(c));
            out.push(Action::Token(a));
        }
        out.push(Action::Token(cell.cell_out));
        out.push(Action::Token(cell.inject_into));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAPER_EXAMPLE: &str = "add:tanh mul:relu mul:sigmoid | add:relu | c=1 inject=0";

    #[test]
    fn paper_base_2_example_parses() {
        let c: RnnCell = PAPER_EXAMPLE.parse().unwrap();
        assert_eq!(c.base(), 2);
        assert_eq!(c.root(), 2);
        assert_eq!(c.inputs(0), NodeInputs::Leaf(0));
        assert_eq!(c.inputs(2), NodeInputs::Children(0, 1));
        assert_eq!(c.nodes[1], RnnNode { combine: Combine::ElemMult, activation: Activation::Relu });
        assert_eq!((c.cell_out, c.inject_into), (1, 0));
        assert_eq!(c.to_string(), PAPER_EXAMPLE);
    }

    #[test]
    fn base_8_tree_shape() {
        let space = RnnSpace::default();
        let actions: Vec<Action> = space.decisions().iter().map(|_| Action::Token(0)).collect();
        let c = space.decode(&actions).unwrap();
        assert_eq!(c.nodes.len(), 15);
        assert_eq!(c.inputs(8), NodeInputs::Children(0, 1));
        assert_eq!(c.inputs(12), NodeInputs::Children(8, 9));
        assert_eq!(c.inputs(14), NodeInputs::Children(12, 13));
        assert_eq!(space.decisions().len(), 34);
    }

    #[test]
    fn decode_encode_round_trip_and_json() {
        let space = RnnSpace { base: 4, ..RnnSpace::default() };
        let c: RnnCell =
            "add:tanh mul:sigmoid add:relu add:identity mul:tanh add:sigmoid add:tanh | mul:identity | c=4 inject=6"
                .parse()
                .unwrap();
        let a = space.encode(&c).unwrap();
        assert_eq!(space.decode(&a).unwrap(), c);
        let j = serde_json::to_string(&c).unwrap();
        assert!(j.contains(r#""combine":"mul""#), "{j}");
        assert_eq!(serde_json::from_str::<RnnCell>(&j).unwrap(), c);
        // A function outside the space's vocabulary is rejected.
        let max: RnnCell = "max:sin add:tanh add:tanh | add:tanh | c=0 inject=0".parse().unwrap();
        assert!(RnnSpace { base: 2, ..RnnSpace::default() }.encode(&max).is_err());
        let extra = RnnSpace { base: 2, combinations: Combine::ALL.to_vec(), activations: Activation::ALL.to_vec() };
        assert_eq!(extra.decode(&extra.encode(&max).unwrap()).unwrap(), max);
    }

    #[test]
    fn bad_strings_and_configs_name_the_problem() {
        for (s, needle) in [
            ("add:tanh | add:relu | c=0 inject=0", "2b − 1"),
            ("add:tanh mul:relu mul:sigmoid | add:relu | c=3 inject=0", "not a node"),
            ("add:tanh mul:relu mul:sigmoid | add:relu", "expected `NODES"),
            ("add:tanh sub:relu mul:sigmoid | add:relu | c=1 inject=0", "unknown combination \"sub\""),
            ("add:tanh mul:gelu mul:sigmoid | add:relu | c=1 inject=0", "unknown activation \"gelu\""),
            ("add:tanh mul:relu mul:sigmoid | add:relu | c=1", "missing inject"),
        ] {
            let e = s.parse::<RnnCell>().unwrap_err().to_string();
            assert!(e.contains(needle), "{s}: {e}");
        }
        assert!(RnnSpace { base: 3, ..RnnSpace::default() }.validate().is_err());
        assert!(RnnSpace { activations: vec![], ..RnnSpace::default() }.validate().is_err());
    }
}
