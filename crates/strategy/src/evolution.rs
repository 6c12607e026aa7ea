//! Regularized (aging) evolution, Real et al. 2019 (AmoebaNet), over any decision program.
//!
//! The first `population` samples are uniform draws. After that each sample is a mutation of a
//! tournament winner: `tournament` members of the population drawn without replacement, the
//! best reward wins (ties: the youngest), one of its units re-drawn ([`crate::moves`]); in a CNN
//! space whose depth schedule allows more than one depth, a layer is added or dropped instead
//! with probability `depth_mutation`. Each result joins the population as it arrives and the
//! oldest member leaves once there are more than `population` — so the strategy is asynchronous
//! by nature: W workers keep W children in flight and none waits for another. A mutation that
//! gives an architecture drawn before is re-drawn (up to [`REDRAWS`] times).

use std::collections::VecDeque;

use nas_space::{Action, TokenType};
use serde::{Deserialize, Serialize};

use crate::rng::SavedRng;
use crate::strategy::plain_stats;
use crate::{
    Feedback, Gradient, Menu, PolicySnapshot, Sample, SeededRng, Seen, Strategy, StrategyError, StrategyKind,
    StrategyState, moves,
};

/// Mutations tried before a repeat is let through (the search then reuses its stored reward).
pub const REDRAWS: usize = 100;

/// `[evolution]`: regularized evolution's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvolutionConfig {
    /// Members kept (the oldest leaves when a new one arrives); also the number of uniform draws
    /// that seed it. Default 20 (measured in docs/RESULTS.md; Real et al. used 100 for 20k samples).
    pub population: usize,
    /// Members drawn for each tournament (at most `population`). Default 5.
    pub tournament: usize,
    /// Probability that a mutation adds or drops a layer instead of re-drawing a decision (CNN
    /// space, when the depth schedule allows more than one depth). Default 0.2.
    pub depth_mutation: f64,
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        EvolutionConfig { population: 20, tournament: 5, depth_mutation: 0.2 }
    }
}

impl EvolutionConfig {
    /// Reject unusable values with a message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.population == 0 || self.population > 1_000_000 {
            return Err(format!("evolution.population must be in 1..=1000000, got {}", self.population));
        }
        if self.tournament == 0 || self.tournament > self.population {
            return Err(format!(
                "evolution.tournament must be in 1..=evolution.population ({}), got {}",
                self.population, self.tournament
            ));
        }
        if !(0.0..=1.0).contains(&self.depth_mutation) {
            return Err(format!("evolution.depth_mutation must be in [0, 1], got {}", self.depth_mutation));
        }
        Ok(())
    }
}

/// A member of the population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub seq: u64,
    #[serde(with = "crate::tagged")]
    pub actions: Vec<Action>,
    pub reward: f64,
}

/// Regularized evolution.
#[derive(Debug, Clone)]
pub struct Evolution {
    config: EvolutionConfig,
    token_choices: Vec<usize>,
    rng: SeededRng,
    /// Oldest first.
    population: VecDeque<Member>,
    drawn: u64,
    seen: Seen,
}

/// Saved [`Evolution`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvolutionState {
    pub config: EvolutionConfig,
    pub token_choices: Vec<usize>,
    pub rng: SavedRng,
    pub population: Vec<Member>,
    pub drawn: u64,
    pub seen: Seen,
}

impl Evolution {
    pub fn new(config: EvolutionConfig, token_types: &[TokenType], seed: u64) -> Result<Self, StrategyError> {
        config.validate().map_err(StrategyError::Config)?;
        Ok(Evolution {
            config,
            token_choices: token_types.iter().map(|t| t.choices).collect(),
            rng: SeededRng::new(seed, 0),
            population: VecDeque::new(),
            drawn: 0,
            seen: Seen::default(),
        })
    }

    pub(crate) fn from_state(s: EvolutionState) -> Self {
        Evolution {
            config: s.config,
            token_choices: s.token_choices,
            rng: SeededRng::from_state(s.rng),
            population: s.population.into(),
            drawn: s.drawn,
            seen: s.seen,
        }
    }

    /// The population, oldest first.
    pub fn population(&self) -> impl Iterator<Item = &Member> {
        self.population.iter()
    }

    /// The tournament's winner.
    fn select(&mut self) -> Member {
        let mut idx: Vec<usize> = (0..self.population.len()).collect();
        let k = self.config.tournament.min(idx.len());
        for i in 0..k {
            let j = i + self.rng.index(idx.len() - i);
            idx.swap(i, j);
        }
        let mut best = idx[0];
        for &i in &idx[1..k] {
            let (r, b) = (self.population[i].reward, self.population[best].reward);
            if r > b || (r == b && i > best) {
                best = i;
            }
        }
        self.population[best].clone()
    }

    /// One mutation of `parent`, within what `menu` allows.
    fn mutate(&mut self, parent: &[Action], menu: &Menu) -> Result<Vec<Action>, StrategyError> {
        let space = menu.space;
        if space.has_depth() {
            let layer = space.decisions(1);
            let per = layer.len().max(1);
            let depth = space.depth_of(parent);
            let too_deep = depth > menu.depth;
            if too_deep || (menu.depth_varies() && self.rng.uniform() < self.config.depth_mutation) {
                let can_add = depth < menu.depth;
                let can_drop = depth > menu.min_depth.max(1);
                let add = match (can_add, can_drop) {
                    (true, true) => self.rng.uniform() < 0.5,
                    (a, _) => a,
                };
                if add {
                    return moves::add_layer(parent, &layer, &self.token_choices, &mut self.rng);
                }
                if can_drop || too_deep {
                    return Ok(moves::drop_layer(parent, per, &mut self.rng));
                }
            }
            return moves::mutate(&space.decisions(depth), parent, &self.token_choices, &mut self.rng);
        }
        moves::mutate(&menu.decisions(), parent, &self.token_choices, &mut self.rng)
    }
}

