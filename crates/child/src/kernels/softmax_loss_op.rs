//! [`softmax_loss`](super::softmax_loss) as a burn operation: the decoder and the mean
//! cross-entropy as one graph node (output `[1]`) whose backward gives h, W and b their gradients.

use burn::prelude::*;
use burn::tensor::DType;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::AutodiffBackend;
use burn_backend::tensor::FloatTensor;
use burn_flex::FlexTensor;

use super::softmax_loss::{self, DecoderShape};
use super::{AutodiffFlex, Flex, flex_tensor};

/// Mean cross-entropy of `targets` under softmax(h · W + b), with `h` `[rows, hidden]`, `W`
/// `[hidden, vocab]` or (`tied`) `[vocab, hidden]` and `b` `[vocab]`: on the kernels when all
/// live on `flex` in `f32`, `None` otherwise (the caller runs burn's decoder and loss).
pub fn decoder_cross_entropy(
    h: &Tensor<2>,
    w: &Tensor<2>,
    bias: &Tensor<1>,
    targets: &[u32],
    tied: bool,
) -> Option<Tensor<1>> {
    if [h.dtype(), w.dtype(), bias.dtype()].iter().any(|d| *d != DType::F32) {
        return None;
    }
    let [rows, hidden] = h.dims();
    let vocab = if tied { w.dims()[0] } else { w.dims()[1] };
    let shape = DecoderShape { rows, hidden, vocab, tied };
    let prims = (
        h.clone().try_into_primitive::<AutodiffFlex>(),
        w.clone().try_into_primitive::<AutodiffFlex>(),
        bias.clone().try_into_primitive::<AutodiffFlex>(),
    );
    if let (Ok(hp), Ok(wp), Ok(bp)) = prims {
        return Some(Tensor::from_primitive::<AutodiffFlex>(tracked(hp, wp, bp, targets.to_vec(), shape)));
    }
    let prims = (
        h.clone().try_into_primitive::<Flex>(),
        w.clone().try_into_primitive::<Flex>(),
        bias.clone().try_into_primitive::<Flex>(),
    );
    if let (Ok(hp), Ok(wp), Ok(bp)) = prims {
        let (hc, wc, bc) = (hp.to_contiguous(), wp.to_contiguous(), bp.to_contiguous());
        let f = softmax_loss::forward(hc.storage(), wc.storage(), bc.storage(), targets, &shape);
        return Some(Tensor::from_primitive::<Flex>(flex_tensor(vec![f.loss], &[1])));
    }
    None
}

#[derive(Debug)]
struct LossBackward;

/// h and W (contiguous), the targets, the softmax rows and the shapes.
type LossState = (FlexTensor, FlexTensor, Vec<u32>, Vec<f32>, DecoderShape);

impl Backward<Flex, 3> for LossBackward {
    type State = LossState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_h, node_w, node_b] = ops.parents;
        let scale = grads.consume::<Flex>(&ops.node).to_contiguous().storage::<f32>()[0];
        let (h, w, targets, probs, s) = ops.state;
        let g = softmax_loss::backward(h.storage(), w.storage(), &targets, probs, scale, &s);
        if let Some(node) = node_h {
            grads.register::<Flex>(node.id, flex_tensor(g.h, &[s.rows, s.hidden]));
        }
        if let Some(node) = node_w {
            let dims = if s.tied { [s.vocab, s.hidden] } else { [s.hidden, s.vocab] };
            grads.register::<Flex>(node.id, flex_tensor(g.w, &dims));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, flex_tensor(g.bias, &[s.vocab]));
        }
    }
}

fn tracked(
    h: FloatTensor<AutodiffFlex>,
    w: FloatTensor<AutodiffFlex>,
    b: FloatTensor<AutodiffFlex>,
    targets: Vec<u32>,
    shape: DecoderShape,
) -> FloatTensor<AutodiffFlex> {
    let prep = LossBackward.prepare::<NoCheckpointing>([h.node(), w.node(), b.node()]).compute_bound().stateful();
    let hi = AutodiffFlex::inner(h).to_contiguous();
    let wi = AutodiffFlex::inner(w).to_contiguous();
    let bi = AutodiffFlex::inner(b).to_contiguous();
    let f = softmax_loss::forward(hi.storage(), wi.storage(), bi.storage(), &targets, &shape);
    let y = flex_tensor(vec![f.loss], &[1]);
    match prep {
        OpsKind::Tracked(prep) => prep.finish((hi, wi, targets, f.probs, shape), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}
