//! The [`Strategy`] interface shared by every search strategy, and its data types.

use nas_space::{Action, Decision, SearchSpace, TokenType};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::evolution::EvolutionState;
use crate::local::LocalState;
use crate::reinforce::ReinforceState;
use crate::rng::SavedRng;
use crate::{ControllerConfig, Evolution, EvolutionConfig, LocalConfig, LocalSearch, Params, RandomSearch, Reinforce};

/// Errors of a strategy.
#[derive(Debug, Error)]
pub enum StrategyError {
    /// Actions or a saved state do not match the decision program / token types.
    #[error("strategy mismatch: {0}")]
    Mismatch(String),
    /// Bad configuration.
    #[error("invalid strategy configuration: {0}")]
    Config(String),
}

/// Which strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// The paper's LSTM controller trained by policy gradient (`[controller] update`).
    Reinforce,
    /// Uniform random search without replacement (the paper's control).
    Random,
    /// Regularized (aging) evolution, Real et al. 2019 (`[evolution]`).
    Evolution,
    /// First-improvement local search with random restarts (`[local]`).
    Local,
}

impl StrategyKind {
    /// Every strategy, in the order tables list them.
    pub const ALL: [StrategyKind; 4] =
        [StrategyKind::Reinforce, StrategyKind::Evolution, StrategyKind::Local, StrategyKind::Random];

    /// The spelling in configs, flags and the store.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Reinforce => "reinforce",
            StrategyKind::Random => "random",
            StrategyKind::Evolution => "evolution",
            StrategyKind::Local => "local",
        }
    }

    /// Parse [`StrategyKind::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Build a fresh strategy.
    pub fn build(
        self,
        settings: &Settings,
        token_types: &[TokenType],
        seed: u64,
    ) -> Result<Box<dyn Strategy>, StrategyError> {
        Ok(match self {
            StrategyKind::Reinforce => Box::new(Reinforce::new(settings.controller.clone(), token_types, seed)?),
            StrategyKind::Random => Box::new(RandomSearch::new(token_types, seed)),
            StrategyKind::Evolution => Box::new(Evolution::new(settings.evolution.clone(), token_types, seed)?),
            StrategyKind::Local => Box::new(LocalSearch::new(settings.local.clone(), token_types, seed)?),
        })
    }
}

/// The hyper-parameters of every strategy, as the configuration holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub controller: ControllerConfig,
    pub evolution: EvolutionConfig,
    pub local: LocalConfig,
}

/// What a strategy may draw next: the space, the depth the schedule gives this sample and the
/// smallest depth a strategy that changes depth (evolution) may use. Spaces without a depth
/// ignore both.
#[derive(Debug, Clone, Copy)]
pub struct Menu<'a> {
    pub space: &'a SearchSpace,
    /// Layers the depth schedule gives this sample (the largest a sample may have).
    pub depth: usize,
    /// The fewest layers a sample may have.
    pub min_depth: usize,
}

impl Menu<'_> {
    /// The decision program at the scheduled depth.
    pub fn decisions(&self) -> Vec<Decision> {
        self.space.decisions(self.depth)
    }

    /// Whether a strategy may change the depth (a CNN space whose schedule allows more than one).
    pub fn depth_varies(&self) -> bool {
        self.space.has_depth() && self.min_depth < self.depth
    }
}

/// One sampled architecture, as actions, with what the strategy knew when it drew it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    #[serde(with = "crate::tagged")]
    pub actions: Vec<Action>,
    /// Total log-probability of the actions under the sampling policy.
    pub log_prob: f64,
    /// Summed entropy of the per-decision distributions along the sample.
    pub entropy: f64,
    /// Number of policy updates applied before this sample was drawn.
    pub policy_version: u64,
    /// The sample (its `seq`) this one was made from: evolution's parent, local search's
    /// current point. None for fresh draws.
    pub parent: Option<u64>,
}

/// The reward of one sample, for an update.
#[derive(Debug, Clone, Copy)]
pub struct Feedback<'a> {
    /// The sample's index in the experiment.
    pub seq: u64,
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
    /// Surrogate loss of the update rule (at the sampling policy).
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
    /// What further passes over the batch need (PPO's clipped update), else empty.
    pub replay: Vec<Replayed>,
}

/// One sample of a batch, kept for the further passes of a PPO update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replayed {
    pub decisions: Vec<Decision>,
    #[serde(with = "crate::tagged")]
    pub actions: Vec<Action>,
    /// log P(actions) under the policy that sampled them.
    pub log_prob: f64,
    /// The sample's advantage under the update rule.
    pub advantage: f64,
    /// Its weight in the batch's mean (1/m).
    pub share: f64,
}

