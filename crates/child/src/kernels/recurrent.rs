//! One recurrent layer over a whole segment, forward and backward through time, on plain `f32`
//! slices: the LSTM (fused gates) or any cell of the tree space. Per step, one product
//! `hp_t = (h_{t-1} ⊙ mask) · U` (`[B, H] × [H, k·H]`, on the pool's threads when large), then
//! the cell's element-wise function over the batch in one vectorised pass per node. The
//! backward runs the steps in reverse: per step the element-wise derivatives and one product
//! `dh_{t-1} = (dhp_t · Uᵀ) ⊙ mask`; `dU = Σ_t (h_{t-1} ⊙ mask)ᵀ · dhp_t` is one product over the
//! whole segment at the end.
//!
//! Layouts: the x projections `xp` `[B, T, k·H]` (bias included, as the layer's `Linear` gives
//! them), `U` `[H, k·H]` (burn's `Linear` weight), h_0, c_0 and the recurrent-dropout mask
//! `[B, H]`. The output is `[B, T + 1, H]`: h_t for every step, then c_T.

use nas_space::{Activation, Combine, NodeInputs, RnnCell};

use super::fast_math::{self, wide};
use super::matmul::{Operand, product};
use crate::rnn::CellKind;

/// Sizes of one layer's segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentShape {
    pub batch: usize,
    pub time: usize,
    pub hidden: usize,
    /// k: slices of width `hidden` the inputs are projected into.
    pub slices: usize,
}

impl SegmentShape {
    fn width(&self) -> usize {
        self.slices * self.hidden
    }
    fn state(&self) -> usize {
        self.batch * self.hidden
    }
}

/// What the backward needs from the forward, per step `t`.
#[derive(Debug, Clone)]
pub struct Tape {
    /// `h_{t-1} ⊙ mask`, `[T, B, H]`.
    h_in: Vec<f32>,
    /// `hp_t`, `[T, B, k·H]`.
    hp: Vec<f32>,
    /// c_{t-1}, `[T, B, H]`.
    c_prev: Vec<f32>,
    /// The cell's saved values, `[T, values, B, H]` (see [`values_per_step`]).
    values: Vec<f32>,
}

/// Saved `[B, H]` planes per step: an LSTM's four gates after their activations, c_t and tanh c_t;
/// a tree's pre-activation and activation of every node, then the inject's combination and
/// its activation.
fn values_per_step(kind: &CellKind) -> usize {
    match kind {
        CellKind::Lstm => 6,
        CellKind::Tree(c) => 2 * c.nodes.len() + 2,
    }
}

/// Forward of the layer: the `[B, T + 1, H]` output and the tape for [`backward`].
pub fn forward(
    kind: &CellKind,
    xp: &[f32],
    u: &[f32],
    h0: &[f32],
    c0: &[f32],
    mask: Option<&[f32]>,
    s: &SegmentShape,
) -> (Vec<f32>, Tape) {
    let (n, w, (b, t_len, hd)) = (s.state(), s.width(), (s.batch, s.time, s.hidden));
    assert_eq!((xp.len(), u.len(), h0.len(), c0.len()), (b * t_len * w, hd * w, n, n), "recurrent layer sizes");
    assert!(mask.is_none_or(|m| m.len() == n));
    let vals = values_per_step(kind);
    let mut tape = Tape {
        h_in: vec![0.0; t_len * n],
        hp: vec![0.0; t_len * b * w],
        c_prev: vec![0.0; t_len * n],
        values: vec![0.0; t_len * vals * n],
    };
    let mut out = vec![0.0f32; b * (t_len + 1) * hd];
    let (mut h, mut c) = (h0.to_vec(), c0.to_vec());
    let mut xt = vec![0.0f32; b * w];
    for t in 0..t_len {
        let h_in = &mut tape.h_in[t * n..(t + 1) * n];
        match mask {
            Some(m) => h_in.iter_mut().zip(h.iter().zip(m)).for_each(|(o, (h, m))| *o = h * m),
            None => h_in.copy_from_slice(&h),
        }
        let hp = &mut tape.hp[t * b * w..(t + 1) * b * w];
        product(hp, (b, w, hd), Operand::plain(h_in), Operand::plain(u), false);
        for r in 0..b {
            xt[r * w..(r + 1) * w].copy_from_slice(&xp[(r * t_len + t) * w..(r * t_len + t + 1) * w]);
        }
        tape.c_prev[t * n..(t + 1) * n].copy_from_slice(&c);
        let v = &mut tape.values[t * vals * n..(t + 1) * vals * n];
        match kind {
            CellKind::Lstm => lstm_forward(&xt, hp, &c, v, &mut h, s),
            CellKind::Tree(cell) => tree_forward(cell, &xt, hp, &tape.c_prev[t * n..(t + 1) * n], v, &mut h, s),
        }
        c = match kind {
            CellKind::Lstm => v[4 * n..5 * n].to_vec(),
            CellKind::Tree(cell) => v[2 * cell.cell_out * n..(2 * cell.cell_out + 1) * n].to_vec(),
        };
        for r in 0..b {
            out[(r * (t_len + 1) + t) * hd..][..hd].copy_from_slice(&h[r * hd..(r + 1) * hd]);
        }
    }
    for r in 0..b {
        out[(r * (t_len + 1) + t_len) * hd..][..hd].copy_from_slice(&c[r * hd..(r + 1) * hd]);
    }
    (out, tape)
}

