//! Random search: every token uniform over its choices, every skip connection a fair coin.

use nas_space::{Action, Decision, TokenType};

use crate::rng::SavedRng;
use crate::{
    Feedback, Gradient, PolicySnapshot, Sample, SeededRng, Strategy, StrategyError, StrategyKind, StrategyState,
    UpdateStats,
};

/// Uniform random search over a decision program.
#[derive(Debug, Clone)]
pub struct RandomSearch {
    rng: SeededRng,
    token_choices: Vec<usize>,
}

impl RandomSearch {
    /// Random search over these token types.
    pub fn new(token_types: &[TokenType], seed: u64) -> Self {
        RandomSearch { rng: SeededRng::new(seed, 0), token_choices: token_types.iter().map(|t| t.choices).collect() }
    }

    pub(crate) fn from_state(rng: SavedRng, token_choices: Vec<usize>) -> Self {
        RandomSearch { rng: SeededRng::from_state(rng), token_choices }
    }

    pub(crate) fn check_tokens(saved: &[usize], token_types: &[TokenType]) -> Result<(), StrategyError> {
        let now: Vec<usize> = token_types.iter().map(|t| t.choices).collect();
        if saved != now.as_slice() {
            return Err(StrategyError::Mismatch(format!(
                "saved strategy has token vocabularies {saved:?}, the space has {now:?}"
            )));
        }
        Ok(())
    }
}

impl Strategy for RandomSearch {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Random
    }

    fn sample(&mut self, decisions: &[Decision]) -> Result<Sample, StrategyError> {
        let mut actions = Vec::with_capacity(decisions.len());
        let mut log_prob = 0.0;
        let mut entropy = 0.0;
        for d in decisions {
            match *d {
                Decision::Token { token_type } => {
                    let v = *self
                        .token_choices
                        .get(token_type)
                        .ok_or_else(|| StrategyError::Mismatch(format!("unknown token type {token_type}")))?;
                    actions.push(Action::Token(self.rng.index(v)));
                    log_prob -= (v as f64).ln();
                    entropy += (v as f64).ln();
                }
                Decision::Anchor { layer } => {
                    actions.push(Action::Skips((0..layer).map(|_| self.rng.uniform() < 0.5).collect()));
                    log_prob -= layer as f64 * std::f64::consts::LN_2;
                    entropy += layer as f64 * std::f64::consts::LN_2;
                }
            }
        }
        Ok(Sample { actions, log_prob, entropy, policy_version: 0 })
    }

    fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot { version: 0, params: None }
    }

    fn gradient(&mut self, batch: &[Feedback], _from: &PolicySnapshot) -> Result<Gradient, StrategyError> {
        let mean = batch.iter().map(|f| f.reward).sum::<f64>() / batch.len().max(1) as f64;
        Ok(Gradient { values: Vec::new(), stats: UpdateStats { mean_reward: mean, ..UpdateStats::default() } })
    }

    fn apply(&mut self, grads: &[Gradient], _shards: usize) -> Result<Vec<UpdateStats>, StrategyError> {
        Ok(grads.iter().map(|g| g.stats.clone()).collect())
    }

    fn policy_version(&self) -> u64 {
        0
    }

    fn baseline(&self) -> Option<f64> {
        None
    }

    fn state(&self) -> StrategyState {
        StrategyState::Random { rng: self.rng.state(), token_choices: self.token_choices.clone() }
    }
}
