//! Controller and REINFORCE hyper-parameters, with the paper's values as defaults.

use serde::{Deserialize, Serialize};

/// Hyper-parameters of the LSTM controller and its REINFORCE training.
///
/// Defaults are Zoph & Le (2017): 2 LSTM layers of 35 units, weights uniform in [-0.08, 0.08],
/// Adam with learning rate 0.0006. The paper does not state the baseline's decay; 0.95 is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerConfig {
    /// LSTM hidden units per layer (also the embedding and attention size). Paper: 35.
    pub hidden: usize,
    /// Stacked LSTM layers. Paper: 2.
    pub layers: usize,
    /// Initial weights are uniform in [-init_range, init_range]. Paper: 0.08.
    pub init_range: f64,
    /// Adam learning rate. Paper: 0.0006.
    pub learning_rate: f64,
    /// Adam β₁.
    pub adam_beta1: f64,
    /// Adam β₂.
    pub adam_beta2: f64,
    /// Adam ε.
    pub adam_eps: f64,
    /// Decay of the exponential-moving-average reward baseline: b ← d·b + (1−d)·R.
    pub baseline_decay: f64,
    /// Weight of the entropy bonus added to the objective (ENAS-style); 0 (off) as in the paper.
    pub entropy_weight: f64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            hidden: 35,
            layers: 2,
            init_range: 0.08,
            learning_rate: 0.0006,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            baseline_decay: 0.95,
            entropy_weight: 0.0,
        }
    }
}

impl ControllerConfig {
    /// Reject unusable values with a message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.hidden == 0 || self.layers == 0 {
            return Err("controller.hidden and controller.layers must be at least 1".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(format!("controller.learning_rate must be positive, got {}", self.learning_rate));
        }
        if !(0.0..1.0).contains(&self.baseline_decay) {
            return Err(format!("controller.baseline_decay must be in [0, 1), got {}", self.baseline_decay));
        }
        if self.init_range.is_nan() || self.init_range < 0.0 {
            return Err(format!("controller.init_range must be >= 0, got {}", self.init_range));
        }
        if self.entropy_weight.is_nan() || self.entropy_weight < 0.0 {
            return Err(format!("controller.entropy_weight must be >= 0, got {}", self.entropy_weight));
        }
        Ok(())
    }
}
