//! [`RecurrentCell`]: one step of a recurrent layer, either a cell of the paper's tree space or
//! the standard LSTM it is compared with. Both are "project x_t and h_{t-1} into k slices of
//! width H, then an element-wise function of the slices and c_{t-1}": k = tree base for a tree
//! cell (one W_k·x_t, U_k·h_{t-1} pair per leaf), k = 4 gates for the LSTM. The x projections of
//! a whole segment are computed at once ([`RecurrentCell::project_inputs`]); only the h
//! projection runs per step. On `flex` with [`Kernels::Fast`] (the default) a whole layer over
//! the segment is one fused operation of `crate::kernels::recurrent` (hand-written backward
//! through time); elsewhere, or with `[lm] kernels = "burn"`, the same step runs on burn's
//! operations ([`RecurrentCell::step`]), which the kernels are tested against.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use nas_space::{Activation, Combine, NodeInputs, RnnCell};

use crate::kernels::{Kernels, LayerInputs, recurrent_layer};

/// Which recurrence a cell computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellKind {
    /// A cell of the tree space.
    Tree(RnnCell),
    /// The standard LSTM (input, forget, cell, output gates; no peepholes).
    Lstm,
}

impl CellKind {
    /// Slices of width H the inputs are projected into.
    pub fn slices(&self) -> usize {
        match self {
            CellKind::Tree(c) => c.base(),
            CellKind::Lstm => 4,
        }
    }
}

/// One recurrent step. Shapes: x projection `[batch, k·H]`, h and c `[batch, H]`.
#[derive(Module, Debug)]
pub struct RecurrentCell {
    /// x_t → k·H (with bias).
    wx: Linear,
    /// h_{t-1} → k·H (no bias).
    uh: Linear,
    #[module(skip)]
    kind: CellKind,
    #[module(skip)]
    hidden: usize,
}

fn combine(c: Combine, a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    match c {
        Combine::Add => a + b,
        Combine::ElemMult => a * b,
        Combine::Max => a.max_pair(b),
    }
}

fn activate(a: Activation, x: Tensor<2>) -> Tensor<2> {
    match a {
        Activation::Identity => x,
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => sigmoid(x),
        Activation::Relu => relu(x),
        Activation::Sin => x.sin(),
    }
}

impl RecurrentCell {
    /// A cell reading `input` features with `hidden` units, weights drawn from `init`.
    pub fn new(kind: CellKind, input: usize, hidden: usize, init: &Initializer, device: &Device) -> Self {
        let k = kind.slices();
        RecurrentCell {
            wx: LinearConfig::new(input, k * hidden).with_initializer(init.clone()).init(device),
            uh: LinearConfig::new(hidden, k * hidden).with_bias(false).with_initializer(init.clone()).init(device),
            kind,
            hidden,
        }
    }

