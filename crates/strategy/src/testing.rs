//! Helpers the strategies' tests share: a toy landscape and a sequential search loop.

use nas_space::{Action, SearchSpace};

use crate::{Feedback, Menu, Strategy};

/// Toy NAS-Bench-201 reward: the number of conv3x3 edges (op 2), optimum 6.
pub fn nb201_toy(_space: &SearchSpace, actions: &[Action]) -> f64 {
    actions.iter().filter(|a| **a == Action::Token(2)).count() as f64
}

/// Draw `n` samples one at a time, each learnt from before the next (one worker); returns the
/// best reward.
pub fn run_sequential(
    strategy: &mut dyn Strategy,
    space: &SearchSpace,
    n: u64,
    reward: impl Fn(&SearchSpace, &[Action]) -> f64,
) -> f64 {
    let menu = Menu { space, depth: 0, min_depth: 0 };
    let d = space.decisions(0);
    let mut best = f64::NEG_INFINITY;
    for seq in 0..n {
        let s = strategy.sample(&menu).unwrap();
        let r = reward(space, &s.actions);
        best = best.max(r);
        let from = strategy.snapshot();
        let g = strategy.gradient(&[Feedback { seq, decisions: &d, actions: &s.actions, reward: r }], &from).unwrap();
        strategy.apply(&[g], 1).unwrap();
    }
    best
}
