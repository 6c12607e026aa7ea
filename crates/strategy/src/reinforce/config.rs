//! Controller and policy-gradient hyper-parameters.

use serde::{Deserialize, Serialize};

/// How a rewarded batch of m samples becomes a step of the controller's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateRule {
    /// The paper's REINFORCE: advantage R − b with b an exponential moving average of earlier
    /// rewards, one Adam step per batch. Sensitive to the reward's scale.
    Paper,
    /// Advantages normalised per batch, (R − mean) / std, one Adam step: invariant to the
    /// reward's scale and offset.
    Normalized,
    /// Normalised advantages and a PPO-style clipped surrogate (Schulman et al. 2017; Zoph et
    /// al. 2018 trained NASNet's controller so), `ppo_epochs` Adam steps per batch.
    Ppo,
    /// Risk-seeking policy gradient (Petersen et al. 2021): only the samples at or above the
    /// batch's (1 − `risk_quantile`) quantile learn, with that quantile as the baseline, scaled
    /// by the batch's std.
    RiskSeeking,
}

impl UpdateRule {
    /// Every rule, in the order the docs list them.
    pub const ALL: [UpdateRule; 4] =
        [UpdateRule::Paper, UpdateRule::Normalized, UpdateRule::Ppo, UpdateRule::RiskSeeking];

    /// Parse [`UpdateRule::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.name() == s)
    }

    /// The spelling in configs.
    pub fn name(self) -> &'static str {
        match self {
            UpdateRule::Paper => "paper",
            UpdateRule::Normalized => "normalized",
            UpdateRule::Ppo => "ppo",
            UpdateRule::RiskSeeking => "risk-seeking",
        }
    }
}

/// Hyper-parameters of the LSTM controller and its policy-gradient training.
///
/// The network is the paper's (Zoph & Le 2017): 2 LSTM layers of 35 units, weights uniform in
/// [-0.08, 0.08]. The default update is the one measured best across reward landscapes
/// (docs/RESULTS.md, "Strategies"); [`ControllerConfig::paper`] is the paper's exact training
/// (REINFORCE, EMA baseline, Adam 0.0006), which the paper presets use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerConfig {
    /// LSTM hidden units per layer (also the embedding and attention size). Paper: 35.
    pub hidden: usize,
    /// Stacked LSTM layers. Paper: 2.
    pub layers: usize,
    /// Initial weights are uniform in [-init_range, init_range]. Paper: 0.08.
    pub init_range: f64,
    /// `paper`, `normalized`, `ppo` or `risk-seeking` (see [`UpdateRule`]). Default `ppo`.
    pub update: UpdateRule,
    /// Adam learning rate. Default 0.005; paper: 0.0006 (with `update = "paper"`).
    pub learning_rate: f64,
    /// Adam β₁.
    pub adam_beta1: f64,
    /// Adam β₂.
    pub adam_beta2: f64,
    /// Adam ε.
    pub adam_eps: f64,
    /// Decay of the exponential-moving-average reward baseline (`paper`): b ← d·b + (1−d)·R.
    /// The paper does not state it; 0.95.
    pub baseline_decay: f64,
    /// Weight of the entropy bonus added to the objective (ENAS-style), per sample (the summed
    /// entropy of its decisions; advantages are per-batch normalised, so it is on their scale).
    /// Default 0.2: without it the normalised rules collapse onto one architecture within a few
    /// hundred samples (docs/RESULTS.md); the paper has none.
    pub entropy_weight: f64,
    /// Adam steps per batch with `update = "ppo"`. Default 2.
    pub ppo_epochs: usize,
    /// PPO's clip range ε: the probability ratio counts within [1 − ε, 1 + ε]. Default 0.2.
    pub ppo_clip: f64,
    /// Fraction of each batch that learns with `update = "risk-seeking"`. Default 0.25.
    pub risk_quantile: f64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            hidden: 35,
            layers: 2,
            init_range: 0.08,
            update: UpdateRule::Ppo,
            learning_rate: 0.005,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            baseline_decay: 0.95,
            entropy_weight: 0.2,
            ppo_epochs: 2,
            ppo_clip: 0.2,
            risk_quantile: 0.25,
        }
    }
}

impl ControllerConfig {
    /// The paper's training: REINFORCE with the EMA baseline, Adam 0.0006, no entropy bonus.
    pub fn paper() -> Self {
        ControllerConfig {
            update: UpdateRule::Paper,
            learning_rate: 0.0006,
            entropy_weight: 0.0,
            ..ControllerConfig::default()
        }
    }

    /// Reject unusable values with a message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.hidden == 0 || self.layers == 0 || self.hidden > 4096 || self.layers > 64 {
            return Err(format!(
                "controller.hidden must be in 1..=4096 and controller.layers in 1..=64, got {} and {}",
                self.hidden, self.layers
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(format!("controller.learning_rate must be positive, got {}", self.learning_rate));
        }
        if !(0.0..1.0).contains(&self.baseline_decay) {
            return Err(format!("controller.baseline_decay must be in [0, 1), got {}", self.baseline_decay));
        }
        if !(self.init_range >= 0.0 && self.init_range.is_finite()) {
            return Err(format!("controller.init_range must be >= 0, got {}", self.init_range));
        }
        if !(self.entropy_weight >= 0.0 && self.entropy_weight.is_finite()) {
            return Err(format!("controller.entropy_weight must be >= 0, got {}", self.entropy_weight));
        }
        if self.ppo_epochs == 0 || self.ppo_epochs > 100 {
            return Err(format!("controller.ppo_epochs must be in 1..=100, got {}", self.ppo_epochs));
        }
        if !(self.ppo_clip > 0.0 && self.ppo_clip < 1.0) {
            return Err(format!("controller.ppo_clip must be in (0, 1), got {}", self.ppo_clip));
        }
        if !(self.risk_quantile > 0.0 && self.risk_quantile <= 1.0) {
            return Err(format!("controller.risk_quantile must be in (0, 1], got {}", self.risk_quantile));
        }
        Ok(())
    }
}
