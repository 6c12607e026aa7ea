//! [`max_pool`](super::max_pool) as a burn operation: on plain `flex` tensors, the forward; on
//! autodiff `flex` tensors, one graph node that keeps where each maximum came from.

use burn::prelude::*;
use burn::tensor::DType;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::AutodiffBackend;
use burn_flex::FlexTensor;

use super::max_pool::{self, Shape};
use super::{AutodiffFlex, Flex, flex_tensor};

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    /// Which input each output took, and the input's shape.
    type State = (Vec<u8>, Shape);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (at, s) = ops.state;
        if let Some(node) = node_x {
            let dx = max_pool::backward(dy.storage::<f32>(), &at, &s);
            grads.register::<Flex>(node.id, flex_tensor(dx, &[s.batch, s.channels, s.height, s.width]));
        }
    }
}

/// 2×2 max-pooling at stride 2 of `x` (`[B, C, H, W]`) with the kernels when it lives on `flex`
/// in `f32`; `None` otherwise, for the caller to run burn's.
pub fn max_pool_2x2(x: &Tensor<4>) -> Option<Tensor<4>> {
    if x.dtype() != DType::F32 {
        return None;
    }
    let [batch, channels, height, width] = x.dims();
    let s = Shape { batch, channels, height, width };
    let (oh, ow) = s.out_size();
    let pooled = |x: &FlexTensor| {
        let (y, at) = max_pool::forward(x.storage::<f32>(), &s);
        (flex_tensor(y, &[batch, channels, oh, ow]), at)
    };
    if let Ok(xp) = x.clone().try_into_primitive::<AutodiffFlex>() {
        let prep = MaxPoolBackward.prepare::<NoCheckpointing>([xp.node()]).compute_bound().stateful();
        let (y, at) = pooled(&AutodiffFlex::inner(xp).to_contiguous());
        let out = match prep {
            OpsKind::Tracked(prep) => prep.finish((at, s), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        return Some(Tensor::from_primitive::<AutodiffFlex>(out));
    }
    let xp = x.clone().try_into_primitive::<Flex>().ok()?;
    Some(Tensor::from_primitive::<Flex>(pooled(&xp.to_contiguous()).0))
}
