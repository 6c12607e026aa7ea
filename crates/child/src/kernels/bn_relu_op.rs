//! [`bn_relu`](super::bn_relu) as a burn operation on autodiff `flex` tensors: one graph node for
//! batch norm (training mode) + ReLU with parents input, γ and β; the layer's running statistics
//! are updated exactly as burn's `BatchNorm::forward` updates them.

use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::DType;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::AutodiffBackend;
use burn_flex::FlexTensor;

use super::bn_relu::{self, Shape};
use super::{AutodiffFlex, Flex, flex_tensor};

/// What the backward needs.
#[derive(Debug, Clone)]
struct State {
    x: FlexTensor,
    y: FlexTensor,
    gamma: Vec<f32>,
    mean: Vec<f32>,
    variance: Vec<f32>,
    epsilon: f64,
    shape: Shape,
}

#[derive(Debug)]
struct BnReluBackward;

impl Backward<Flex, 3> for BnReluBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let s = ops.state;
        let g = bn_relu::backward(
            s.x.storage::<f32>(),
            s.y.storage::<f32>(),
            dy.storage::<f32>(),
            &s.gamma,
            &s.mean,
            &s.variance,
            s.epsilon,
            &s.shape,
        );
        let dims = dy.layout().shape().to_vec();
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_tensor(g.x, &dims));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex_tensor(g.gamma, &[s.shape.channels]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex_tensor(g.beta, &[s.shape.channels]));
        }
    }
}

/// `relu(bn(x))` for `x` `[B, C, H, W]` in training mode with the kernels, updating `bn`'s
/// running mean and variance, when `x` and the layer's parameters live on autodiff `flex` in
/// `f32` and the layer is training; `None` otherwise (nothing updated), for the caller to run
/// burn's.
pub fn batch_norm_relu(bn: &BatchNorm, x: &Tensor<4>) -> Option<Tensor<4>> {
    if x.dtype() != DType::F32 || !bn.training.is_enabled() {
        return None;
    }
    let (out, mean, variance) = tracked(x, bn.gamma.val(), bn.beta.val(), bn.epsilon)?;
    // As burn's BatchNorm::forward_train.
    let (device, channels) = (x.device(), x.dims()[1]);
    let stat = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [channels]), &device).mul_scalar(bn.momentum);
    let running = |r: Tensor<1>| r.to_device(&device).mul_scalar(1.0 - bn.momentum);
    bn.running_mean.update(running(bn.running_mean.value_sync()).add(stat(mean)).detach());
    bn.running_var.update(running(bn.running_var.value_sync()).add(stat(variance)).detach());
    Some(out)
}

/// `relu(γ·(x − mean)/√(var + ε) + β)` for `x` `[B, C, H, W]` normalised by its own batch
/// statistics (no running statistics anywhere), with the kernels when `x`, `gamma` and `beta`
/// (`[C]`) live on `flex` in `f32`, with or without autodiff; `None` otherwise.
pub fn batch_norm_relu_batch_stats(
    x: &Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> Option<Tensor<4>> {
    if x.dtype() != DType::F32 {
        return None;
    }
    if let Some((out, _, _)) = tracked(x, gamma.clone(), beta.clone(), epsilon) {
        return Some(out);
    }
    let (Ok(xp), Ok(gp), Ok(bp)) =
        (x.clone().try_into_primitive::<Flex>(), gamma.try_into_primitive::<Flex>(), beta.try_into_primitive::<Flex>())
    else {
        return None;
    };
    let [batch, channels, h, w] = x.dims();
    let shape = Shape { batch, channels, pixels: h * w };
    let (xi, gi, bi) = (xp.to_contiguous(), gp.to_contiguous(), bp.to_contiguous());
    let f = bn_relu::forward(xi.storage::<f32>(), gi.storage::<f32>(), bi.storage::<f32>(), epsilon, &shape);
    Some(Tensor::from_primitive::<Flex>(flex_tensor(f.output, &[batch, channels, h, w])))
}

/// The fused operation on autodiff `flex` tensors: its output with the batch mean and variance
/// it normalised by; `None` when the tensors are not autodiff `flex`.
fn tracked(x: &Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64) -> Option<(Tensor<4>, Vec<f32>, Vec<f32>)> {
    let (Ok(xp), Ok(gp), Ok(bp)) = (
        x.clone().try_into_primitive::<AutodiffFlex>(),
        gamma.try_into_primitive::<AutodiffFlex>(),
        beta.try_into_primitive::<AutodiffFlex>(),
    ) else {
        return None;
    };
    let [batch, channels, h, w] = x.dims();
    let shape = Shape { batch, channels, pixels: h * w };
    let prep = BnReluBackward.prepare::<NoCheckpointing>([xp.node(), gp.node(), bp.node()]).compute_bound().stateful();
    let xi = AutodiffFlex::inner(xp).to_contiguous();
    let gamma: Vec<f32> = AutodiffFlex::inner(gp).to_contiguous().storage::<f32>().to_vec();
    let beta = AutodiffFlex::inner(bp).to_contiguous();
    let f = bn_relu::forward(xi.storage::<f32>(), &gamma, beta.storage::<f32>(), epsilon, &shape);
    let y = flex_tensor(f.output, &[batch, channels, h, w]);
    let out = match prep {
        OpsKind::Tracked(prep) => {
            let state = State {
                x: xi,
                y: y.clone(),
                gamma,
                mean: f.mean.clone(),
                variance: f.variance.clone(),
                epsilon,
                shape,
            };
            prep.finish(state, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some((Tensor::from_primitive::<AutodiffFlex>(out), f.mean, f.variance))
}
