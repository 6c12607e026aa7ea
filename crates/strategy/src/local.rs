//! First-improvement local search with random restarts, over any decision program.
//!
//! Start at a uniform draw; propose its neighbours ([`crate::moves::neighbours`]: each other
//! value of each token, each skip flag flipped) in a random order; the first whose reward beats
//! the current point becomes the current point and its neighbourhood is scanned next. When a
//! neighbourhood is exhausted without improvement the point is a local optimum and the search
//! restarts from a fresh uniform draw. Rewards of every architecture seen are remembered, so a
//! neighbour evaluated earlier is judged without a draw. Asynchronous: results are taken as they
//! arrive; with several children in flight, a neighbourhood that runs out of proposals while some
//! are still training restarts (their results still move the search if they beat the point).
//! The depth of a CNN program stays the one of its starting draw (the schedule's at that time).

use std::collections::{BTreeMap, BTreeSet};

use nas_space::{Action, Decision, TokenType};
use serde::{Deserialize, Serialize};

use crate::rng::SavedRng;
use crate::seen::fingerprint;
use crate::strategy::plain_stats;
use crate::{
    Feedback, Gradient, Menu, PolicySnapshot, Sample, SeededRng, Strategy, StrategyError, StrategyKind, StrategyState,
    moves,
};

/// Uniform draws tried for a restart before a repeat is let through.
const REDRAWS: usize = 1000;

/// `[local]`: local search's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalConfig {
    /// Propose a neighbourhood in a random order (true) or in program order. Default true.
    pub shuffle: bool,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig { shuffle: true }
    }
}

/// The point whose neighbourhood is being scanned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    #[serde(with = "crate::tagged")]
    pub actions: Vec<Action>,
    /// Its sample index and reward, once its result arrived.
    pub seq: Option<u64>,
    pub reward: Option<f64>,
    /// The program it follows (moves keep it: neighbours have the same depth).
    pub decisions: Vec<Decision>,
    /// Its neighbours in scan order, and how many have been proposed.
    #[serde(with = "crate::tagged::lists")]
    pub neighbours: Vec<Vec<Action>>,
    pub next: usize,
}

/// Local search.
#[derive(Debug, Clone)]
pub struct LocalSearch {
    config: LocalConfig,
    token_choices: Vec<usize>,
    rng: SeededRng,
    current: Option<Point>,
    /// (sample index, reward) of every architecture whose result arrived, by fingerprint.
    known: BTreeMap<u64, (u64, f64)>,
    /// Fingerprints proposed and not answered yet.
    pending: BTreeSet<u64>,
    /// Restarts so far (a local optimum each, but the first).
    restarts: u64,
}

/// Saved [`LocalSearch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalState {
    pub config: LocalConfig,
    pub token_choices: Vec<usize>,
    pub rng: SavedRng,
    pub current: Option<Point>,
    pub known: Vec<(u64, u64, f64)>,
    pub pending: Vec<u64>,
    pub restarts: u64,
}

impl LocalSearch {
    pub fn new(config: LocalConfig, token_types: &[TokenType], seed: u64) -> Result<Self, StrategyError> {
        Ok(LocalSearch {
            config,
            token_choices: token_types.iter().map(|t| t.choices).collect(),
            rng: SeededRng::new(seed, 0),
            current: None,
            known: BTreeMap::new(),
            pending: BTreeSet::new(),
            restarts: 0,
        })
    }

    pub(crate) fn from_state(s: LocalState) -> Self {
        LocalSearch {
            config: s.config,
            token_choices: s.token_choices,
            rng: SeededRng::from_state(s.rng),
            current: s.current,
            known: s.known.into_iter().map(|(f, q, r)| (f, (q, r))).collect(),
            pending: s.pending.into_iter().collect(),
            restarts: s.restarts,
        }
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Make `actions` (following `decisions`) the current point, its neighbourhood next.
    fn move_to(
        &mut self,
        actions: Vec<Action>,
        decisions: Vec<Decision>,
        seq: Option<u64>,
        reward: Option<f64>,
    ) -> Result<(), StrategyError> {
        let mut neighbours = moves::neighbours(&decisions, &actions, &self.token_choices)?;
        if self.config.shuffle {
            for i in (1..neighbours.len()).rev() {
                let j = self.rng.index(i + 1);
                neighbours.swap(i, j);
            }
        }
        self.current = Some(Point { actions, seq, reward, decisions, neighbours, next: 0 });
        Ok(())
    }

    /// Follow known improvements: the first neighbour (in scan order) whose reward is known and
    /// beats the current point's becomes the current point, as long as there is one.
    fn climb(&mut self) -> Result<(), StrategyError> {
        loop {
            let Some(p) = &self.current else { return Ok(()) };
            let Some(here) = p.reward else { return Ok(()) };
            let better = p.neighbours.iter().find_map(|n| {
                self.known.get(&fingerprint(n)).filter(|(_, r)| *r > here).map(|&(q, r)| (n.clone(), q, r))
            });
            let Some((n, q, r)) = better else { return Ok(()) };
            let decisions = p.decisions.clone();
            self.move_to(n, decisions, Some(q), Some(r))?;
        }
    }
}

impl Strategy for LocalSearch {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Local
    }