/// Gradients of one layer's segment.
pub struct LayerGradients {
    pub xp: Vec<f32>,
    pub u: Vec<f32>,
    pub h0: Vec<f32>,
    pub c0: Vec<f32>,
}

/// Backward through time: `d_out` is the gradient of the `[B, T + 1, H]` output.
pub fn backward(
    kind: &CellKind,
    xp: &[f32],
    u: &[f32],
    mask: Option<&[f32]>,
    tape: &Tape,
    d_out: &[f32],
    s: &SegmentShape,
) -> LayerGradients {
    let (n, w, (b, t_len, hd)) = (s.state(), s.width(), (s.batch, s.time, s.hidden));
    assert_eq!(d_out.len(), b * (t_len + 1) * hd);
    let vals = values_per_step(kind);
    let mut dxp = vec![0.0f32; b * t_len * w];
    let mut dhp_all = vec![0.0f32; t_len * b * w];
    let mut dh = vec![0.0f32; n];
    let mut dc = vec![0.0f32; n];
    for r in 0..b {
        dc[r * hd..(r + 1) * hd].copy_from_slice(&d_out[(r * (t_len + 1) + t_len) * hd..][..hd]);
    }
    let mut xt = vec![0.0f32; b * w];
    let mut dxt = vec![0.0f32; b * w];
    let mut scratch = vec![0.0f32; if let CellKind::Tree(c) = kind { tree_scratch(c) * n } else { 0 }];
    for t in (0..t_len).rev() {
        for r in 0..b {
            let row = &d_out[(r * (t_len + 1) + t) * hd..][..hd];
            dh[r * hd..(r + 1) * hd].iter_mut().zip(row).for_each(|(d, g)| *d += g);
        }
        for r in 0..b {
            xt[r * w..(r + 1) * w].copy_from_slice(&xp[(r * t_len + t) * w..(r * t_len + t + 1) * w]);
        }
        let v = &tape.values[t * vals * n..(t + 1) * vals * n];
        let hp = &tape.hp[t * b * w..(t + 1) * b * w];
        let c_prev = &tape.c_prev[t * n..(t + 1) * n];
        let dhp = &mut dhp_all[t * b * w..(t + 1) * b * w];
        match kind {
            CellKind::Lstm => lstm_backward(v, c_prev, &dh, &mut dc, &mut dxt, dhp, s),
            CellKind::Tree(cell) => {
                tree_backward(cell, &xt, hp, c_prev, v, &dh, &mut dc, &mut dxt, dhp, &mut scratch, s)
            }
        }
        for r in 0..b {
            dxp[(r * t_len + t) * w..(r * t_len + t + 1) * w].copy_from_slice(&dxt[r * w..(r + 1) * w]);
        }
        product(&mut dh, (b, hd, w), Operand::plain(dhp), Operand::t(u), false);
        if let Some(m) = mask {
            multiply(&mut dh, m);
        }
    }
    let mut du = vec![0.0f32; hd * w];
    product(&mut du, (hd, w, t_len * b), Operand::t(&tape.h_in), Operand::plain(&dhp_all), false);
    LayerGradients { xp: dxp, u: du, h0: dh, c0: dc }
}

wide! {
    /// `d ⊙= m`.
    fn multiply(d: &mut [f32], m: &[f32]) {
        d.iter_mut().zip(m).for_each(|(d, m)| *d *= m);
    }
}

// ---- LSTM: gates i, f, g (candidate), o in that slice order ----