/// A saved strategy, enough to continue exactly where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StrategyState {
    Reinforce(Box<ReinforceState>),
    Random { rng: SavedRng, token_choices: Vec<usize>, seen: crate::Seen },
    Evolution(Box<EvolutionState>),
    Local(Box<LocalState>),
}

impl StrategyState {
    /// Rebuild the strategy, checking it fits the space's token types.
    pub fn restore(self, token_types: &[TokenType]) -> Result<Box<dyn Strategy>, StrategyError> {
        Ok(match self {
            StrategyState::Reinforce(s) => Box::new(Reinforce::from_state(*s, token_types)?),
            StrategyState::Random { rng, token_choices, seen } => {
                check_tokens(&token_choices, token_types)?;
                Box::new(RandomSearch::from_state(rng, token_choices, seen))
            }
            StrategyState::Evolution(s) => {
                check_tokens(&s.token_choices, token_types)?;
                Box::new(Evolution::from_state(*s))
            }
            StrategyState::Local(s) => {
                check_tokens(&s.token_choices, token_types)?;
                Box::new(LocalSearch::from_state(*s))
            }
        })
    }
}

/// The vocabulary sizes a saved strategy was built for must be the space's.
pub(crate) fn check_tokens(saved: &[usize], token_types: &[TokenType]) -> Result<(), StrategyError> {
    let now: Vec<usize> = token_types.iter().map(|t| t.choices).collect();
    if saved != now.as_slice() {
        return Err(StrategyError::Mismatch(format!(
            "saved strategy has token vocabularies {saved:?}, the space has {now:?}"
        )));
    }
    Ok(())
}

/// A search strategy: draws architectures (as actions over a decision program) and learns from
/// their rewards.
pub trait Strategy: Send {
    /// Which strategy this is.
    fn kind(&self) -> StrategyKind;
    /// Draw one sample from what `menu` allows.
    fn sample(&mut self, menu: &Menu) -> Result<Sample, StrategyError>;
    /// True when the strategy learns from each result as it arrives (evolution, local search):
    /// the search then keeps children in flight one at a time instead of in batches, so workers
    /// never wait for a batch's slowest child.
    fn asynchronous(&self) -> bool {
        false
    }
    /// The current policy, to compute the gradient of the samples drawn from it later (a
    /// strategy without weights has one policy, version 0).
    fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot { version: 0, params: None }
    }
    /// The gradient of a rewarded batch against the policy `from` it was drawn with (the
    /// current one or an older one). Uses the current reward baseline and then folds the batch's
    /// rewards into it. Strategies without weights take the rewards in here.
    fn gradient(&mut self, batch: &[Feedback], from: &PolicySnapshot) -> Result<Gradient, StrategyError>;
    /// One optimiser step with the mean of `grads`, the parameters split into `shards`
    /// contiguous parts applied independently (PPO: followed by further clipped passes over the
    /// batches). Returns each gradient's statistics with the policy version after the step and
    /// the gradient's staleness. A strategy without weights has nothing to step.
    fn apply(&mut self, grads: &[Gradient], _shards: usize) -> Result<Vec<UpdateStats>, StrategyError> {
        Ok(grads.iter().map(|g| g.stats.clone()).collect())
    }
    /// Learn from a batch of rewarded samples all drawn with the current policy (synchronous
    /// REINFORCE: gradient, then one step).
    fn update(&mut self, batch: &[Feedback]) -> Result<UpdateStats, StrategyError> {
        let from = self.snapshot();
        let g = self.gradient(batch, &from)?;
        Ok(self.apply(&[g], 1)?.remove(0))
    }
    /// Updates applied so far.
    fn policy_version(&self) -> u64 {
        0
    }
    /// The reward baseline, once there is one.
    fn baseline(&self) -> Option<f64> {
        None
    }
    /// Everything needed to continue later.
    fn state(&self) -> StrategyState;
}

/// Every reward of a batch must be a number to learn from.
pub(crate) fn check_finite(batch: &[Feedback]) -> Result<(), StrategyError> {
    match batch.iter().find(|f| !f.reward.is_finite()) {
        Some(bad) => Err(StrategyError::Mismatch(format!("reward {} is not finite", bad.reward))),
        None => Ok(()),
    }
}

/// Statistics of a batch learnt from by a strategy without weights.
pub(crate) fn plain_stats(batch: &[Feedback]) -> Gradient {
    let mean = batch.iter().map(|f| f.reward).sum::<f64>() / batch.len().max(1) as f64;
    Gradient {
        values: Vec::new(),
        stats: UpdateStats { mean_reward: mean, ..UpdateStats::default() },
        replay: Vec::new(),
    }
}
