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
        assert_eq!(params.len(), grad.len());
        assert_eq!(params.len(), self.m.len());
        self.t += 1;
        let b1t = 1.0 - self.beta1.powi(self.t as i32);
        let b2t = 1.0 - self.beta2.powi(self.t as i32);
        for i in 0..params.len() {
            let g = grad[i];
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g;
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g * g;
            let mh = self.m[i] / b1t;
            let vh = self.v[i] / b2t;
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