wide! {
fn lstm_forward(xt: &[f32], hp: &[f32], c_prev: &[f32], v: &mut [f32], h: &mut [f32], s: &SegmentShape) {
    let (n, hd, w) = (s.state(), s.hidden, s.width());
    let (gi, rest) = v.split_at_mut(n);
    let (gf, rest) = rest.split_at_mut(n);
    let (gg, rest) = rest.split_at_mut(n);
    let (go, rest) = rest.split_at_mut(n);
    let (cs, tc) = rest.split_at_mut(n);
    for r in 0..s.batch {
        let (x, p) = (&xt[r * w..(r + 1) * w], &hp[r * w..(r + 1) * w]);
        let o = r * hd;
        for j in 0..hd {
            let i = fast_math::sigmoid(x[j] + p[j]);
            let f = fast_math::sigmoid(x[hd + j] + p[hd + j]);
            let g = fast_math::tanh(x[2 * hd + j] + p[2 * hd + j]);
            let og = fast_math::sigmoid(x[3 * hd + j] + p[3 * hd + j]);
            let c = f * c_prev[o + j] + i * g;
            let t = fast_math::tanh(c);
            (gi[o + j], gf[o + j], gg[o + j], go[o + j], cs[o + j], tc[o + j]) = (i, f, g, og, c, t);
            h[o + j] = og * t;
        }
    }
}
}

wide! {
/// One step back: `dc` holds dL/dc_t on entry (from later steps) and dL/dc_{t-1} on exit.
fn lstm_backward(
    v: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dxt: &mut [f32],
    dhp: &mut [f32],
    s: &SegmentShape,
) {
    let (n, hd, w) = (s.state(), s.hidden, s.width());
    let (gi, gf, gg, go, tc) = (&v[..n], &v[n..2 * n], &v[2 * n..3 * n], &v[3 * n..4 * n], &v[5 * n..6 * n]);
    for r in 0..s.batch {
        let o = r * hd;
        let dz = &mut dxt[r * w..(r + 1) * w];
        for j in 0..hd {
            let k = o + j;
            let (i, f, g, og, t) = (gi[k], gf[k], gg[k], go[k], tc[k]);
            let d_o = dh[k] * t;
            let dct = dc[k] + dh[k] * og * (1.0 - t * t);
            dz[j] = dct * g * i * (1.0 - i);
            dz[hd + j] = dct * c_prev[k] * f * (1.0 - f);
            dz[2 * hd + j] = dct * i * (1.0 - g * g);
            dz[3 * hd + j] = d_o * og * (1.0 - og);
            dc[k] = dct * f;
        }
        dhp[r * w..(r + 1) * w].copy_from_slice(dz);
    }
}
}

// ---- tree cells ----
//
// Each node is one pass over its `[B, H]` planes, with the loop monomorphised per combination
// and activation (a `match` inside the loop would keep LLVM from vectorising it).

/// `pre = a ∘ b`, `y = act(pre)` element-wise.
#[inline(always)]
fn node_pass(c: Combine, act: Activation, a: &[f32], b: &[f32], pre: &mut [f32], y: &mut [f32]) {
    #[inline(always)]
    fn run(
        comb: impl Fn(f32, f32) -> f32,
        act: impl Fn(f32) -> f32,
        a: &[f32],
        b: &[f32],
        pre: &mut [f32],
        y: &mut [f32],
    ) {
        for (((p, y), a), b) in pre.iter_mut().zip(y.iter_mut()).zip(a).zip(b) {
            *p = comb(*a, *b);
            *y = act(*p);
        }
    }
    #[inline(always)]
    fn with(comb: impl Fn(f32, f32) -> f32, act: Activation, a: &[f32], b: &[f32], pre: &mut [f32], y: &mut [f32]) {
        match act {
            Activation::Identity => run(comb, |x| x, a, b, pre, y),
            Activation::Tanh => run(comb, fast_math::tanh, a, b, pre, y),
            Activation::Sigmoid => run(comb, fast_math::sigmoid, a, b, pre, y),
            Activation::Relu => run(comb, |x| if x > 0.0 { x } else { 0.0 }, a, b, pre, y),
            Activation::Sin => run(comb, f32::sin, a, b, pre, y),
        }
    }
    match c {
        Combine::Add => with(|a, b| a + b, act, a, b, pre, y),
        Combine::ElemMult => with(|a, b| a * b, act, a, b, pre, y),
        // burn's `max_pair`: a on ties.
        Combine::Max => with(|a, b| if a >= b { a } else { b }, act, a, b, pre, y),
    }
}