    fn asynchronous(&self) -> bool {
        true
    }

    fn sample(&mut self, menu: &Menu) -> Result<Sample, StrategyError> {
        // The next unanswered neighbour of the current point…
        if let Some(p) = self.current.as_mut() {
            while p.next < p.neighbours.len() {
                let n = p.neighbours[p.next].clone();
                p.next += 1;
                let f = fingerprint(&n);
                if self.known.contains_key(&f) || !self.pending.insert(f) {
                    continue;
                }
                return Ok(Sample { actions: n, log_prob: 0.0, entropy: 0.0, policy_version: 0, parent: p.seq });
            }
            self.restarts += 1;
        }
        // …or a restart from a fresh uniform draw.
        let decisions = menu.decisions();
        let (known, pending) = (&self.known, &self.pending);
        let seen = |a: &[Action]| {
            let f = fingerprint(a);
            known.contains_key(&f) || pending.contains(&f)
        };
        let (actions, log_prob) = moves::uniform_unseen(&decisions, &self.token_choices, &mut self.rng, REDRAWS, seen)?;
        self.pending.insert(fingerprint(&actions));
        self.move_to(actions.clone(), decisions, None, None)?;
        Ok(Sample { actions, log_prob, entropy: -log_prob, policy_version: 0, parent: None })
    }

    fn gradient(&mut self, batch: &[Feedback], _from: &PolicySnapshot) -> Result<Gradient, StrategyError> {
        crate::strategy::check_finite(batch)?;
        for f in batch {
            let fp = fingerprint(f.actions);
            self.pending.remove(&fp);
            self.known.insert(fp, (f.seq, f.reward));
            if let Some(p) = self.current.as_mut()
                && p.actions == f.actions
            {
                p.seq = Some(f.seq);
                p.reward = Some(f.reward);
            }
        }
        self.climb()?;
        Ok(plain_stats(batch))
    }

    fn state(&self) -> StrategyState {
        StrategyState::Local(Box::new(LocalState {
            config: self.config.clone(),
            token_choices: self.token_choices.clone(),
            rng: self.rng.state(),
            current: self.current.clone(),
            known: self.known.iter().map(|(f, (q, r))| (*f, *q, *r)).collect(),
            pending: self.pending.iter().copied().collect(),
            restarts: self.restarts,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{nb201_toy, run_sequential};
    use nas_space::{Nb201Space, SearchSpace};

    #[test]
    fn climbs_to_the_optimum_of_a_toy_landscape_and_resumes_exactly() {
        let space = SearchSpace::Nb201(Nb201Space::default());
        let mut ls = LocalSearch::new(LocalConfig::default(), &space.token_types(), 2).unwrap();
        // The toy reward counts conv3x3 edges: no local optimum but the global one, which a
        // climb reaches in at most 6 improvements of at most 24 neighbours each.
        let best = run_sequential(&mut ls, &space, 6 * 24 + 1, nb201_toy);
        assert_eq!(best, 6.0);
        let StrategyState::Local(s) = ls.state() else { unreachable!() };
        let mut back = LocalSearch::from_state(*s);
        assert_eq!(run_sequential(&mut ls, &space, 60, nb201_toy), run_sequential(&mut back, &space, 60, nb201_toy));
        assert_eq!(ls.state(), back.state());
        assert!(ls.restarts() >= 1, "at the optimum every neighbourhood is exhausted: a restart");
    }

    #[test]
    fn every_proposal_is_a_neighbour_of_the_current_point_until_a_restart() {
        let space = SearchSpace::Nb201(Nb201Space::default());
        let mut ls = LocalSearch::new(LocalConfig::default(), &space.token_types(), 9).unwrap();
        let menu = Menu { space: &space, depth: 0, min_depth: 0 };
        let d = space.decisions(0);
        let mut by_seq: Vec<Vec<Action>> = Vec::new();
        for seq in 0..200u64 {
            let s = ls.sample(&menu).unwrap();
            if let Some(parent) = s.parent {
                let p = &by_seq[parent as usize];
                assert_eq!(p.iter().zip(&s.actions).filter(|(a, b)| a != b).count(), 1);
            }
            let r = nb201_toy(&space, &s.actions) + (seq % 3) as f64 * 0.01;
            by_seq.push(s.actions.clone());
            ls.gradient(&[Feedback { seq, decisions: &d, actions: &s.actions, reward: r }], &ls.snapshot()).unwrap();
        }
        let distinct: std::collections::HashSet<_> = by_seq.iter().collect();
        assert_eq!(distinct.len(), by_seq.len(), "no architecture proposed twice");
    }
}
