//! The update rules' arithmetic: each sample's advantage, and PPO's clipped passes.

use super::{Controller, ControllerConfig, UpdateRule};
use crate::{Replayed, StrategyError};

/// Batch std below which rewards count as equal (no sample is better: zero advantages).
const FLAT: f64 = 1e-12;

/// The advantage of each reward of a batch under the configured rule; `baseline` is the EMA
/// before this batch (the paper's rule).
pub(crate) fn advantages(config: &ControllerConfig, rewards: &[f64], baseline: f64) -> Vec<f64> {
    let m = rewards.len().max(1) as f64;
    let mean = rewards.iter().sum::<f64>() / m;
    let std = (rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / m).sqrt();
    match config.update {
        UpdateRule::Paper => rewards.iter().map(|r| r - baseline).collect(),
        _ if std < FLAT => vec![0.0; rewards.len()],
        UpdateRule::Normalized | UpdateRule::Ppo => rewards.iter().map(|r| (r - mean) / std).collect(),
        UpdateRule::RiskSeeking => {
            let mut sorted = rewards.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let k = ((config.risk_quantile * m).ceil() as usize).clamp(1, rewards.len());
            // The quantile is the best reward outside the top k (the worst of all when k = m).
            let q = if k < sorted.len() { sorted[k] } else { sorted[sorted.len() - 1] };
            rewards.iter().map(|&r| if r > q { (r - q) / std } else { 0.0 }).collect()
        }
    }
}

/// One pass of PPO's clipped surrogate over replayed samples at the controller's current
/// weights: adds ∇ of L = −Σ w·(min(ρA, clip(ρ, 1 ± ε)A) + β H) to `grad`, where ρ is the
/// probability ratio to the sampling policy and w = `scale` × the sample's share of its batch.
/// Returns L.
pub(crate) fn clipped_pass(
    controller: &Controller,
    replay: &[Replayed],
    config: &ControllerConfig,
    scale: f64,
    grad: &mut [f64],
) -> Result<f64, StrategyError> {
    let (eps, beta) = (config.ppo_clip, config.entropy_weight);
    let mut loss = 0.0;
    for r in replay {
        let tr = controller.score(&r.decisions, &r.actions)?;
        let ratio = (tr.log_prob - r.log_prob).exp();
        let a = r.advantage;
        let w = scale * r.share;
        // min(ρA, clip(ρ)A): the unclipped term is the minimum (and carries a gradient) unless ρ
        // has left the trust region on the side the advantage pushes it to.
        let active = if a >= 0.0 { ratio <= 1.0 + eps } else { ratio >= 1.0 - eps };
        let objective = if active { ratio * a } else { ratio.clamp(1.0 - eps, 1.0 + eps) * a };
        controller.backward(&tr, if active { -w * a * ratio } else { 0.0 }, -w * beta, grad);
        loss -= w * (objective + beta * tr.entropy);
    }
    Ok(loss)
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // finite differences index parameters by number
mod tests {
    use super::*;
    use crate::{Params, SeededRng};
    use nas_space::{CnnSpace, SearchSpace};

    fn config(update: UpdateRule) -> ControllerConfig {
        ControllerConfig { update, risk_quantile: 0.25, ..ControllerConfig::default() }
    }

    #[test]
    fn advantages_follow_each_rule() {
        let r = [1.0, 2.0, 3.0, 6.0];
        assert_eq!(advantages(&config(UpdateRule::Paper), &r, 2.0), vec![-1.0, 0.0, 1.0, 4.0]);
        let n = advantages(&config(UpdateRule::Normalized), &r, 0.0);
        assert!(n.iter().sum::<f64>().abs() < 1e-12);
        assert!((n.iter().map(|a| a * a).sum::<f64>() / 4.0 - 1.0).abs() < 1e-12, "unit variance");
        // Invariant to the reward's scale and offset (a landscape transformed affinely).
        let t: Vec<f64> = r.iter().map(|x| 100.0 * x - 7.0).collect();
        let nt = advantages(&config(UpdateRule::Ppo), &t, 0.0);
        assert!(n.iter().zip(&nt).all(|(a, b)| (a - b).abs() < 1e-9));
        // Risk-seeking, top quarter of 4 = the best one, baseline the second best (3).
        let rs = advantages(&config(UpdateRule::RiskSeeking), &r, 0.0);
        assert_eq!(rs[..3], [0.0, 0.0, 0.0]);
        assert!((rs[3] - 3.0 / 3.5f64.sqrt()).abs() < 1e-12, "{rs:?}");
        assert_eq!(advantages(&config(UpdateRule::Ppo), &[0.5, 0.5], 0.0), vec![0.0, 0.0], "flat batch");
    }

    #[test]
    fn clipped_pass_gradient_matches_finite_difference() {
        let space = SearchSpace::Cnn(CnnSpace::default());
        let choices: Vec<usize> = space.token_types().iter().map(|t| t.choices).collect();
        let layout = crate::Layout::new(4, 2, &choices);
        let old = Controller { params: Params::uniform(layout, 0.5, &mut SeededRng::new(3, 1)) };
        let d = space.decisions(3);
        let mut rng = SeededRng::new(5, 0);
        let replay: Vec<Replayed> = (0..6)
            .map(|k| {
                let tr = old.sample(&d, &mut rng).unwrap();
                Replayed {
                    decisions: d.clone(),
                    actions: tr.actions,
                    log_prob: tr.log_prob,
                    advantage: k as f64 - 2.5,
                    share: 1.0 / 6.0,
                }
            })
            .collect();
        // Move the weights so that some ratios leave the clip range and some do not.
        let mut now = old.clone();
        let mut jitter = SeededRng::new(8, 0);
        for v in now.params.values.iter_mut() {
            *v += jitter.range(-0.15, 0.15);
        }
        let cfg = ControllerConfig { entropy_weight: 0.03, ppo_clip: 0.2, ..ControllerConfig::default() };
        let ratios: Vec<f64> =
            replay.iter().map(|r| (now.score(&d, &r.actions).unwrap().log_prob - r.log_prob).exp()).collect();
        assert!(ratios.iter().any(|r| (r - 1.0).abs() > 0.2), "{ratios:?}");
        assert!(ratios.iter().any(|r| (r - 1.0).abs() < 0.2), "{ratios:?}");
        let mut grad = vec![0.0; now.params.values.len()];
        clipped_pass(&now, &replay, &cfg, 0.5, &mut grad).unwrap();
        let loss_at = |v: &[f64]| {
            let c = Controller { params: Params { layout: now.params.layout.clone(), values: v.to_vec() } };
            clipped_pass(&c, &replay, &cfg, 0.5, &mut vec![0.0; v.len()]).unwrap()
        };
        let v = now.params.values.clone();
        let mut nonzero = 0;
        for i in (0..v.len()).step_by(5) {
            let (mut a, mut b) = (v.clone(), v.clone());
            a[i] += 1e-6;
            b[i] -= 1e-6;
            let fd = (loss_at(&a) - loss_at(&b)) / 2e-6;
            assert!((fd - grad[i]).abs() < 1e-6 + 1e-4 * fd.abs(), "param {i}: {} vs {fd}", grad[i]);
            nonzero += (grad[i] != 0.0) as usize;
        }
        assert!(nonzero > 10);
    }
}
