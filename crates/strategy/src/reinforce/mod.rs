//! The paper's LSTM controller trained by policy gradient.
//!
//! REINFORCE (Williams 1992), as in the paper: ∇J ≈ (1/m) Σ_k Σ_t ∇ log P(a_t | a_<t; θ) A_k
//! with one Adam step per batch of m children. The advantage A_k depends on the
//! [`UpdateRule`]: the paper's R_k − b (b an exponential moving average of earlier rewards),
//! batch-normalised (R_k − mean)/std, PPO's clipped surrogate over several steps, or the
//! risk-seeking top quantile. The network, its sampling and its backward pass live in
//! `policy.rs`; the rules' arithmetic in `update.rs`.

mod adam;
mod config;
mod params;
mod policy;
mod update;

pub use adam::Adam;
pub use config::{ControllerConfig, UpdateRule};
pub use params::{Layout, Params};
pub use policy::{Controller, Trajectory};

use nas_space::TokenType;
use serde::{Deserialize, Serialize};

use crate::rng::SavedRng;
use crate::{
    Feedback, Gradient, Menu, PolicySnapshot, Replayed, Sample, SeededRng, Strategy, StrategyError, StrategyKind,
    StrategyState, UpdateStats,
};

/// The policy-gradient-trained LSTM controller.
#[derive(Debug, Clone)]
pub struct Reinforce {
    config: ControllerConfig,
    controller: Controller,
    adam: Adam,
    baseline: Option<f64>,
    version: u64,
    rng: SeededRng,
    /// Trajectories sampled and not yet learnt from, with the policy version that drew them,
    /// reused by the gradient instead of walking the same program again (saves a third of the
    /// update's cost; the result is identical).
    recent: Vec<(u64, Trajectory)>,
}

/// Saved [`Reinforce`]: weights, Adam moments, baseline, policy version and RNG position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReinforceState {
    pub config: ControllerConfig,
    pub params: Params,
    pub adam: Adam,
    pub baseline: Option<f64>,
    pub version: u64,
    pub rng: SavedRng,
}

impl Reinforce {
    /// A freshly initialised controller for these token types. Weights come from stream 1 of
    /// `seed`, samples from stream 0.
    pub fn new(config: ControllerConfig, token_types: &[TokenType], seed: u64) -> Result<Self, StrategyError> {
        config.validate().map_err(StrategyError::Config)?;
        let choices: Vec<usize> = token_types.iter().map(|t| t.choices).collect();
        let layout = Layout::new(config.hidden, config.layers, &choices);
        let params = Params::uniform(layout, config.init_range, &mut SeededRng::new(seed, 1));
        let adam =
            Adam::new(params.values.len(), config.learning_rate, config.adam_beta1, config.adam_beta2, config.adam_eps);
        Ok(Reinforce {
            config,
            controller: Controller { params },
            adam,
            baseline: None,
            version: 0,
            rng: SeededRng::new(seed, 0),
            recent: Vec::new(),
        })
    }

    /// Continue from a saved state.
    pub fn from_state(s: ReinforceState, token_types: &[TokenType]) -> Result<Self, StrategyError> {
        let choices: Vec<usize> = token_types.iter().map(|t| t.choices).collect();
        let expected = Layout::new(s.config.hidden, s.config.layers, &choices);
        if expected != s.params.layout || s.params.values.len() != expected.len {
            return Err(StrategyError::Mismatch(
                "the saved controller was built for other token vocabularies than the space's".into(),
            ));
        }
        Ok(Reinforce {
            config: s.config,
            controller: Controller { params: s.params },
            adam: s.adam,
            baseline: s.baseline,
            version: s.version,
            rng: SeededRng::from_state(s.rng),
            recent: Vec::new(),
        })
    }

