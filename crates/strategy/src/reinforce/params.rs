//! The controller's parameters as one flat `f64` vector, and the [`Layout`] that names its parts.
//!
//! Matrices are row-major. With `H` hidden units (= embedding = attention size), `L` layers and
//! token types of `V_t` choices:
//! - per token type `t`: embedding `[V_t × H]`, classifier weight `[V_t × H]` and bias `[V_t]`;
//! - the first input `start [H]` and the input after an anchor `anchor_emb [H]`;
//! - per LSTM layer: weight `[4H × 2H]` acting on `[x; h_prev]` (gate order i, f, g, o), bias `[4H]`;
//! - attention: `w_prev [H × H]`, `w_curr [H × H]`, `v [H]`.

use serde::{Deserialize, Serialize};

use crate::SeededRng;

/// Offsets of one token type's tensors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenLayout {
    pub choices: usize,
    pub emb: usize,
    pub cls_w: usize,
    pub cls_b: usize,
}

/// Offsets of every tensor in the flat vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub hidden: usize,
    pub layers: usize,
    pub tokens: Vec<TokenLayout>,
    pub start: usize,
    pub anchor_emb: usize,
    /// Per LSTM layer: (weight, bias) offsets.
    pub lstm: Vec<(usize, usize)>,
    pub w_prev: usize,
    pub w_curr: usize,
    pub v: usize,
    pub len: usize,
}

impl Layout {
    /// The layout for token types with these vocabulary sizes.
    pub fn new(hidden: usize, layers: usize, choices: &[usize]) -> Self {
        let h = hidden;
        let mut off = 0;
        let mut take = |n: usize| {
            let o = off;
            off += n;
            o
        };
        let tokens = choices
            .iter()
            .map(|&v| TokenLayout { choices: v, emb: take(v * h), cls_w: take(v * h), cls_b: take(v) })
            .collect();
        let start = take(h);
        let anchor_emb = take(h);
        let lstm = (0..layers).map(|_| (take(4 * h * 2 * h), take(4 * h))).collect();
        let w_prev = take(h * h);
        let w_curr = take(h * h);
        let v = take(h);
        Layout { hidden, layers, tokens, start, anchor_emb, lstm, w_prev, w_curr, v, len: off }
    }
}

/// Parameter values laid out by a [`Layout`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub layout: Layout,
    pub values: Vec<f64>,
}

impl Params {
    /// Every parameter uniform in [-range, range] (the paper's initialisation).
    pub fn uniform(layout: Layout, range: f64, rng: &mut SeededRng) -> Self {
        let values = (0..layout.len).map(|_| rng.range(-range, range)).collect();
        Params { layout, values }
    }

    /// The slice of `n` values at `offset`.
    pub fn at(&self, offset: usize, n: usize) -> &[f64] {
        &self.values[offset..offset + n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_counts_every_tensor_once() {
        let l = Layout::new(35, 2, &[4, 4, 4]);
        let h = 35;
        let expected = 3 * (4 * h + 4 * h + 4) + 2 * h + 2 * (8 * h * h + 4 * h) + 2 * h * h + h;
        assert_eq!(l.len, expected);
        assert_eq!(l.v + h, l.len);
    }

    #[test]
    fn init_is_within_range_and_seeded() {
        let l = Layout::new(5, 2, &[3]);
        let a = Params::uniform(l.clone(), 0.08, &mut SeededRng::new(1, 9));
        let b = Params::uniform(l, 0.08, &mut SeededRng::new(1, 9));
        assert_eq!(a, b);
        assert!(a.values.iter().all(|x| x.abs() <= 0.08));
        assert!(a.values.iter().any(|x| x.abs() > 0.04));
    }
}