    /// The weights: `W` `[input, k·H]`, its bias `[k·H]` and `U` `[H, k·H]`.
    pub fn weights(&self) -> (Tensor<2>, Tensor<1>, Tensor<2>) {
        let bias = self.wx.bias.as_ref().map(|b| b.val()).expect("the x projection has a bias");
        (self.wx.weight.val(), bias, self.uh.weight.val())
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// `[batch, time, input]` → `[batch, time, k·H]`: every step's x projection in one matmul.
    pub fn project_inputs(&self, x: Tensor<3>) -> Tensor<3> {
        self.wx.forward(x)
    }

    /// The whole segment: x projections `[batch, time, k·H]`, the state and the recurrent-dropout
    /// mask (`[batch·H]` values multiplying h_{t-1}) → every h_t `[batch, time, H]` and the new
    /// (h, c). On [`Kernels::Fast`] over `flex`, one fused operation with its own backward
    /// through time; otherwise [`Self::step`] per time step on burn's operations.
    pub fn run(
        &self,
        xp: Tensor<3>,
        h: Tensor<2>,
        c: Tensor<2>,
        mask: Option<Vec<f32>>,
        kernels: Kernels,
    ) -> (Tensor<3>, Tensor<2>, Tensor<2>) {
        let [batch, time, width] = xp.dims();
        let hd = self.hidden;
        let fused = kernels.run(|| {
            (time > 0).then_some(())?;
            let u = self.uh.weight.val();
            recurrent_layer(&self.kind, LayerInputs { xp: &xp, u: &u, h0: &h, c0: &c, mask: mask.clone() })
        });
        if let Some(y) = fused {
            let hs = y.clone().narrow(1, 0, time);
            let h = y.clone().narrow(1, time - 1, 1).reshape([batch, hd]);
            return (hs, h, y.narrow(1, time, 1).reshape([batch, hd]));
        }
        let device = h.device();
        let mask = mask.map(|m| Tensor::<1>::from_floats(m.as_slice(), &device).reshape([batch, hd]));
        let (mut h, mut c) = (h, c);
        let mut outs = Vec::with_capacity(time);
        for t in 0..time {
            let xp_t = xp.clone().narrow(1, t, 1).reshape([batch, width]);
            let h_in = match &mask {
                Some(m) => h * m.clone(),
                None => h,
            };
            (h, c) = self.step(xp_t, h_in, c);
            outs.push(h.clone().unsqueeze_dim::<3>(1));
        }
        (Tensor::cat(outs, 1), h, c)
    }

    /// One step: x projection `[batch, k·H]`, h and c `[batch, H]` → new (h, c).
    pub fn step(&self, xp: Tensor<2>, h: Tensor<2>, c: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let hp = self.uh.forward(h);
        match &self.kind {
            CellKind::Lstm => {
                let mut g = (xp + hp).chunk(4, 1).into_iter();
                let (i, f, cand, o) = (g.next().unwrap(), g.next().unwrap(), g.next().unwrap(), g.next().unwrap());
                let c = sigmoid(f) * c + sigmoid(i) * cand.tanh();
                (sigmoid(o) * c.clone().tanh(), c)
            }
            CellKind::Tree(cell) => tree_step(cell, xp.chunk(cell.base(), 1), hp.chunk(cell.base(), 1), c),
        }
    }
}

/// Evaluate a tree cell: leaf k combines W_k·x_t (`xs[k]`) with U_k·h_{t-1} (`hs[k]`), inner
/// nodes combine their children's outputs, the inject merges c_{t-1} into one node's output,
/// c_t is one node's pre-activation and h_t the root's output.
pub fn tree_step(cell: &RnnCell, xs: Vec<Tensor<2>>, hs: Vec<Tensor<2>>, c_prev: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let mut xs: Vec<Option<Tensor<2>>> = xs.into_iter().map(Some).collect();
    let mut hs: Vec<Option<Tensor<2>>> = hs.into_iter().map(Some).collect();
    let mut out: Vec<Option<Tensor<2>>> = vec![None; cell.nodes.len()];
    let mut c_new = None;
    let mut c_prev = Some(c_prev);
    for (k, node) in cell.nodes.iter().enumerate() {
        let (a, b) = match cell.inputs(k) {
            NodeInputs::Leaf(i) => (xs[i].take().expect("leaf read once"), hs[i].take().expect("leaf read once")),
            NodeInputs::Children(l, r) => {
                (out[l].take().expect("child output read once"), out[r].take().expect("child output read once"))
            }
        };
        let pre = combine(node.combine, a, b);
        if k == cell.cell_out {
            c_new = Some(pre.clone());
        }
        let mut o = activate(node.activation, pre);
        if k == cell.inject_into {
            let c = c_prev.take().expect("one inject");
            o = activate(cell.inject.activation, combine(cell.inject.combine, o, c));
        }
        out[k] = Some(o);
    }
    let h = out[cell.root()].take().expect("the root has an output");
    (h, c_new.expect("cell_out is a node"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32]) -> Tensor<2> {
        Tensor::<1>::from_floats(v, &Device::default()).reshape([1, v.len()])
    }

    fn values(x: Tensor<2>) -> Vec<f32> {
        x.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn the_papers_base_2_example_computes_its_formulas() {
        // a0 = tanh(x0 + h0); a1 = relu(x1 * h1); a0' = relu(a0 + c); h = sigmoid(a0' * a1);
        // c_t = x1 * h1 (node 1 before its activation).
        let cell: RnnCell = "add:tanh mul:relu mul:sigmoid | add:relu | c=1 inject=0".parse().unwrap();
        let (x0, x1, h0, h1, c) = (0.3f32, -0.7, 0.5, 0.9, -0.2);
        let (h, c_new) = tree_step(&cell, vec![t(&[x0]), t(&[x1])], vec![t(&[h0]), t(&[h1])], t(&[c]));
        let a0 = (x0 + h0).tanh();
        let a1 = (x1 * h1).max(0.0);
        let a0i = (a0 + c).max(0.0);
        let expect_h = 1.0 / (1.0 + (-(a0i * a1)).exp());
        assert!((values(h)[0] - expect_h).abs() < 1e-6);
        assert!((values(c_new)[0] - x1 * h1).abs() < 1e-6);
    }

    #[test]
    fn a_tree_can_express_a_plain_tanh_rnn() {
        // Leaves add x and h, inner nodes add, the root applies tanh; the inject `max` with a
        // very negative c_{t-1} leaves leaf 0 unchanged. So h_t = tanh(Σ_k W_k·x + U_k·h): an
        // Elman RNN with W = Σ W_k and U = Σ U_k.
        let nodes = "add:identity add:identity add:identity add:identity add:identity add:identity add:tanh";
        let cell: RnnCell = format!("{nodes} | max:identity | c=6 inject=0").parse().unwrap();
        let xs = vec![t(&[0.1, 0.2]), t(&[0.3, -0.1]), t(&[0.0, 0.5]), t(&[-0.2, 0.1])];
        let hs = vec![t(&[0.05, 0.0]), t(&[0.1, 0.1]), t(&[-0.3, 0.2]), t(&[0.2, -0.4])];
        let (h, c) = tree_step(&cell, xs, hs, t(&[-1e9, -1e9]));
        let sums = [0.1 + 0.3 + 0.0 - 0.2 + 0.05 + 0.1 - 0.3 + 0.2, 0.2 - 0.1 + 0.5 + 0.1 + 0.0 + 0.1 + 0.2 - 0.4];
        let got = values(h);
        for (g, s) in got.iter().zip(sums) {
            assert!((g - (s as f32).tanh()).abs() < 1e-6, "{got:?}");
        }
        // c_t is the root's pre-activation: the sum itself.
        for (g, s) in values(c).iter().zip(sums) {
            assert!((g - s as f32).abs() < 1e-6);
        }
    }

    #[test]
    fn lstm_step_matches_the_textbook_formulas() {
        let device = Device::default();
        let init = Initializer::Constant { value: 0.0 };
        let cell = RecurrentCell::new(CellKind::Lstm, 1, 1, &init, &device);
        // With zero weights every gate pre-activation is the x projection we pass in.
        let (i, f, g, o, c) = (0.2f32, -0.4, 0.7, 1.1, 0.5);
        let (h, c_new) = cell.step(t(&[i, f, g, o]), t(&[0.0]), t(&[c]));
        let s = |x: f32| 1.0 / (1.0 + (-x).exp());
        let c_expect = s(f) * c + s(i) * g.tanh();
        assert!((values(c_new)[0] - c_expect).abs() < 1e-6);
        assert!((values(h)[0] - s(o) * c_expect.tanh()).abs() < 1e-6);
    }
}