    /// The controller network.
    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// The gradient of the surrogate loss −(1/m) Σ (A_k log P_k + β H_k) for a batch under the
    /// weights `controller` of policy `version`; returns (grad, loss, mean entropy, the
    /// trajectories' log-probabilities).
    fn surrogate_gradient(
        &self,
        controller: &Controller,
        version: u64,
        batch: &[Feedback],
        advantages: &[f64],
    ) -> Result<(Vec<f64>, f64, f64, Vec<f64>), StrategyError> {
        let m = batch.len() as f64;
        let beta = self.config.entropy_weight;
        let mut grad = vec![0.0; controller.params.values.len()];
        let (mut loss, mut ent) = (0.0, 0.0);
        let mut log_probs = Vec::with_capacity(batch.len());
        for (fb, &adv) in batch.iter().zip(advantages) {
            let cached = self
                .recent
                .iter()
                .find(|(v, t)| *v == version && t.actions == fb.actions && t.steps_len() == fb.decisions.len());
            let scored;
            let tr = match cached {
                Some((_, t)) => t,
                None => {
                    scored = controller.score(fb.decisions, fb.actions)?;
                    &scored
                }
            };
            controller.backward(tr, -adv / m, -beta / m, &mut grad);
            loss -= (adv * tr.log_prob + beta * tr.entropy) / m;
            ent += tr.entropy / m;
            log_probs.push(tr.log_prob);
        }
        Ok((grad, loss, ent, log_probs))
    }

    /// Forget cached trajectories of a batch that has been learnt from.
    fn forget(&mut self, version: u64, batch: &[Feedback]) {
        for fb in batch {
            if let Some(i) = self.recent.iter().position(|(v, t)| *v == version && t.actions == fb.actions) {
                self.recent.swap_remove(i);
            }
        }
        // Samples never learnt from (a stopped run) must not pile up.
        if self.recent.len() > 100_000 {
            self.recent.clear();
        }
    }
}

