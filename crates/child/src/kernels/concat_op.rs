//! [`concat`](super::concat) as a burn operation: on plain `flex` tensors, the forward; on
//! autodiff `flex` tensors, one graph node with every input as a parent.

use burn::prelude::*;
use burn::tensor::DType;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::AutodiffBackend;
use burn_flex::FlexTensor;

use super::concat::{self, Layout};
use super::{AutodiffFlex, Flex, flex_tensor};

/// A concatenation of `N` inputs (burn's graph nodes have a fixed number of parents).
#[derive(Debug)]
struct ConcatBackward<const N: usize>;

impl<const N: usize> Backward<Flex, N> for ConcatBackward<N> {
    type State = Layout;

    fn backward(self, ops: Ops<Layout, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let l = ops.state;
        for (i, node) in ops.parents.into_iter().enumerate() {
            if let Some(node) = node {
                let (c, (h, w)) = l.parts[i];
                let dx = concat::backward_part(dy.storage::<f32>(), &l, i);
                grads.register::<Flex>(node.id, flex_tensor(dx, &[l.batch, c, h, w]));
            }
        }
    }
}

/// `xs` (`[B, C_i, H_i, W_i]`) zero-padded to `size` (centred) and concatenated along channels,
/// with the kernels when every input lives on `flex` in `f32` (all with autodiff or none), and
/// there are at most 16; `None` otherwise, for the caller to run burn's `pad` and `cat`.
pub fn concat_padded(xs: &[Tensor<4>], size: (usize, usize)) -> Option<Tensor<4>> {
    let batch = xs.first()?.dims()[0];
    let fits = |x: &Tensor<4>| {
        let [b, _, h, w] = x.dims();
        x.dtype() == DType::F32 && b == batch && h <= size.0 && w <= size.1
    };
    if !xs.iter().all(fits) {
        return None;
    }
    let layout = Layout {
        batch,
        parts: xs
            .iter()
            .map(|x| {
                let [_, c, h, w] = x.dims();
                (c, (h, w))
            })
            .collect(),
        size,
    };
    if let Ok(prims) = xs.iter().map(|x| x.clone().try_into_primitive::<AutodiffFlex>()).collect::<Result<Vec<_>, _>>()
    {
        macro_rules! by_count {
            ($($n:literal)*) => {
                match prims.len() {
                    $($n => tracked::<$n>(prims, layout),)*
                    _ => return None,
                }
            };
        }
        let out = by_count!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
        return Some(Tensor::from_primitive::<AutodiffFlex>(out));
    }
    let prims = xs.iter().map(|x| x.clone().try_into_primitive::<Flex>().ok()).collect::<Option<Vec<_>>>()?;
    let inner: Vec<FlexTensor> = prims.iter().map(|p| p.to_contiguous()).collect();
    Some(Tensor::from_primitive::<Flex>(plain(&inner, &layout)))
}

/// The forward on contiguous `flex` tensors.
fn plain(xs: &[FlexTensor], layout: &Layout) -> FlexTensor {
    let slices: Vec<&[f32]> = xs.iter().map(|x| x.storage::<f32>()).collect();
    flex_tensor(concat::forward(&slices, layout), &[layout.batch, layout.channels(), layout.size.0, layout.size.1])
}

/// The operation as one graph node over `N` autodiff inputs.
fn tracked<const N: usize>(
    prims: Vec<<AutodiffFlex as burn_backend::BackendTypes>::FloatTensorPrimitive>,
    layout: Layout,
) -> <AutodiffFlex as burn_backend::BackendTypes>::FloatTensorPrimitive {
    let prep = ConcatBackward::<N>
        .prepare::<NoCheckpointing>(std::array::from_fn(|i| prims[i].node()))
        .compute_bound()
        .stateful();
    let inner: Vec<FlexTensor> = prims.into_iter().map(|p| AutodiffFlex::inner(p).to_contiguous()).collect();
    let y = plain(&inner, &layout);
    match prep {
        OpsKind::Tracked(prep) => prep.finish(layout, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}
