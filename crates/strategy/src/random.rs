//! Random search: every token uniform over its choices, every skip connection a fair coin,
//! drawn without replacement (a draw seen before is drawn again, up to [`REDRAWS`] times, so a
//! small space is not sampled twice before it is exhausted).

use nas_space::TokenType;

use crate::rng::SavedRng;
use crate::strategy::plain_stats;
use crate::{
    Feedback, Gradient, Menu, PolicySnapshot, Sample, SeededRng, Seen, Strategy, StrategyError, StrategyKind,
    StrategyState, moves,
};

/// Draws tried before a repeat is let through (the search then reuses its stored reward).
pub const REDRAWS: usize = 1000;

/// Uniform random search over a decision program.
#[derive(Debug, Clone)]
pub struct RandomSearch {
    rng: SeededRng,
    token_choices: Vec<usize>,
    seen: Seen,
}

impl RandomSearch {
    /// Random search over these token types.
    pub fn new(token_types: &[TokenType], seed: u64) -> Self {
        RandomSearch {
            rng: SeededRng::new(seed, 0),
            token_choices: token_types.iter().map(|t| t.choices).collect(),
            seen: Seen::default(),
        }
    }

    pub(crate) fn from_state(rng: SavedRng, token_choices: Vec<usize>, seen: Seen) -> Self {
        RandomSearch { rng: SeededRng::from_state(rng), token_choices, seen }
    }
}

impl Strategy for RandomSearch {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Random
    }

    fn sample(&mut self, menu: &Menu) -> Result<Sample, StrategyError> {
        let seen = &self.seen;
        let (actions, log_prob) =
            moves::uniform_unseen(&menu.decisions(), &self.token_choices, &mut self.rng, REDRAWS, |a| {
                seen.contains(a)
            })?;
        self.seen.insert(&actions);
        Ok(Sample { actions, log_prob, entropy: -log_prob, policy_version: 0, parent: None })
    }

    fn gradient(&mut self, batch: &[Feedback], _from: &PolicySnapshot) -> Result<Gradient, StrategyError> {
        Ok(plain_stats(batch))
    }

    fn state(&self) -> StrategyState {
        StrategyState::Random {
            rng: self.rng.state(),
            token_choices: self.token_choices.clone(),
            seen: self.seen.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_space::{Nb201Space, SearchSpace};

    #[test]
    fn draws_without_replacement_until_the_space_is_exhausted() {
        // NAS-Bench-201 has 5^6 = 15,625 cells; 3,000 draws would repeat ~250 with replacement.
        let space = SearchSpace::Nb201(Nb201Space::default());
        let menu = Menu { space: &space, depth: 0, min_depth: 0 };
        let mut rs = RandomSearch::new(&space.token_types(), 4);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3000 {
            assert!(seen.insert(rs.sample(&menu).unwrap().actions), "a repeat before the space ran out");
        }
        // The state carries the set: a restored search keeps avoiding them, and is the same.
        let StrategyState::Random { rng, token_choices, seen: s } = rs.state() else { unreachable!() };
        let mut back = RandomSearch::from_state(rng, token_choices, s);
        for _ in 0..100 {
            let (a, b) = (rs.sample(&menu).unwrap(), back.sample(&menu).unwrap());
            assert_eq!(a, b);
            assert!(seen.insert(a.actions));
        }
    }
}