/// `g ← g · act'(pre)`, with `y = act(pre)`.
#[inline(always)]
fn activation_back(act: Activation, pre: &[f32], y: &[f32], g: &mut [f32]) {
    match act {
        Activation::Identity => {}
        Activation::Tanh => g.iter_mut().zip(y).for_each(|(g, y)| *g *= 1.0 - y * y),
        Activation::Sigmoid => g.iter_mut().zip(y).for_each(|(g, y)| *g *= y * (1.0 - y)),
        Activation::Relu => g.iter_mut().zip(pre).for_each(|(g, x)| *g = if *x > 0.0 { *g } else { 0.0 }),
        Activation::Sin => g.iter_mut().zip(pre).for_each(|(g, x)| *g *= x.cos()),
    }
}

/// `(da, db) = g · ∂(a ∘ b)/∂(a, b)`; for `max` the larger operand (a on ties) gets it all.
#[inline(always)]
fn combination_back(c: Combine, a: &[f32], b: &[f32], g: &[f32], da: &mut [f32], db: &mut [f32]) {
    let all = da.iter_mut().zip(db.iter_mut()).zip(g).zip(a.iter().zip(b));
    match c {
        Combine::Add => all.for_each(|(((da, db), g), _)| (*da, *db) = (*g, *g)),
        Combine::ElemMult => all.for_each(|(((da, db), g), (a, b))| (*da, *db) = (g * b, g * a)),
        Combine::Max => all.for_each(|(((da, db), g), (a, b))| {
            (*da, *db) = if a >= b { (*g, 0.0) } else { (0.0, *g) };
        }),
    }
}

/// Plane `k` of the saved values: node k's pre-activation is plane 2k, its activation 2k + 1;
/// the inject's combination and activation are the last two.
#[inline(always)]
fn plane(v: &[f32], k: usize, n: usize) -> &[f32] {
    &v[k * n..(k + 1) * n]
}

/// Node `k`'s output: its activation (in `nodes`, the node planes), or the inject's activation
/// `inject_out` for the node that receives c_{t-1}.
#[inline(always)]
fn node_out<'a>(cell: &RnnCell, nodes: &'a [f32], inject_out: &'a [f32], k: usize, n: usize) -> &'a [f32] {
    if k == cell.inject_into { inject_out } else { plane(nodes, 2 * k + 1, n) }
}

/// Planes of scratch [`tree_backward`] needs: one per node, then two.
fn tree_scratch(cell: &RnnCell) -> usize {
    cell.nodes.len() + 2
}

wide! {
    fn tree_forward(
        cell: &RnnCell,
        xt: &[f32],
        hp: &[f32],
        c_prev: &[f32],
        v: &mut [f32],
        h: &mut [f32],
        s: &SegmentShape,
    ) {
        let (n, hd, w) = (s.state(), s.hidden, s.width());
        let (nodes, inject) = v.split_at_mut(2 * cell.nodes.len() * n);
        let (q, o) = inject.split_at_mut(n);
        for (k, node) in cell.nodes.iter().enumerate() {
            let (before, rest) = nodes.split_at_mut(2 * k * n);
            let (pre, rest) = rest.split_at_mut(n);
            let y = &mut rest[..n];
            match cell.inputs(k) {
                NodeInputs::Leaf(i) => {
                    for r in 0..s.batch {
                        let (x, p) = (&xt[r * w + i * hd..][..hd], &hp[r * w + i * hd..][..hd]);
                        let rows = r * hd..(r + 1) * hd;
                        node_pass(node.combine, node.activation, x, p, &mut pre[rows.clone()], &mut y[rows]);
                    }
                }
                NodeInputs::Children(l, rr) => {
                    let (a, b) = (node_out(cell, before, o, l, n), node_out(cell, before, o, rr, n));
                    node_pass(node.combine, node.activation, a, b, pre, y);
                }
            }
            if k == cell.inject_into {
                node_pass(cell.inject.combine, cell.inject.activation, y, c_prev, q, o);
            }
        }
        h.copy_from_slice(node_out(cell, nodes, o, cell.root(), n));
    }
}

