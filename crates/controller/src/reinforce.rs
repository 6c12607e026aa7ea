//! REINFORCE (Williams 1992) for the controller, as in the paper:
//! ∇J ≈ (1/m) Σ_k Σ_t ∇ log P(a_t | a_<t; θ) (R_k − b), with b an exponential moving average of
//! earlier rewards, one Adam step per batch of m children.

use nas_space::{Decision, TokenType};
use serde::{Deserialize, Serialize};

use crate::rng::SavedRng;
use crate::{
    Adam, Controller, ControllerConfig, Feedback, Layout, Params, Sample, SeededRng, Strategy, StrategyError,
    StrategyKind, StrategyState, Trajectory, UpdateStats,
};

/// The REINFORCE-trained LSTM controller.
#[derive(Debug, Clone)]
pub struct Reinforce {
    config: ControllerConfig,
    controller: Controller,
    adam: Adam,
    baseline: Option<f64>,
    version: u64,
    rng: SeededRng,
    /// Trajectories sampled since the last update, reused by the update instead of walking the
    /// same program again (saves a third of the update's cost; the result is identical).
    recent: Vec<Trajectory>,
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

    /// The gradient of the surrogate loss for a batch, with the baseline `b`; returns (grad, loss,
    /// mean entropy).
    pub fn gradient(&self, batch: &[Feedback], b: f64) -> Result<(Vec<f64>, f64, f64), StrategyError> {
        let m = batch.len() as f64;
        let beta = self.config.entropy_weight;
        let mut grad = vec![0.0; self.controller.params.values.len()];
        let (mut loss, mut ent) = (0.0, 0.0);
        for fb in batch {
            let cached = self.recent.iter().find(|t| t.actions == fb.actions && t.steps_len() == fb.decisions.len());
            let scored;
            let tr = match cached {
                Some(t) => t,
                None => {
                    scored = self.controller.score(fb.decisions, fb.actions)?;
                    &scored
                }
            };
            let adv = fb.reward - b;
            self.controller.backward(tr, -adv / m, -beta / m, &mut grad);
            loss -= (adv * tr.log_prob + beta * tr.entropy) / m;
            ent += tr.entropy / m;
        }
        Ok((grad, loss, ent))
    }
}

impl Strategy for Reinforce {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Reinforce
    }

    fn sample(&mut self, decisions: &[Decision]) -> Result<Sample, StrategyError> {
        let tr = self.controller.sample(decisions, &mut self.rng)?;
        let sample = Sample {
            actions: tr.actions.clone(),
            log_prob: tr.log_prob,
            entropy: tr.entropy,
            policy_version: self.version,
        };
        self.recent.push(tr);
        Ok(sample)
    }

    fn update(&mut self, batch: &[Feedback]) -> Result<UpdateStats, StrategyError> {
        if batch.is_empty() {
            return Err(StrategyError::Mismatch("an update needs at least one reward".into()));
        }
        if let Some(bad) = batch.iter().find(|f| !f.reward.is_finite()) {
            return Err(StrategyError::Mismatch(format!("reward {} is not finite", bad.reward)));
        }
        let mean = batch.iter().map(|f| f.reward).sum::<f64>() / batch.len() as f64;
        // The first batch has no history: its own mean is the baseline.
        let b = self.baseline.unwrap_or(mean);
        let (grad, loss, mean_entropy) = self.gradient(batch, b)?;
        let grad_norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        self.adam.step(&mut self.controller.params.values, &grad);
        self.recent.clear();
        let d = self.config.baseline_decay;
        let mut nb = b;
        for f in batch {
            nb = d * nb + (1.0 - d) * f.reward;
        }
        self.baseline = Some(nb);
        self.version += 1;
        Ok(UpdateStats {
            policy_version: self.version,
            baseline_used: b,
            baseline: nb,
            mean_reward: mean,
            loss,
            grad_norm,
            mean_entropy,
        })
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
    use nas_space::{Action, CnnSpace, SearchSpace};

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
            let samples: Vec<Sample> = (0..8).map(|_| strategy.sample(&d).unwrap()).collect();
            let rewards: Vec<f64> = samples.iter().map(|s| frac_3x3(space, &s.actions)).collect();
            let fb: Vec<Feedback> = samples
                .iter()
                .zip(&rewards)
                .map(|(s, &r)| Feedback { decisions: &d, actions: &s.actions, reward: r })
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
        let config = ControllerConfig { learning_rate: 0.01, ..ControllerConfig::default() };
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
        let samples: Vec<Sample> = (0..3).map(|_| r2.sample(&d).unwrap()).collect();
        let fb: Vec<Feedback> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| Feedback { decisions: &d, actions: &s.actions, reward: i as f64 })
            .collect();
        let (grad, _, _) = rl.gradient(&fb, 0.8).unwrap();
        let loss_at = |v: &[f64]| {
            let mut r = rl.clone();
            r.controller.params.values = v.to_vec();
            r.gradient(&fb, 0.8).unwrap().1
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
    fn baseline_is_an_exponential_moving_average() {
        let space = SearchSpace::Nb201(Default::default());
        let tt = space.token_types();
        let mut r = Reinforce::new(ControllerConfig { baseline_decay: 0.5, ..Default::default() }, &tt, 0).unwrap();
        let d = space.decisions(0);
        let s = r.sample(&d).unwrap();
        let fb = |x: f64| Feedback { decisions: &d, actions: &s.actions, reward: x };
        let st = r.update(&[fb(1.0), fb(3.0)]).unwrap();
        assert_eq!(st.baseline_used, 2.0);
        assert_eq!(st.baseline, 0.5 * (0.5 * 2.0 + 0.5) + 0.5 * 3.0);
        let st2 = r.update(&[fb(0.0)]).unwrap();
        assert_eq!(st2.baseline_used, st.baseline);
        assert_eq!(st2.policy_version, 2);
        assert!(r.update(&[fb(f64::NAN)]).is_err());
    }
}
