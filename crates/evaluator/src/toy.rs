//! A synthetic objective for demos and tests: no training, instant, deterministic.
//!
//! CNN space: the fraction of layers with a 3×3 filter. NAS-Bench-201: the fraction of edges
//! carrying a 3×3 convolution. Recurrent cells: the fraction of tree nodes using `tanh`. All have
//! a known optimum of 1, so a learning strategy visibly climbs towards it.

use nas_space::{Activation, Architecture, Nb201Op};
use serde_json::{Map, Value};

use crate::{EvalContext, EvalError, Evaluation, Evaluator};

/// The synthetic "fraction of 3×3" objective.
#[derive(Debug, Clone, Default)]
pub struct ToyEvaluator;

impl ToyEvaluator {
    /// The objective's value for an architecture.
    pub fn score(arch: &Architecture) -> f64 {
        match arch {
            Architecture::Cnn(a) => {
                let n = a.layers.iter().filter(|l| l.filter_h == 3 && l.filter_w == 3).count();
                n as f64 / a.layers.len() as f64
            }
            Architecture::Nb201(a) => a.ops.iter().filter(|&&o| o == Nb201Op::Conv3x3).count() as f64 / 6.0,
            Architecture::Rnn(c) => {
                c.nodes.iter().filter(|n| n.activation == Activation::Tanh).count() as f64 / c.nodes.len() as f64
            }
        }
    }
}

impl Evaluator for ToyEvaluator {
    fn describe(&self) -> String {
        "toy evaluator (synthetic objective: fraction of 3x3 convolutions, or of tanh nodes; no training)".into()
    }

    fn evaluate(&mut self, arch: &Architecture, _ctx: &EvalContext) -> Result<Evaluation, EvalError> {
        let s = Self::score(arch);
        let mut metrics = Map::new();
        metrics.insert("fraction_3x3".into(), Value::from(s));
        Ok(Evaluation { reward: s, metrics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores() {
        let a = Architecture::parse("cnn", "3x3-24;3x5-24;3x3-36").unwrap();
        assert!((ToyEvaluator::score(&a) - 2.0 / 3.0).abs() < 1e-12);
        let b = Architecture::parse("nb201", "2-2-0-1-2-4").unwrap();
        assert_eq!(ToyEvaluator::score(&b), 0.5);
    }
}