wide! {
    /// One step back through a tree cell; `dc` is dL/dc_t on entry and dL/dc_{t-1} on exit;
    /// `scratch` holds [`tree_scratch`] `[B, H]` planes.
    fn tree_backward(
        cell: &RnnCell,
        xt: &[f32],
        hp: &[f32],
        c_prev: &[f32],
        v: &[f32],
        dh: &[f32],
        dc: &mut [f32],
        dxt: &mut [f32],
        dhp: &mut [f32],
        scratch: &mut [f32],
        s: &SegmentShape,
    ) {
        let (n, hd, w) = (s.state(), s.hidden, s.width());
        let last = 2 * cell.nodes.len();
        let (nodes_v, inject_out) = (&v[..last * n], &v[(last + 1) * n..]);
        let (grads, extra) = scratch.split_at_mut(cell.nodes.len() * n);
        let (dc_t, dy) = extra.split_at_mut(n);
        dc_t.copy_from_slice(dc);
        let root = cell.root();
        grads[root * n..(root + 1) * n].copy_from_slice(dh);
        for (k, node) in cell.nodes.iter().enumerate().rev() {
            let (lower, upper) = grads.split_at_mut(k * n);
            let g = &mut upper[..n];
            let (pre, y) = (plane(v, 2 * k, n), plane(v, 2 * k + 1, n));
            if k == cell.inject_into {
                // g is dL/d(inject output): back through the inject to y_k and c_{t-1}.
                let (q, o) = (plane(v, last, n), plane(v, last + 1, n));
                activation_back(cell.inject.activation, q, o, g);
                combination_back(cell.inject.combine, y, c_prev, g, dy, dc);
                g.copy_from_slice(dy);
            }
            activation_back(node.activation, pre, y, g);
            if k == cell.cell_out {
                g.iter_mut().zip(dc_t.iter()).for_each(|(g, d)| *g += d);
            }
            match cell.inputs(k) {
                NodeInputs::Leaf(i) => {
                    for r in 0..s.batch {
                        let (x, p) = (&xt[r * w + i * hd..][..hd], &hp[r * w + i * hd..][..hd]);
                        let (dx, dp) = (&mut dxt[r * w + i * hd..][..hd], &mut dhp[r * w + i * hd..][..hd]);
                        combination_back(node.combine, x, p, &g[r * hd..(r + 1) * hd], dx, dp);
                    }
                }
                NodeInputs::Children(l, rr) => {
                    let (a, b) = (node_out(cell, nodes_v, inject_out, l, n), node_out(cell, nodes_v, inject_out, rr, n));
                    let (la, lb) = lower.split_at_mut(rr * n);
                    combination_back(node.combine, a, b, g, &mut la[l * n..(l + 1) * n], &mut lb[..n]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_support::values;

    /// Forward and backward of a segment large enough for the products to run on every thread.
    fn run(kind: &CellKind, s: &SegmentShape) -> (Vec<f32>, LayerGradients) {
        let (n, w) = (s.state(), s.width());
        let xp = values(s.batch * s.time * w, 1);
        let u: Vec<f32> = values(s.hidden * w, 2).iter().map(|v| v * 0.1).collect();
        let (h0, c0, mask) = (values(n, 3), values(n, 4), values(n, 5));
        let (out, tape) = forward(kind, &xp, &u, &h0, &c0, Some(&mask), s);
        let d_out = values(out.len(), 6);
        let g = backward(kind, &xp, &u, Some(&mask), &tape, &d_out, s);
        (out, g)
    }

    #[test]
    fn the_same_bits_on_one_and_two_threads() {
        let tree: RnnCell = "add:tanh mul:sigmoid add:relu add:identity mul:tanh add:sigmoid add:tanh mul:relu \
             add:tanh mul:sigmoid max:identity add:tanh mul:relu add:sigmoid add:sin | max:tanh | c=9 inject=4"
            .parse()
            .unwrap();
        for kind in [CellKind::Tree(tree), CellKind::Lstm] {
            let s = SegmentShape { batch: 20, time: 3, hidden: 128, slices: kind.slices() };
            let on = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| run(&kind, &s))
            };
            let ((o1, g1), (o2, g2)) = (on(1), on(2));
            assert_eq!(o1, o2, "{kind:?} output");
            for (a, b) in [(&g1.xp, &g2.xp), (&g1.u, &g2.u), (&g1.h0, &g2.h0), (&g1.c0, &g2.c0)] {
                assert_eq!(a, b, "{kind:?} gradients");
            }
            assert!(g1.u.iter().any(|v| *v != 0.0));
        }
    }
}
