//! The decoder of a language model and its loss in one pass: logits = h · W + b over the
//! vocabulary, log-softmax and the mean negative log-likelihood of the targets, and the backward
//! that PyTorch's `cross_entropy` also takes — softmax − one-hot, then the three products
//! `dh = dlogits · Wᵀ`, `dW = hᵀ · dlogits`, `db = Σ_rows dlogits`. burn's path runs the decoder,
//! a `log_softmax` and a gather as separate operations (with libm's scalar `expf`); here the rows
//! are normalised in place, on every thread, with the vectorised `exp` of [`super::fast_math`].
//!
//! Shapes: `h` `[rows, hidden]`, `W` `[hidden, vocab]` (a `Linear` decoder) or `[vocab, hidden]`
//! (tied to the embedding), `b` `[vocab]`, one target per row.

use rayon::prelude::*;

use super::fast_math::{exp, wide};
use super::matmul::{Operand, Product, product, product_with};

/// Sizes of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderShape {
    pub rows: usize,
    pub hidden: usize,
    pub vocab: usize,
    /// `W` is `[vocab, hidden]` (the embedding's weight), not `[hidden, vocab]`.
    pub tied: bool,
}

impl DecoderShape {
    fn weight<'a>(&self, w: &'a [f32]) -> Operand<'a> {
        if self.tied { Operand::t(w) } else { Operand::plain(w) }
    }
}

/// The forward's result: the mean loss and the softmax of every row (`[rows, vocab]`), which
/// the backward turns into the logits' gradient in place.
#[derive(Debug, Clone)]
pub struct LossForward {
    pub loss: f32,
    pub probs: Vec<f32>,
}

/// Mean cross-entropy of `targets` under softmax(h · W + b).
pub fn forward(h: &[f32], w: &[f32], bias: &[f32], targets: &[u32], s: &DecoderShape) -> LossForward {
    let DecoderShape { rows, hidden, vocab, .. } = *s;
    assert_eq!((h.len(), w.len(), bias.len(), targets.len()), (rows * hidden, hidden * vocab, vocab, rows));
    assert!(targets.iter().all(|&t| (t as usize) < vocab), "target outside the vocabulary");
    let mut probs = vec![0.0f32; rows * vocab];
    product(&mut probs, (rows, vocab, hidden), Operand::plain(h), s.weight(w), false);
    let losses: Vec<f64> =
        probs.par_chunks_mut(vocab).zip(targets.par_iter()).map(|(row, &t)| normalise(row, bias, t as usize)).collect();
    // Summed in row order: the same bits on any number of threads.
    let loss = (losses.iter().sum::<f64>() / rows.max(1) as f64) as f32;
    LossForward { loss, probs }
}

/// Lanes of the row passes: reductions keep this many partial results (LLVM does not reorder a
/// float sum by itself, so a single accumulator would not vectorise); the lanes are combined in
/// a fixed order.
const LANES: usize = 16;

wide! {
    /// Add the bias to the logits in `row` and replace them by their softmax (one row stays in
    /// cache for the three passes); the negative log-likelihood of `target`.
    fn normalise(row: &mut [f32], bias: &[f32], target: usize) -> f64 {
        let (chunks, tail) = row.as_chunks_mut::<LANES>();
        let (bias_chunks, bias_tail) = bias.as_chunks::<LANES>();
        let mut lanes = [f32::NEG_INFINITY; LANES];
        for (c, b) in chunks.iter_mut().zip(bias_chunks) {
            for i in 0..LANES {
                c[i] += b[i];
                lanes[i] = if c[i] > lanes[i] { c[i] } else { lanes[i] };
            }
        }
        let mut max = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for (v, b) in tail.iter_mut().zip(bias_tail) {
            *v += b;
            max = max.max(*v);
        }
        let target_logit = row[target];
        let (chunks, tail) = row.as_chunks_mut::<LANES>();
        let mut sums = [0.0f32; LANES];
        for c in chunks.iter_mut() {
            for i in 0..LANES {
                c[i] = exp(c[i] - max);
                sums[i] += c[i];
            }
        }
        let mut sum: f32 = sums.iter().sum();
        for v in tail.iter_mut() {
            *v = exp(*v - max);
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
        (sum as f64).ln() + (max - target_logit) as f64
    }
}

/// Gradients of `scale × loss` for h, W and b (`scale` is the loss's incoming gradient);
/// `probs` is the forward's and becomes dlogits.
pub struct LossGradients {
    pub h: Vec<f32>,
    pub w: Vec<f32>,
    pub bias: Vec<f32>,
}

/// The backward of [`forward`]; `probs` is consumed as scratch.
pub fn backward(
    h: &[f32],
    w: &[f32],
    targets: &[u32],
    mut probs: Vec<f32>,
    scale: f32,
    s: &DecoderShape,
) -> LossGradients {
    let DecoderShape { rows, hidden, vocab, tied } = *s;
    // dlogits = k · (softmax − one-hot); the factor k rides on the products instead of a pass
    // over the `[rows, vocab]` matrix.
    let k = scale / rows.max(1) as f32;
    for (r, &t) in targets.iter().enumerate() {
        probs[r * vocab + t as usize] -= 1.0;
    }
    let dl = probs;
    let how = Product { accumulate: false, scale: k, parallel: true };
    let mut dh = vec![0.0f32; rows * hidden];
    let wt = if tied { Operand::plain(w) } else { Operand::t(w) };
    product_with(&mut dh, (rows, hidden, vocab), Operand::plain(&dl), wt, how);
    let mut dw = vec![0.0f32; hidden * vocab];
    if tied {
        product_with(&mut dw, (vocab, hidden, rows), Operand::t(&dl), Operand::plain(h), how);
    } else {
        product_with(&mut dw, (hidden, vocab, rows), Operand::t(h), Operand::plain(&dl), how);
    }
    let mut db = column_sums(&dl, vocab);
    db.iter_mut().for_each(|v| *v *= k);
    LossGradients { h: dh, w: dw, bias: db }
}

/// Σ over rows of a row-major `[_, cols]` matrix, split by columns (rows added in order).
fn column_sums(m: &[f32], cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; cols];
    let chunk = cols.div_ceil(rayon::current_num_threads().max(1)).max(256);
    out.par_chunks_mut(chunk).enumerate().for_each(|(i, part)| {
        let start = i * chunk;
        add_rows(part, m, cols, start)
    });
    out
}

