//! One SGD step with momentum and L2 weight decay for a parameter on `flex`, as one parallel
//! pass: burn's `Sgd` runs it as seven whole-tensor operations on the calling thread (decay,
//! momentum, Nesterov, learning rate, update), each allocating its result — a third of the
//! calling thread's time in a training step, while the pool waited. The arithmetic is burn's,
//! operation for operation (dampening 0), so the bits are the same.

use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

use super::{Flex, flex_tensor};

/// The constants of an SGD step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    pub learning_rate: f32,
    pub momentum: f32,
    pub nesterov: bool,
    /// L2 penalty added to the gradient (0: none).
    pub weight_decay: f32,
}

/// Values per parallel task.
const CHUNK: usize = 1 << 14;

impl SgdStep {
    /// `(p', v')` for the parameter `p`, its gradient `g` and its velocity `v` (`None` on the
    /// first step, when the velocity starts as the decayed gradient):
    /// `g' = p·wd + g`, `v' = g' + v·μ`, `p' = p − lr·(Nesterov ? v'·μ + g' : v')`.
    pub fn apply(&self, p: &[f32], g: &[f32], v: Option<&[f32]>) -> (Vec<f32>, Vec<f32>) {
        let n = p.len();
        // Written once each, in parallel: no zero-filling pass on the calling thread first.
        let (mut p2, mut v2) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (ps, vs) = (&mut p2.spare_capacity_mut()[..n], &mut v2.spare_capacity_mut()[..n]);
        ps.par_chunks_mut(CHUNK).zip(vs.par_chunks_mut(CHUNK)).enumerate().for_each(|(i, (p2, v2))| {
            let at = i * CHUNK..i * CHUNK + p2.len();
            let (p, g) = (&p[at.clone()], &g[at.clone()]);
            for j in 0..p2.len() {
                let g = if self.weight_decay != 0.0 { p[j] * self.weight_decay + g[j] } else { g[j] };
                let vel = match v {
                    Some(v) => g * 1.0 + v[at.start + j] * self.momentum,
                    None => g,
                };
                let update = if self.nesterov { vel * self.momentum + g } else { vel };
                v2[j].write(vel);
                p2[j].write(p[j] - update * self.learning_rate);
            }
        });
        // SAFETY: every one of the n values of both was written above.
        unsafe {
            p2.set_len(n);
            v2.set_len(n);
        }
        (p2, v2)
    }

    /// [`SgdStep::apply`] on tensors when all of them live on plain `flex` in `f32`; `None`
    /// otherwise, for the caller to run burn's operations.
    pub fn on_flex<const D: usize>(
        &self,
        p: &Tensor<D>,
        g: &Tensor<D>,
        v: Option<&Tensor<D>>,
    ) -> Option<(Tensor<D>, Tensor<D>)> {
        let flex = |t: &Tensor<D>| {
            (t.dtype() == DType::F32)
                .then(|| t.clone().try_into_primitive::<Flex>().ok())
                .flatten()
                .map(|t| t.to_contiguous())
        };
        let (pf, gf) = (flex(p)?, flex(g)?);
        let vf = match v {
            Some(v) => Some(flex(v)?),
            None => None,
        };
        let dims = p.dims();
        let (p2, v2) = self.apply(pf.storage::<f32>(), gf.storage::<f32>(), vf.as_ref().map(|v| v.storage::<f32>()));
        let tensor = |data| Tensor::from_primitive::<Flex>(flex_tensor(data, &dims));
        Some((tensor(p2), tensor(v2)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_support::values;

    #[test]
    fn runs_on_flex_tensors_only_and_keeps_the_shape() {
        let device = Device::flex();
        let p = Tensor::<2>::ones([3, 4], &device);
        let g = Tensor::<2>::ones([3, 4], &device);
        let step = SgdStep { learning_rate: 0.5, momentum: 0.9, nesterov: false, weight_decay: 0.0 };
        let (p2, v2) = step.on_flex(&p, &g, None).expect("flex");
        assert_eq!((p2.dims(), v2.dims()), ([3, 4], [3, 4]));
        assert_eq!(p2.into_data().try_to_vec::<f32>().unwrap(), vec![0.5; 12]);
        assert_eq!(v2.into_data().try_to_vec::<f32>().unwrap(), vec![1.0; 12]);
        assert!(step.on_flex(&p.clone().autodiff(), &g, None).is_none(), "autodiff tensors are not plain flex");
    }

    #[test]
    fn chunks_cover_every_value() {
        let n = 3 * CHUNK + 17;
        let (p, g, v) = (values(n, 1), values(n, 2), values(n, 3));
        let step = SgdStep { learning_rate: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-4 };
        let (p2, v2) = step.apply(&p, &g, Some(&v));
        for i in [0, CHUNK - 1, CHUNK, 2 * CHUNK + 5, n - 1] {
            let gd = p[i] * 1e-4 + g[i];
            let vel = gd * 1.0 + v[i] * 0.9;
            assert_eq!(v2[i], vel);
            assert_eq!(p2[i], p[i] - (vel * 0.9 + gd) * 0.1);
        }
    }
}
