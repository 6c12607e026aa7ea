//! [`recurrent`](super::recurrent) as a burn operation: a whole layer over a segment as one
//! graph node (inputs: x projections, U, h_0, c_0; output `[B, T + 1, H]`: every h_t, then c_T),
//! whose backward runs the hand-written backpropagation through time.

use burn::prelude::*;
use burn::tensor::DType;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::AutodiffBackend;
use burn_backend::tensor::FloatTensor;
use burn_flex::FlexTensor;

use super::recurrent::{self, SegmentShape, Tape};
use super::{AutodiffFlex, Flex, flex_tensor};
use crate::rnn::CellKind;

/// The layer's inputs: x projections `[B, T, k·H]`, `U` `[H, k·H]`, h_0 and c_0 `[B, H]`, and
/// the recurrent-dropout mask (`[B, H]` values multiplying h_{t-1}; none: no dropout).
pub struct LayerInputs<'a> {
    pub xp: &'a Tensor<3>,
    pub u: &'a Tensor<2>,
    pub h0: &'a Tensor<2>,
    pub c0: &'a Tensor<2>,
    pub mask: Option<Vec<f32>>,
}

/// The layer on the kernels when every input lives on `flex` in `f32` (`None` otherwise, for
/// the caller to run the cell step by step on burn's operations). Output `[B, T + 1, H]`.
pub fn recurrent_layer(kind: &CellKind, inputs: LayerInputs) -> Option<Tensor<3>> {
    let LayerInputs { xp, u, h0, c0, mask } = inputs;
    if [xp.dtype(), u.dtype(), h0.dtype(), c0.dtype()].iter().any(|d| *d != DType::F32) {
        return None;
    }
    let [batch, time, width] = xp.dims();
    let hidden = u.dims()[0];
    let shape = SegmentShape { batch, time, hidden, slices: width / hidden.max(1) };
    if shape.slices != kind.slices() || u.dims()[1] != width {
        return None;
    }
    let ad = (
        xp.clone().try_into_primitive::<AutodiffFlex>(),
        u.clone().try_into_primitive::<AutodiffFlex>(),
        h0.clone().try_into_primitive::<AutodiffFlex>(),
        c0.clone().try_into_primitive::<AutodiffFlex>(),
    );
    if let (Ok(x), Ok(u), Ok(h), Ok(c)) = ad {
        return Some(Tensor::from_primitive::<AutodiffFlex>(tracked(kind, [x, u, h, c], mask, shape)));
    }
    let plain = (
        xp.clone().try_into_primitive::<Flex>(),
        u.clone().try_into_primitive::<Flex>(),
        h0.clone().try_into_primitive::<Flex>(),
        c0.clone().try_into_primitive::<Flex>(),
    );
    if let (Ok(x), Ok(u), Ok(h), Ok(c)) = plain {
        let [x, u, h, c] = [x, u, h, c].map(|t| t.to_contiguous());
        let (out, _) =
            recurrent::forward(kind, x.storage(), u.storage(), h.storage(), c.storage(), mask.as_deref(), &shape);
        return Some(Tensor::from_primitive::<Flex>(flex_tensor(out, &[batch, time + 1, hidden])));
    }
    None
}

#[derive(Debug)]
struct LayerBackward;

/// What the backward keeps: the cell, x projections and U (contiguous), the mask, the tape.
#[derive(Debug, Clone)]
struct LayerState {
    kind: CellKind,
    xp: FlexTensor,
    u: FlexTensor,
    mask: Option<Vec<f32>>,
    tape: Tape,
    shape: SegmentShape,
}

impl Backward<Flex, 4> for LayerBackward {
    type State = LayerState;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_u, node_h, node_c] = ops.parents;
        let d_out = grads.consume::<Flex>(&ops.node).to_contiguous();
        let st = ops.state;
        let s = st.shape;
        let g = recurrent::backward(
            &st.kind,
            st.xp.storage(),
            st.u.storage(),
            st.mask.as_deref(),
            &st.tape,
            d_out.storage(),
            &s,
        );
        let width = s.slices * s.hidden;
        for (node, grad, dims) in [
            (node_x, g.xp, vec![s.batch, s.time, width]),
            (node_u, g.u, vec![s.hidden, width]),
            (node_h, g.h0, vec![s.batch, s.hidden]),
            (node_c, g.c0, vec![s.batch, s.hidden]),
        ] {
            if let Some(node) = node {
                grads.register::<Flex>(node.id, flex_tensor(grad, &dims));
            }
        }
    }
}

fn tracked(
    kind: &CellKind,
    [x, u, h, c]: [FloatTensor<AutodiffFlex>; 4],
    mask: Option<Vec<f32>>,
    shape: SegmentShape,
) -> FloatTensor<AutodiffFlex> {
    let prep =
        LayerBackward.prepare::<NoCheckpointing>([x.node(), u.node(), h.node(), c.node()]).compute_bound().stateful();
    let [x, u, h, c] = [x, u, h, c].map(|t| AutodiffFlex::inner(t).to_contiguous());
    let (out, tape) =
        recurrent::forward(kind, x.storage(), u.storage(), h.storage(), c.storage(), mask.as_deref(), &shape);
    let y = flex_tensor(out, &[shape.batch, shape.time + 1, shape.hidden]);
    match prep {
        OpsKind::Tracked(prep) => prep.finish(LayerState { kind: kind.clone(), xp: x, u, mask, tape, shape }, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}