impl Strategy for Evolution {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Evolution
    }

    fn asynchronous(&self) -> bool {
        true
    }

    fn sample(&mut self, menu: &Menu) -> Result<Sample, StrategyError> {
        self.drawn += 1;
        if self.drawn <= self.config.population as u64 || self.population.is_empty() {
            let seen = &self.seen;
            let draw = moves::uniform_unseen(&menu.decisions(), &self.token_choices, &mut self.rng, REDRAWS, |a| {
                seen.contains(a)
            })?;
            self.seen.insert(&draw.0);
            return Ok(Sample { actions: draw.0, log_prob: draw.1, entropy: -draw.1, policy_version: 0, parent: None });
        }
        let parent = self.select();
        let mut child = self.mutate(&parent.actions, menu)?;
        for _ in 1..REDRAWS {
            if !self.seen.contains(&child) {
                break;
            }
            child = self.mutate(&parent.actions, menu)?;
        }
        self.seen.insert(&child);
        Ok(Sample { actions: child, log_prob: 0.0, entropy: 0.0, policy_version: 0, parent: Some(parent.seq) })
    }

    fn gradient(&mut self, batch: &[Feedback], _from: &PolicySnapshot) -> Result<Gradient, StrategyError> {
        crate::strategy::check_finite(batch)?;
        for f in batch {
            self.population.push_back(Member { seq: f.seq, actions: f.actions.to_vec(), reward: f.reward });
            while self.population.len() > self.config.population {
                self.population.pop_front();
            }
        }
        Ok(plain_stats(batch))
    }

    fn state(&self) -> StrategyState {
        StrategyState::Evolution(Box::new(EvolutionState {
            config: self.config.clone(),
            token_choices: self.token_choices.clone(),
            rng: self.rng.state(),
            population: self.population.iter().cloned().collect(),
            drawn: self.drawn,
            seen: self.seen.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{nb201_toy, run_sequential};
    use nas_space::{CnnSpace, Nb201Space, SearchSpace};

    #[test]
    fn ages_out_the_oldest_and_mutates_tournament_winners() {
        let space = SearchSpace::Nb201(Nb201Space::default());
        let config = EvolutionConfig { population: 4, tournament: 2, depth_mutation: 0.0 };
        let mut ev = Evolution::new(config, &space.token_types(), 3).unwrap();
        let menu = Menu { space: &space, depth: 0, min_depth: 0 };
        for seq in 0..10u64 {
            let s = ev.sample(&menu).unwrap();
            assert_eq!(s.parent.is_some(), seq >= 4, "the first `population` samples are uniform draws");
            if let Some(p) = s.parent {
                let parent = ev.population().find(|m| m.seq == p).expect("the parent is a member").clone();
                let diff = parent.actions.iter().zip(&s.actions).filter(|(a, b)| a != b).count();
                assert_eq!(diff, 1, "one edge re-drawn");
            }
            let d = space.decisions(0);
            ev.gradient(&[Feedback { seq, decisions: &d, actions: &s.actions, reward: seq as f64 }], &ev.snapshot())
                .unwrap();
            let seqs: Vec<u64> = ev.population().map(|m| m.seq).collect();
            let first = (seq + 1).saturating_sub(4);
            assert_eq!(seqs, (first..=seq).collect::<Vec<_>>(), "aging: the newest four");
        }
    }

    #[test]
    fn finds_the_optimum_of_a_toy_landscape_and_resumes_exactly() {
        let space = SearchSpace::Nb201(Nb201Space::default());
        let mut ev = Evolution::new(EvolutionConfig::default(), &space.token_types(), 1).unwrap();
        let best = run_sequential(&mut ev, &space, 400, nb201_toy);
        assert_eq!(best, 6.0, "every edge conv3x3");
        let StrategyState::Evolution(s) = ev.state() else { unreachable!() };
        let mut back = Evolution::from_state(*s);
        let (a, b) = (run_sequential(&mut ev, &space, 50, nb201_toy), run_sequential(&mut back, &space, 50, nb201_toy));
        assert_eq!(a, b);
        assert_eq!(ev.state(), back.state());
    }

    #[test]
    fn depth_mutations_stay_within_the_schedule() {
        let space = SearchSpace::Cnn(CnnSpace::default());
        let config = EvolutionConfig { population: 3, tournament: 2, depth_mutation: 1.0 };
        let mut ev = Evolution::new(config, &space.token_types(), 5).unwrap();
        let menu = Menu { space: &space, depth: 4, min_depth: 2 };
        let mut depths = std::collections::BTreeSet::new();
        for seq in 0..60u64 {
            let s = ev.sample(&menu).unwrap();
            let nas_space::Architecture::Cnn(a) = space.decode(&s.actions).unwrap() else { unreachable!() };
            assert!((2..=4).contains(&a.layers.len()), "{} layers", a.layers.len());
            depths.insert(a.layers.len());
            let d = space.decisions(a.layers.len());
            let r = a.layers.len() as f64;
            ev.gradient(&[Feedback { seq, decisions: &d, actions: &s.actions, reward: r }], &ev.snapshot()).unwrap();
        }
        assert_eq!(depths.into_iter().collect::<Vec<_>>(), vec![2, 3, 4]);
    }
}