wide! {
    /// `part += Σ rows of m[.., start..start + part.len()]`.
    fn add_rows(part: &mut [f32], m: &[f32], cols: usize, start: usize) {
        let len = part.len();
        for row in m.chunks_exact(cols) {
            for (o, v) in part.iter_mut().zip(&row[start..start + len]) {
                *o += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_support::values;

    /// The loss by the textbook formulas in f64, for checking.
    fn reference(h: &[f32], w: &[f32], b: &[f32], t: &[u32], s: &DecoderShape) -> f64 {
        let mut total = 0.0;
        for r in 0..s.rows {
            let logits: Vec<f64> = (0..s.vocab)
                .map(|v| {
                    let dot: f64 = (0..s.hidden)
                        .map(|j| {
                            let wv = if s.tied { w[v * s.hidden + j] } else { w[j * s.vocab + v] };
                            h[r * s.hidden + j] as f64 * wv as f64
                        })
                        .sum();
                    dot + b[v] as f64
                })
                .collect();
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
            total += lse - logits[t[r] as usize];
        }
        total / s.rows as f64
    }

    #[test]
    fn loss_and_gradients_match_the_formulas_and_finite_differences() {
        for tied in [false, true] {
            let s = DecoderShape { rows: 5, hidden: 3, vocab: 7, tied };
            let h = values(15, 1);
            let w: Vec<f32> = values(21, 2).iter().map(|v| v * 2.0).collect();
            let b = values(7, 3);
            let t = [0u32, 6, 3, 3, 1];
            let f = forward(&h, &w, &b, &t, &s);
            assert!((f.loss as f64 - reference(&h, &w, &b, &t, &s)).abs() < 1e-5);
            let g = backward(&h, &w, &t, f.probs, 2.0, &s);
            let eps = 1e-3;
            let check = |name: &str, grad: &[f32], base: &[f32], with: &dyn Fn(&[f32]) -> f64| {
                for i in 0..base.len() {
                    let (mut up, mut down) = (base.to_vec(), base.to_vec());
                    up[i] += eps;
                    down[i] -= eps;
                    let numeric = 2.0 * (with(&up) - with(&down)) / (2.0 * eps as f64);
                    assert!(
                        (grad[i] as f64 - numeric).abs() < 1e-3,
                        "{name}[{i}] tied={tied}: {} vs {numeric}",
                        grad[i]
                    );
                }
            };
            check("h", &g.h, &h, &|x| reference(x, &w, &b, &t, &s));
            check("w", &g.w, &w, &|x| reference(&h, x, &b, &t, &s));
            check("b", &g.bias, &b, &|x| reference(&h, &w, x, &t, &s));
        }
    }

    #[test]
    fn large_logits_do_not_overflow() {
        let s = DecoderShape { rows: 1, hidden: 1, vocab: 3, tied: false };
        let f = forward(&[100.0], &[1.0, 0.0, -1.0], &[0.0; 3], &[0], &s);
        assert!(f.loss.is_finite() && f.loss < 1e-30 + 1e-6, "{}", f.loss);
        assert!((f.probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}

#[cfg(test)]
mod thread_tests {
    use super::*;
    use crate::kernels::test_support::values;

    #[test]
    fn the_same_bits_on_one_and_two_threads() {
        let s = DecoderShape { rows: 64, hidden: 64, vocab: 1000, tied: false };
        let (h, w, b) = (values(64 * 64, 1), values(64 * 1000, 2), values(1000, 3));
        let t: Vec<u32> = (0..64).map(|i| (i * 37 % 1000) as u32).collect();
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let f = forward(&h, &w, &b, &t, &s);
                (f.loss, backward(&h, &w, &t, f.probs, 1.0, &s))
            })
        };
        let ((l1, g1), (l2, g2)) = (on(1), on(2));
        assert_eq!(l1, l2);
        assert_eq!((g1.h, g1.w, g1.bias), (g2.h, g2.w, g2.bias));
    }
}
