//! [`Sgd`]: the children's optimiser — SGD with momentum (no dampening), Nesterov when asked,
//! and L2 weight decay — as a burn [`Optimizer`] whose step is one parallel pass per parameter
//! on `flex` ([`SgdStep`]) and burn's tensor operations elsewhere.
//!
//! Why: burn's own `Sgd` runs seven whole-tensor operations per parameter on the calling thread;
//! in a training step of a found child that was a third of the calling thread's time, with the
//! pool idle. The arithmetic is the same operation for operation (tested bit for bit against
//! burn's), and the state is saved under burn's names (`momentum.velocity`), so training states
//! written by burn's `Sgd` load into this one.

use burn::optim::{LearningRate, ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource, join_path};
use burn::prelude::*;
use nas_child::kernels::SgdStep;

use crate::TrainConfig;

/// The configured optimiser for `cfg`'s momentum, Nesterov flag and weight decay.
pub(crate) fn optimizer(cfg: &TrainConfig) -> ModuleOptimizer {
    ModuleOptimizer::from(Sgd {
        momentum: cfg.momentum as f32,
        nesterov: cfg.nesterov,
        weight_decay: cfg.weight_decay as f32,
    })
}

/// SGD with momentum `μ` (no dampening), Nesterov when asked, and L2 weight decay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd {
    pub momentum: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
}

/// A parameter's velocity.
#[derive(Clone)]
pub struct SgdState<const D: usize> {
    velocity: Tensor<D>,
}

impl<const D: usize> RecordState for SgdState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(&join_path(prefix, "momentum"), "velocity", self.velocity.clone().into_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let data = src.take_tensor(&join_path(prefix, "momentum"), "velocity")?;
        Some(SgdState { velocity: Tensor::from_data(data, device) })
    }
}

impl Optimizer for Sgd {
    type State<const D: usize> = SgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let velocity = state.map(|s| s.velocity);
        let step = SgdStep {
            learning_rate: lr as f32,
            momentum: self.momentum,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
        };
        if let Some((tensor, velocity)) = step.on_flex(&tensor, &grad, velocity.as_ref()) {
            return (tensor, Some(SgdState { velocity }));
        }
        // burn's operations, in burn's order.
        let grad = if self.weight_decay != 0.0 { tensor.clone().mul_scalar(self.weight_decay).add(grad) } else { grad };
        let velocity = match velocity {
            Some(v) => grad.clone().mul_scalar(1.0).add(v.mul_scalar(self.momentum)),
            None => grad.clone(),
        };
        let update =
            if self.nesterov { velocity.clone().mul_scalar(self.momentum).add(grad) } else { velocity.clone() };
        (tensor - update.mul_scalar(lr), Some(SgdState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        SgdState { velocity: state.velocity.to_device(device) }
    }
}

#[cfg(test)]
mod tests {
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{GradientsParams, SgdConfig, decay::WeightDecayConfig};
    use nas_child::{ChildConfig, ChildNet, InputShape, Plan};

    use super::*;

    /// Three steps of a child on `device` with `optim` (replaced after the second by what
    /// `resume` makes of its saved state, when given); the trained network's logits on the
    /// training images.
    fn train(
        device: &Device,
        mut optim: ModuleOptimizer,
        resume: Option<&dyn Fn(Vec<u8>) -> ModuleOptimizer>,
    ) -> Vec<f32> {
        let arch = "3x3-8;5x3s2x1-6<0".parse().unwrap();
        let input = InputShape { channels: 1, height: 8, width: 8, classes: 3 };
        let plan = Plan::new(&arch, input, &ChildConfig::default()).unwrap();
        let mut model = crate::seeded(device, 7, || ChildNet::new(plan, &ChildConfig::default(), device));
        let pixels: Vec<f32> = (0..5 * 64).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let x = Tensor::<4>::from_data(burn::tensor::TensorData::new(pixels, [5, 1, 8, 8]), device);
        for step in 0..3 {
            if let (2, Some(resume)) = (step, resume) {
                optim = resume(optim.into_bytes().unwrap().to_vec());
            }
            let loss = model.forward(x.clone()).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.05 + step as f64 * 0.01, model, grads);
        }
        model.forward(x).into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn the_fused_step_is_burns_sgd_bit_for_bit_and_continues_from_its_saved_state() {
        let device = Device::flex().autodiff();
        for (nesterov, wd) in [(true, 1e-4), (false, 0.0), (false, 5e-4)] {
            let cfg = TrainConfig { nesterov, weight_decay: wd, momentum: 0.9, ..TrainConfig::default() };
            let burns = || {
                SgdConfig::new()
                    .with_momentum(Some(MomentumConfig { momentum: 0.9, dampening: 0.0, nesterov }))
                    .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd as f32)))
                    .init()
            };
            let reference = train(&device, burns(), None);
            assert_eq!(train(&device, optimizer(&cfg), None), reference, "nesterov {nesterov}, weight decay {wd}");
            // Two steps by burn's optimiser, its saved state loaded into this one, a third step.
            let load = |bytes: Vec<u8>| optimizer(&cfg).from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes)).unwrap();
            assert_eq!(
                train(&device, burns(), Some(&load)),
                reference,
                "resumed: nesterov {nesterov}, weight decay {wd}"
            );
        }
    }
}
