//! [`conv`](super::conv) as a burn operation: on plain `flex` tensors, the forward; on autodiff
//! `flex` tensors, one graph node that keeps its input and weight and computes both gradients
//! with the kernels.

use burn::prelude::*;
use burn::tensor::DType;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::AutodiffBackend;
use burn_backend::tensor::FloatTensor;
use burn_flex::FlexTensor;

use super::conv::{self, Geometry};
use super::{AutodiffFlex, Flex, flex_tensor};

/// Stride and (top, left, bottom, right) zero padding of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    pub stride: (usize, usize),
    pub padding: (usize, usize, usize, usize),
}

impl ConvSpec {
    fn geometry(&self, x: [usize; 4], w: [usize; 4]) -> Geometry {
        Geometry {
            batch: x[0],
            in_channels: x[1],
            in_size: (x[2], x[3]),
            out_channels: w[0],
            kernel: (w[2], w[3]),
            stride: self.stride,
            padding: self.padding,
        }
    }
}

/// `x` (`[B, C, H, W]`) convolved with `weight` (`[O, C, kh, kw]`), no bias, with the kernels
/// when both live on `flex` in `f32`; `None` otherwise, for the caller to run burn's.
pub fn conv2d(x: &Tensor<4>, weight: &Tensor<4>, spec: ConvSpec) -> Option<Tensor<4>> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return None;
    }
    let g = spec.geometry(x.dims(), weight.dims());
    if let (Ok(xp), Ok(wp)) =
        (x.clone().try_into_primitive::<AutodiffFlex>(), weight.clone().try_into_primitive::<AutodiffFlex>())
    {
        return Some(Tensor::from_primitive::<AutodiffFlex>(tracked(xp, wp, g)));
    }
    if let (Ok(xp), Ok(wp)) = (x.clone().try_into_primitive::<Flex>(), weight.clone().try_into_primitive::<Flex>()) {
        return Some(Tensor::from_primitive::<Flex>(forward(&xp.to_contiguous(), &wp.to_contiguous(), &g)));
    }
    None
}

/// The forward on contiguous `flex` tensors.
fn forward(x: &FlexTensor, w: &FlexTensor, g: &Geometry) -> FlexTensor {
    let (oh, ow) = g.out_size();
    flex_tensor(conv::forward(x.storage::<f32>(), w.storage::<f32>(), g), &[g.batch, g.out_channels, oh, ow])
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    /// Input, weight (both contiguous) and the shapes.
    type State = (FlexTensor, FlexTensor, Geometry);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, w, g) = ops.state;
        let dy = dy.storage::<f32>();
        if let Some(node) = node_x {
            let dx = conv::backward_input(w.storage::<f32>(), dy, &g);
            grads.register::<Flex>(node.id, flex_tensor(dx, &[g.batch, g.in_channels, g.in_size.0, g.in_size.1]));
        }
        if let Some(node) = node_w {
            let dw = conv::backward_weight(x.storage::<f32>(), dy, &g);
            grads.register::<Flex>(node.id, flex_tensor(dw, &[g.out_channels, g.in_channels, g.kernel.0, g.kernel.1]));
        }
    }
}

/// The convolution as an autodiff operation (tracked when either operand needs a gradient).
fn tracked(x: FloatTensor<AutodiffFlex>, w: FloatTensor<AutodiffFlex>, g: Geometry) -> FloatTensor<AutodiffFlex> {
    let prep = ConvBackward.prepare::<NoCheckpointing>([x.node(), w.node()]).compute_bound().stateful();
    let xi = AutodiffFlex::inner(x).to_contiguous();
    let wi = AutodiffFlex::inner(w).to_contiguous();
    let y = forward(&xi, &wi, &g);
    match prep {
        OpsKind::Tracked(prep) => prep.finish((xi, wi, g), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_run_on_flex_with_and_without_autodiff() {
        let spec = ConvSpec { stride: (1, 1), padding: (1, 1, 1, 1) };
        for device in [Device::flex(), Device::flex().autodiff()] {
            let x = Tensor::<4>::ones([2, 3, 5, 5], &device);
            let w = Tensor::<4>::ones([4, 3, 3, 3], &device);
            let y = conv2d(&x, &w, spec).expect("kernels on flex");
            assert_eq!(y.dims(), [2, 4, 5, 5]);
            // Centre pixels see all 27 inputs, corners 12.
            let v: Vec<f32> = y.into_data().try_to_vec::<f32>().unwrap();
            assert_eq!((v[12], v[0]), (27.0, 12.0));
        }
    }
}
