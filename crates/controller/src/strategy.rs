//! The [`Strategy`] interface shared by REINFORCE and random search, and its data types.

use nas_space::{Action, Decision, TokenType};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::Params;
use crate::reinforce::ReinforceState;
use crate::rng::SavedRng;
use crate::{ControllerConfig, RandomSearch, Reinforce};

/// Errors of a strategy.
#[derive(Debug, Error)]
pub enum StrategyError {
    /// Actions or a saved state do not match the decision program / token types.
    #[error("strategy mismatch: {0}")]
    Mismatch(String),
    /// Bad configuration.
    #[error("invalid controller configuration: {0}")]
    Config(String),
}

/// Which strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// The paper's LSTM controller trained with REINFORCE.
    Reinforce,
    /// Uniform random search (the paper's control).
    Random,
}

impl StrategyKind {
    /// Build a fresh strategy.
    pub fn build(
        self,
        config: &ControllerConfig,
        token_types: &[TokenType],
        seed: u64,
    ) -> Result<Box<dyn Strategy>, StrategyError> {
        Ok(match self {
            StrategyKind::Reinforce => Box::new(Reinforce::new(config.clone(), token_types, seed)?),
            StrategyKind::Random => Box::new(RandomSearch::new(token_types, seed)),
        })
    }
}

/// One sampled architecture, as actions, with what the strategy knew when it drew it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub actions: Vec<Action>,
    /// Total log-probability of the actions under the sampling policy.
    pub log_prob: f64,
    /// Summed entropy of the per-decision distributions along the sample.
    pub entropy: f64,
    /// Number of policy updates applied before this sample was drawn.
    pub policy_version: u64,
}

/// The reward of one sample, for an update.
#[derive(Debug, Clone, Copy)]
pub struct Feedback<'a> {
    pub decisions: &'a [Decision],
    pub actions: &'a [Action],
    pub reward: f64,
}

/// What one update did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateStats {
    /// Policy version after the update.
    pub policy_version: u64,
    /// Baseline used for this batch's advantages.
    pub baseline_used: f64,
    /// Baseline after folding in this batch's rewards.
    pub baseline: f64,
    pub mean_reward: f64,
    /// Surrogate loss −(1/m) Σ (R_k − b) log P_k (− entropy bonus).
    pub loss: f64,
    pub grad_norm: f64,
    pub mean_entropy: f64,
    /// The policy version the batch was sampled with.
    pub sampled_version: u64,
    /// Updates applied between sampling and this gradient's application (0: not stale).
    pub staleness: u64,
}

/// The policy a batch was sampled with: what its gradient is computed against, however many
/// updates other controller replicas apply meanwhile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySnapshot {
    pub version: u64,
    /// The weights (None for strategies without any).
    pub params: Option<Params>,
}

/// One batch's gradient, computed against the policy it was sampled with, waiting to be applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gradient {
    /// ∇ of the surrogate loss (empty for strategies without weights).
    pub values: Vec<f64>,
    /// The batch's statistics; `policy_version` and `staleness` are filled in when applied.
    pub stats: UpdateStats,
}

/// A saved strategy, enough to continue exactly where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StrategyState {
    Reinforce(Box<ReinforceState>),
    Random { rng: SavedRng, token_choices: Vec<usize> },
}

impl StrategyState {
    /// Rebuild the strategy, checking it fits the space's token types.
    pub fn restore(self, token_types: &[TokenType]) -> Result<Box<dyn Strategy>, StrategyError> {
        Ok(match self {
            StrategyState::Reinforce(s) => Box::new(Reinforce::from_state(*s, token_types)?),
            StrategyState::Random { rng, token_choices } => {
                RandomSearch::check_tokens(&token_choices, token_types)?;
                Box::new(RandomSearch::from_state(rng, token_choices))
            }
        })
    }
}

/// A search strategy: draws architectures (as actions over a decision program) and learns from
/// their rewards.
pub trait Strategy: Send {
    /// Which strategy this is.
    fn kind(&self) -> StrategyKind;
    /// Draw one sample for the decision program.
    fn sample(&mut self, decisions: &[Decision]) -> Result<Sample, StrategyError>;
    /// The current policy, to compute the gradient of the samples drawn from it later.
    fn snapshot(&self) -> PolicySnapshot;
    /// The gradient of a rewarded batch against the policy `from` it was drawn with (the
    /// current one or an older one). Uses the current reward baseline and then folds the batch's
    /// rewards into it.
    fn gradient(&mut self, batch: &[Feedback], from: &PolicySnapshot) -> Result<Gradient, StrategyError>;
    /// One optimiser step with the mean of `grads`, the parameters split into `shards`
    /// contiguous parts applied independently. Returns each gradient's statistics with the
    /// policy version after the step and the gradient's staleness.
    fn apply(&mut self, grads: &[Gradient], shards: usize) -> Result<Vec<UpdateStats>, StrategyError>;
    /// Learn from a batch of rewarded samples all drawn with the current policy (synchronous
    /// REINFORCE: gradient, then one step).
    fn update(&mut self, batch: &[Feedback]) -> Result<UpdateStats, StrategyError> {
        let from = self.snapshot();
        let g = self.gradient(batch, &from)?;
        Ok(self.apply(&[g], 1)?.remove(0))
    }
    /// Updates applied so far.
    fn policy_version(&self) -> u64;
    /// The reward baseline, once there is one.
    fn baseline(&self) -> Option<f64>;
    /// Everything needed to continue later.
    fn state(&self) -> StrategyState;
}
