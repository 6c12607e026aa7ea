//! Adam (Kingma & Ba 2015) over a flat parameter vector, with checkpointable moments.

use serde::{Deserialize, Serialize};

/// Adam state: first and second moments and the step count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub m: Vec<f64>,
    pub v: Vec<f64>,
    pub t: u64,
}

impl Adam {
    /// Zero moments for `n` parameters.
    pub fn new(n: usize, lr: f64, beta1: f64, beta2: f64, eps: f64) -> Self {
        Adam { lr, beta1, beta2, eps, m: vec![0.0; n], v: vec![0.0; n], t: 0 }
    }

    /// One descent step: `params -= lr · m̂ / (√v̂ + ε)`.
    pub fn step(&mut self, params: &mut [f64], grad: &[f64]) {
        self.step_sharded(params, grad, 1);
    }

    /// One descent step with the parameters split into `shards` contiguous parts, each (with
    /// its part of the moments) updated on its own thread, as the paper's parameter-server
    /// shards each apply their slice of a gradient. Adam is elementwise, so the result equals
    /// [`Adam::step`] exactly, whatever the number of shards.
    pub fn step_sharded(&mut self, params: &mut [f64], grad: &[f64], shards: usize) {
        assert_eq!(params.len(), grad.len());
        assert_eq!(params.len(), self.m.len());
        self.t += 1;
        let c = StepConsts {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            b1t: 1.0 - self.beta1.powi(self.t as i32),
            b2t: 1.0 - self.beta2.powi(self.t as i32),
        };
        let shards = shards.clamp(1, params.len().max(1));
        if shards == 1 {
            return c.apply(params, grad, &mut self.m, &mut self.v);
        }
        let size = params.len().div_ceil(shards);
        std::thread::scope(|s| {
            let parts = params
                .chunks_mut(size)
                .zip(grad.chunks(size))
                .zip(self.m.chunks_mut(size).zip(self.v.chunks_mut(size)));
            for ((p, g), (m, v)) in parts {
                s.spawn(move || c.apply(p, g, m, v));
            }
        });
    }
}

/// The per-step constants of an Adam update.
#[derive(Clone, Copy)]
struct StepConsts {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    /// Bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ.
    b1t: f64,
    b2t: f64,
}

impl StepConsts {
    fn apply(&self, params: &mut [f64], grad: &[f64], m: &mut [f64], v: &mut [f64]) {
        for i in 0..params.len() {
            let g = grad[i];
            m[i] = self.beta1 * m[i] + (1.0 - self.beta1) * g;
            v[i] = self.beta2 * v[i] + (1.0 - self.beta2) * g * g;
            let mh = m[i] / self.b1t;
            let vh = v[i] / self.b2t;
            params[i] -= self.lr * mh / (vh.sqrt() + self.eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_lr_against_the_gradient_sign() {
        let mut p = vec![1.0, -1.0, 0.5];
        let mut a = Adam::new(3, 0.01, 0.9, 0.999, 1e-8);
        a.step(&mut p, &[2.0, -3.0, 0.0]);
        assert!((p[0] - 0.99).abs() < 1e-9);
        assert!((p[1] + 0.99).abs() < 1e-9);
        assert_eq!(p[2], 0.5);
    }

    #[test]
    fn sharded_steps_equal_one_step_exactly() {
        let n = 1003;
        let grads: Vec<Vec<f64>> =
            (0..5).map(|k| (0..n).map(|i| ((i * 7 + k * 13) % 17) as f64 / 8.0 - 1.0).collect()).collect();
        let run = |shards: usize| {
            let mut p: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
            let mut a = Adam::new(n, 0.01, 0.9, 0.999, 1e-8);
            for g in &grads {
                a.step_sharded(&mut p, g, shards);
            }
            (p, a)
        };
        let (p1, a1) = run(1);
        for shards in [2, 3, 20, 5000] {
            let (p, a) = run(shards);
            assert_eq!(p, p1, "{shards} shards");
            assert_eq!(a, a1, "{shards} shards");
        }
    }

    #[test]
    fn minimises_a_quadratic() {
        let mut p = vec![3.0];
        let mut a = Adam::new(1, 0.1, 0.9, 0.999, 1e-8);
        for _ in 0..500 {
            let g = vec![2.0 * (p[0] - 1.0)];
            a.step(&mut p, &g);
        }
        assert!((p[0] - 1.0).abs() < 1e-2, "{p:?}");
    }
}