impl Strategy for Reinforce {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Reinforce
    }

    fn sample(&mut self, menu: &Menu) -> Result<Sample, StrategyError> {
        let tr = self.controller.sample(&menu.decisions(), &mut self.rng)?;
        let sample = Sample {
            actions: tr.actions.clone(),
            log_prob: tr.log_prob,
            entropy: tr.entropy,
            policy_version: self.version,
            parent: None,
        };
        self.recent.push((self.version, tr));
        Ok(sample)
    }

    fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot { version: self.version, params: Some(self.controller.params.clone()) }
    }

    fn gradient(&mut self, batch: &[Feedback], from: &PolicySnapshot) -> Result<Gradient, StrategyError> {
        if batch.is_empty() {
            return Err(StrategyError::Mismatch("an update needs at least one reward".into()));
        }
        crate::strategy::check_finite(batch)?;
        let rewards: Vec<f64> = batch.iter().map(|f| f.reward).collect();
        let mean = rewards.iter().sum::<f64>() / batch.len() as f64;
        // The first batch has no history: its own mean is the baseline.
        let b = self.baseline.unwrap_or(mean);
        let advantages = update::advantages(&self.config, &rewards, b);
        let older;
        let controller = if from.version == self.version {
            &self.controller
        } else {
            let params = from.params.clone().ok_or_else(|| {
                StrategyError::Mismatch(format!("policy version {} came without its weights", from.version))
            })?;
            if params.layout != self.controller.params.layout {
                return Err(StrategyError::Mismatch("a policy snapshot of another controller layout".into()));
            }
            older = Controller { params };
            &older
        };
        let (values, loss, mean_entropy, log_probs) =
            self.surrogate_gradient(controller, from.version, batch, &advantages)?;
        self.forget(from.version, batch);
        let replay = if self.config.update == UpdateRule::Ppo && self.config.ppo_epochs > 1 {
            let share = 1.0 / batch.len() as f64;
            batch
                .iter()
                .zip(&advantages)
                .zip(&log_probs)
                .map(|((f, &advantage), &log_prob)| Replayed {
                    decisions: f.decisions.to_vec(),
                    actions: f.actions.to_vec(),
                    log_prob,
                    advantage,
                    share,
                })
                .collect()
        } else {
            Vec::new()
        };
        let d = self.config.baseline_decay;
        let mut nb = b;
        for f in batch {
            nb = d * nb + (1.0 - d) * f.reward;
        }
        self.baseline = Some(nb);
        let grad_norm = values.iter().map(|g| g * g).sum::<f64>().sqrt();
        let stats = UpdateStats {
            policy_version: self.version,
            baseline_used: b,
            baseline: nb,
            mean_reward: mean,
            loss,
            grad_norm,
            mean_entropy,
            sampled_version: from.version,
            staleness: 0,
        };
        Ok(Gradient { values, stats, replay })
    }

    fn apply(&mut self, grads: &[Gradient], shards: usize) -> Result<Vec<UpdateStats>, StrategyError> {
        let n = self.controller.params.values.len();
        if grads.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(g) = grads.iter().find(|g| g.values.len() != n) {
            return Err(StrategyError::Mismatch(format!("a gradient of {} values for {n} parameters", g.values.len())));
        }
        let before = self.version;
        let step: Vec<f64> = if grads.len() == 1 {
            grads[0].values.clone()
        } else {
            let k = grads.len() as f64;
            (0..n).map(|i| grads.iter().map(|g| g.values[i]).sum::<f64>() / k).collect()
        };
        self.adam.step_sharded(&mut self.controller.params.values, &step, shards);
        // PPO: further clipped passes over the batches at the moved weights.
        if grads.iter().any(|g| !g.replay.is_empty()) {
            let scale = 1.0 / grads.len() as f64;
            for _ in 1..self.config.ppo_epochs {
                let mut grad = vec![0.0; n];
                for g in grads {
                    update::clipped_pass(&self.controller, &g.replay, &self.config, scale, &mut grad)?;
                }
                self.adam.step_sharded(&mut self.controller.params.values, &grad, shards);
            }
        }
        self.version += 1;
        Ok(grads
            .iter()
            .map(|g| UpdateStats {
                policy_version: self.version,
                staleness: before.saturating_sub(g.stats.sampled_version),
                ..g.stats.clone()
            })
            .collect())
    }

    fn policy_version(&self) -> u64 {
        self.version
    }

    fn baseline(&self) -> Option<f64> {
        self.baseline
    }

    fn state(&self) -> StrategyState {
        StrategyState::Reinforce(Box::new(ReinforceState {
            config: self.config.clone(),
            params: self.controller.params.clone(),
            adam: self.adam.clone(),
            baseline: self.baseline,
            version: self.version,
            rng: self.rng.state(),
        }))
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // finite differences index parameters by number
mod tests {
    use super::*;
    use crate::RandomSearch;
    use nas_space::{Action, CnnSpace, Decision, SearchSpace};

    fn menu(space: &SearchSpace, depth: usize) -> Menu<'_> {
        Menu { space, depth, min_depth: depth }
    }

    /// Toy reward: the fraction of layers whose filter is 3×3.
    fn frac_3x3(space: &SearchSpace, actions: &[Action]) -> f64 {
        let nas_space::Architecture::Cnn(a) = space.decode(actions).unwrap() else { unreachable!() };
        a.layers.iter().filter(|l| l.filter_h == 3 && l.filter_w == 3).count() as f64 / a.layers.len() as f64
    }

    fn run(strategy: &mut dyn Strategy, space: &SearchSpace, updates: usize) -> (f64, f64) {
        let d = space.decisions(4);
        let mut first = 0.0;
        let mut last = 0.0;
        for u in 0..updates {
            let samples: Vec<Sample> = (0..8).map(|_| strategy.sample(&menu(space, 4)).unwrap()).collect();
            let rewards: Vec<f64> = samples.iter().map(|s| frac_3x3(space, &s.actions)).collect();
            let fb: Vec<Feedback> = samples
                .iter()
                .zip(&rewards)
                .map(|(s, &r)| Feedback { seq: 0, decisions: &d, actions: &s.actions, reward: r })
                .collect();
            strategy.update(&fb).unwrap();
            let mean = rewards.iter().sum::<f64>() / 8.0;
            if u < 10 {
                first += mean / 10.0;
            }
            if u >= updates - 10 {
                last += mean / 10.0;
            }
        }
        (first, last)
    }

    #[test]
    fn reinforce_learns_a_toy_reward_and_random_search_does_not() {
        let space = SearchSpace::Cnn(CnnSpace::default());
        let tt = space.token_types();
        let config = ControllerConfig { learning_rate: 0.01, ..ControllerConfig::paper() };
        let mut rl = Reinforce::new(config, &tt, 1).unwrap();
        let (rl_first, rl_last) = run(&mut rl, &space, 150);
        let mut rs = RandomSearch::new(&tt, 1);
        let (rs_first, rs_last) = run(&mut rs, &space, 150);
        // Uniform sampling gives 1/16 of layers 3×3.
        assert!(rl_first < 0.2, "{rl_first}");
        assert!(rl_last > 0.7, "REINFORCE mean reward rose only from {rl_first} to {rl_last}");
        assert!(rs_last < 0.2 && rs_first < 0.2, "random search: {rs_first} → {rs_last}");
    }

    #[test]
    fn every_update_rule_learns_the_toy_reward_at_its_defaults() {
        let space = SearchSpace::Cnn(CnnSpace::default());
        let tt = space.token_types();
        for update in [UpdateRule::Normalized, UpdateRule::Ppo, UpdateRule::RiskSeeking] {
            let mut rl = Reinforce::new(ControllerConfig { update, ..ControllerConfig::default() }, &tt, 1).unwrap();
            let (first, last) = run(&mut rl, &space, 150);
            assert!(last > first + 0.2, "{update:?}: mean reward {first} → {last}");
        }
    }

    #[test]
    fn ppo_with_one_epoch_is_the_normalised_update_and_more_epochs_step_further() {
        let space = SearchSpace::Nb201(Default::default());
        let tt = space.token_types();
        let d = space.decisions(0);
        let base = ControllerConfig { update: UpdateRule::Normalized, ..ControllerConfig::default() };
        let one = ControllerConfig { update: UpdateRule::Ppo, ppo_epochs: 1, ..base.clone() };
        let four = ControllerConfig { update: UpdateRule::Ppo, ppo_epochs: 4, ..base.clone() };
        let step = |config: ControllerConfig| {
            let mut rl = Reinforce::new(config, &tt, 2).unwrap();
            let start = rl.controller.params.values.clone();
            let samples: Vec<Sample> = (0..8).map(|_| rl.sample(&menu(&space, 0)).unwrap()).collect();
            let fb: Vec<Feedback> = samples
                .iter()
                .enumerate()
                .map(|(k, s)| Feedback { seq: k as u64, decisions: &d, actions: &s.actions, reward: k as f64 })
                .collect();
            rl.update(&fb).unwrap();
            let moved: f64 =
                rl.controller.params.values.iter().zip(&start).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
            (rl.controller.params.values.clone(), moved)
        };
        let (n, _) = step(base);
        let (p1, m1) = step(one);
        let (_, m4) = step(four);
        assert_eq!(n, p1);
        assert!(m4 > 2.0 * m1, "four epochs moved {m4}, one {m1}");
    }

    #[test]
    fn exact_policy_gradient_matches_finite_difference_of_expected_reward() {
        // Program small enough to enumerate: J(θ) = Σ_a P(a) R(a); its gradient is
        // Σ_a P(a) R(a) ∇log P(a) — the quantity REINFORCE estimates.
        let layout = Layout::new(3, 2, &[2, 3]);
        let c = Controller { params: Params::uniform(layout, 0.8, &mut SeededRng::new(4, 1)) };
        let d = [
            Decision::Token { token_type: 0 },
            Decision::Anchor { layer: 0 },
            Decision::Token { token_type: 1 },
            Decision::Anchor { layer: 1 },
        ];
        let mut all = Vec::new();
        for a in 0..2 {
            for b in 0..3 {
                for s in [false, true] {
                    let acts = vec![Action::Token(a), Action::Skips(vec![]), Action::Token(b), Action::Skips(vec![s])];
                    let r = (a * 3 + b) as f64 * 0.1 + if s { 0.5 } else { 0.0 };
                    all.push((acts, r));
                }
            }
        }
        let expected =
            |c: &Controller| all.iter().map(|(a, r)| c.score(&d, a).unwrap().log_prob.exp() * r).sum::<f64>();
        let mut grad = vec![0.0; c.params.values.len()];
        for (a, r) in &all {
            let tr = c.score(&d, a).unwrap();
            c.backward(&tr, tr.log_prob.exp() * r, 0.0, &mut grad);
        }
        let eps = 1e-6;
        for i in 0..grad.len() {
            let mut p = c.clone();
            p.params.values[i] += eps;
            let mut m = c.clone();
            m.params.values[i] -= eps;
            let fd = (expected(&p) - expected(&m)) / (2.0 * eps);
            assert!((fd - grad[i]).abs() < 1e-7 + 1e-5 * fd.abs(), "param {i}: {} vs {fd}", grad[i]);
        }
    }

    #[test]
    fn surrogate_gradient_matches_finite_difference() {
        let space = SearchSpace::Cnn(CnnSpace::default());
        let tt = space.token_types();
        let rl = Reinforce::new(ControllerConfig { hidden: 4, init_range: 0.5, ..Default::default() }, &tt, 3).unwrap();
        let d = space.decisions(3);
        let mut r2 = rl.clone();
        let samples: Vec<Sample> = (0..3).map(|_| r2.sample(&menu(&space, 3)).unwrap()).collect();
        let fb: Vec<Feedback> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| Feedback { seq: 0, decisions: &d, actions: &s.actions, reward: i as f64 })
            .collect();
        let adv: Vec<f64> = fb.iter().map(|f| f.reward - 0.8).collect();
        let (grad, _, _, _) = rl.surrogate_gradient(&rl.controller, 0, &fb, &adv).unwrap();
        let loss_at = |v: &[f64]| {
            let c = Controller { params: Params { layout: rl.controller.params.layout.clone(), values: v.to_vec() } };
            rl.surrogate_gradient(&c, 0, &fb, &adv).unwrap().1
        };
        let v = rl.controller.params.values.clone();
        for i in (0..v.len()).step_by(7) {
            let (mut a, mut b) = (v.clone(), v.clone());
            a[i] += 1e-6;
            b[i] -= 1e-6;
            let fd = (loss_at(&a) - loss_at(&b)) / 2e-6;
            assert!((fd - grad[i]).abs() < 1e-6 + 1e-4 * fd.abs(), "param {i}: {} vs {fd}", grad[i]);
        }
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let space = SearchSpace::Cnn(CnnSpace::default());
        let tt = space.token_types();
        let mut a = Reinforce::new(ControllerConfig::default(), &tt, 9).unwrap();
        run(&mut a, &space, 12);
        let StrategyState::Reinforce(s) = a.state() else { unreachable!() };
        let mut b = Reinforce::from_state(*s, &tt).unwrap();
        assert_eq!(run(&mut a, &space, 11), run(&mut b, &space, 11));
        assert_eq!(a.controller.params, b.controller.params);
        // A space with other vocabularies is refused.
        let other = SearchSpace::Cnn(CnnSpace { filters: vec![8, 16], ..CnnSpace::default() });
        let StrategyState::Reinforce(s) = a.state() else { unreachable!() };
        assert!(Reinforce::from_state(*s, &other.token_types()).is_err());
    }

    #[test]
    fn stale_gradients_are_taken_against_the_policy_that_sampled() {
        let space = SearchSpace::Cnn(CnnSpace::default());
        let tt = space.token_types();
        let d = space.decisions(3);
        let mut rl =
            Reinforce::new(ControllerConfig { learning_rate: 0.05, ..ControllerConfig::paper() }, &tt, 5).unwrap();
        // Two replicas draw from version 0.
        let s0 = rl.snapshot();
        let a: Vec<Sample> = (0..4).map(|_| rl.sample(&menu(&space, 3)).unwrap()).collect();
        let b: Vec<Sample> = (0..4).map(|_| rl.sample(&menu(&space, 3)).unwrap()).collect();
        let fb = |xs: &[Sample]| -> Vec<(Vec<Action>, f64)> {
            xs.iter().map(|s| (s.actions.clone(), frac_3x3(&space, &s.actions) + s.log_prob.abs() / 100.0)).collect()
        };
        let (fa, fbb) = (fb(&a), fb(&b));
        let ga = {
            let f: Vec<Feedback> =
                fa.iter().map(|(a, r)| Feedback { seq: 0, decisions: &d, actions: a, reward: *r }).collect();
            rl.gradient(&f, &s0).unwrap()
        };
        let st = rl.apply(&[ga], 1).unwrap();
        assert_eq!((st[0].policy_version, st[0].staleness, st[0].sampled_version), (1, 0, 0));
        // Replica B's batch arrives after that update: its gradient is the old policy's.
        let f: Vec<Feedback> =
            fbb.iter().map(|(a, r)| Feedback { seq: 0, decisions: &d, actions: a, reward: *r }).collect();
        let baseline = rl.baseline().unwrap();
        let old = Controller { params: s0.params.clone().unwrap() };
        let adv: Vec<f64> = f.iter().map(|x| x.reward - baseline).collect();
        let (expected, _, _, _) = rl.surrogate_gradient(&old, u64::MAX, &f, &adv).unwrap();
        let (current, _, _, _) = rl.surrogate_gradient(&rl.controller, u64::MAX, &f, &adv).unwrap();
        let gb = rl.gradient(&f, &s0).unwrap();
        assert_eq!(gb.values, expected);
        assert_ne!(gb.values, current, "the update moved the weights, so the policies differ");
        let st = rl.apply(&[gb], 4).unwrap();
        assert_eq!((st[0].policy_version, st[0].staleness, st[0].sampled_version), (2, 1, 0));
        // A snapshot without weights cannot stand for an older version.
        let f: Vec<Feedback> =
            fa.iter().map(|(a, r)| Feedback { seq: 0, decisions: &d, actions: a, reward: *r }).collect();
        assert!(rl.gradient(&f, &PolicySnapshot { version: 0, params: None }).is_err());
    }

    #[test]
    fn asynchronous_replicas_with_stale_gradients_still_learn() {
        // Four replicas in turn: each batch is learnt from three updates after it was drawn.
        let space = SearchSpace::Cnn(CnnSpace::default());
        let tt = space.token_types();
        let d = space.decisions(4);
        let mut rl =
            Reinforce::new(ControllerConfig { learning_rate: 0.01, ..ControllerConfig::paper() }, &tt, 1).unwrap();
        let mut replicas: std::collections::VecDeque<(PolicySnapshot, Vec<Sample>)> = Default::default();
        let (mut first, mut last, mut stale) = (Vec::new(), Vec::new(), 0);
        for step in 0..160 {
            while replicas.len() < 4 {
                let snap = rl.snapshot();
                let batch = (0..8).map(|_| rl.sample(&menu(&space, 4)).unwrap()).collect();
                replicas.push_back((snap, batch));
            }
            let (snap, batch) = replicas.pop_front().unwrap();
            let rewards: Vec<f64> = batch.iter().map(|s| frac_3x3(&space, &s.actions)).collect();
            let f: Vec<Feedback> = batch
                .iter()
                .zip(&rewards)
                .map(|(s, &r)| Feedback { seq: 0, decisions: &d, actions: &s.actions, reward: r })
                .collect();
            let g = rl.gradient(&f, &snap).unwrap();
            stale = stale.max(rl.apply(&[g], 2).unwrap()[0].staleness);
            let mean = rewards.iter().sum::<f64>() / 8.0;
            if step < 10 {
                first.push(mean);
            } else if step >= 150 {
                last.push(mean);
            }
        }
        let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert_eq!(stale, 3);
        assert!(avg(&first) < 0.2 && avg(&last) > 0.6, "{} → {}", avg(&first), avg(&last));
    }

    #[test]
    fn baseline_is_an_exponential_moving_average() {
        let space = SearchSpace::Nb201(Default::default());
        let tt = space.token_types();
        let mut r =
            Reinforce::new(ControllerConfig { baseline_decay: 0.5, ..ControllerConfig::paper() }, &tt, 0).unwrap();
        let d = space.decisions(0);
        let s = r.sample(&menu(&space, 0)).unwrap();
        let fb = |x: f64| Feedback { seq: 0, decisions: &d, actions: &s.actions, reward: x };
        let st = r.update(&[fb(1.0), fb(3.0)]).unwrap();
        assert_eq!(st.baseline_used, 2.0);
        assert_eq!(st.baseline, 0.5 * (0.5 * 2.0 + 0.5) + 0.5 * 3.0);
        let st2 = r.update(&[fb(0.0)]).unwrap();
        assert_eq!(st2.baseline_used, st.baseline);
        assert_eq!(st2.policy_version, 2);
        assert!(r.update(&[fb(f64::NAN)]).is_err());
    }
}
