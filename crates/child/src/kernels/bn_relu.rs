//! Training-mode batch norm followed by ReLU, fused, on plain `f32` NCHW slices: one pass for the
//! per-channel statistics, one for the output; the backward the same way. burn's generic batch
//! norm transposes the activation to `[C, B·H·W]` (a copy) for every statistic, forward and
//! backward, and ReLU is two more passes.
//!
//! With `x̂ = (x − mean) / √(var + ε)` (biased variance over batch and pixels, as burn computes it)
//! and `y = max(0, γ·x̂ + β)`, the backward takes `dz = dy · [y > 0]` and, per channel over its
//! `N = B·H·W` values, `dβ = Σ dz`, `dγ = Σ dz·x̂`, `dx = γ/√(var + ε) · (dz − dβ/N − x̂·dγ/N)`.

use rayon::prelude::*;

use super::{images_per_thread, par_filled};

/// Shape of the activation: `[batch, channels, pixels]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub batch: usize,
    pub channels: usize,
    /// Height × width.
    pub pixels: usize,
}

impl Shape {
    fn image(&self) -> usize {
        self.channels * self.pixels
    }
    fn count(&self) -> f64 {
        (self.batch * self.pixels) as f64
    }
    /// The values of channel `c` of every image, as `batch` contiguous runs.
    fn runs<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (image, pixels) = (self.image(), self.pixels);
        (0..self.batch).map(move |b| &x[b * image + c * pixels..][..pixels])
    }
}

/// What the forward returns.
#[derive(Debug, Clone)]
pub struct Forward {
    pub output: Vec<f32>,
    /// Per-channel batch mean and (biased) variance.
    pub mean: Vec<f32>,
    pub variance: Vec<f32>,
}

/// Gradients of the input, `γ` and `β`.
#[derive(Debug, Clone)]
pub struct Backward {
    pub x: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

const LANES: usize = 16;

/// `Σ g(a[i], b[i], c[i])` (`N` sums at once) in 16 independent accumulators each, so the loop
/// vectorises (a sequential float sum cannot be reordered by the compiler and runs at one add per
/// add-latency). A run is one image's channel (H·W values, so each lane adds H·W/16 of them in
/// `f32`); runs are added up in `f64`.
fn sum<const N: usize>(a: &[f32], b: &[f32], c: &[f32], g: impl Fn(f32, f32, f32) -> [f32; N]) -> [f32; N] {
    let mut acc = [[0.0f32; LANES]; N];
    let n = a.len() / LANES * LANES;
    for ((a, b), c) in a[..n].chunks_exact(LANES).zip(b[..n].chunks_exact(LANES)).zip(c[..n].chunks_exact(LANES)) {
        for l in 0..LANES {
            let v = g(a[l], b[l], c[l]);
            for (acc, v) in acc.iter_mut().zip(v) {
                acc[l] += v;
            }
        }
    }
    let mut out: [f32; N] = std::array::from_fn(|j| acc[j].iter().sum::<f32>());
    for i in n..a.len() {
        for (o, v) in out.iter_mut().zip(g(a[i], b[i], c[i])) {
            *o += v;
        }
    }
    out
}

/// Per channel, `f(channel)` in parallel.
fn per_channel<T: Send>(channels: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    (0..channels).into_par_iter().map(f).collect()
}

/// `out[i] = f(channel of i)(a[i], b[i], c[i])` for every element, images in parallel. `f` gives
/// one channel's element function, so its per-channel constants are looked up once per run and
/// the loop over the run vectorises.
fn map_images<G: Fn(f32, f32, f32) -> f32>(
    s: &Shape,
    a: &[f32],
    b: &[f32],
    c: &[f32],
    f: impl Fn(usize) -> G + Sync + Send,
) -> Vec<f32> {
    let per = images_per_thread(s.batch) * s.image();
    // SAFETY: every chunk writes each of its values once.
    unsafe {
        par_filled(a.len(), per, |i, o| {
            let at = i * per..i * per + o.len();
            let (a, b, c) = (&a[at.clone()], &b[at.clone()], &c[at]);
            // Every chunk starts at an image, so run i is channel i mod C.
            let runs = a.chunks(s.pixels).zip(b.chunks(s.pixels).zip(c.chunks(s.pixels)));
            for (i, (o, (a, (b, c)))) in o.chunks_mut(s.pixels).zip(runs).enumerate() {
                let g = f(i % s.channels);
                for (o, (&a, (&b, &c))) in o.iter_mut().zip(a.iter().zip(b.iter().zip(c))) {
                    o.write(g(a, b, c));
                }
            }
        })
    }
}

/// `y = relu(γ·x̂ + β)` and the batch statistics.
pub fn forward(x: &[f32], gamma: &[f32], beta: &[f32], epsilon: f64, s: &Shape) -> Forward {
    assert_eq!(x.len(), s.batch * s.image(), "batch-norm input size");
    assert_eq!((gamma.len(), beta.len()), (s.channels, s.channels), "batch-norm parameter size");
    let stats = per_channel(s.channels, |c| {
        let total: f64 = s.runs(x, c).map(|r| sum(r, r, r, |v, _, _| [v])[0] as f64).sum();
        let mean = (total / s.count()) as f32;
        let sq: f64 = s.runs(x, c).map(|r| sum(r, r, r, |v, _, _| [(v - mean) * (v - mean)])[0] as f64).sum();
        (mean, (sq / s.count()) as f32)
    });
    let (mean, variance): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
    let scale: Vec<f32> = (0..s.channels).map(|c| gamma[c] / (variance[c] as f64 + epsilon).sqrt() as f32).collect();
    let shift: Vec<f32> = (0..s.channels).map(|c| beta[c] - mean[c] * scale[c]).collect();
    let output = map_images(s, x, x, x, |c| {
        let (scale, shift) = (scale[c], shift[c]);
        move |v, _, _| (v * scale + shift).max(0.0)
    });
    Forward { output, mean, variance }
}

/// Gradients from the output gradient `dy`, given the forward's input `x`, output `y` and
/// statistics.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    gamma: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
    s: &Shape,
) -> Backward {
    assert_eq!((x.len(), y.len(), dy.len()), (s.batch * s.image(), s.batch * s.image(), s.batch * s.image()));
    let inv: Vec<f32> = variance.iter().map(|&v| 1.0 / (v as f64 + epsilon).sqrt() as f32).collect();
    let sums = per_channel(s.channels, |c| {
        let (mut dbeta, mut dgamma) = (0.0f64, 0.0f64);
        for ((xr, yr), dr) in s.runs(x, c).zip(s.runs(y, c)).zip(s.runs(dy, c)) {
            // dz = dy·[y > 0]; Σ dz and Σ dz·(x − mean), times inv once at the end.
            let m = mean[c];
            let [db, dg] = sum(xr, yr, dr, |xv, yv, d| {
                let dz = if yv > 0.0 { d } else { 0.0 };
                [dz, dz * (xv - m)]
            });
            dbeta += db as f64;
            dgamma += (dg * inv[c]) as f64;
        }
        (dgamma as f32, dbeta as f32)
    });
    let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
    let n = s.count() as f32;
    // dx = γ·inv · (dz − dβ/N − x̂·dγ/N), with x̂ = (x − mean)·inv.
    let k: Vec<f32> = (0..s.channels).map(|c| gamma[c] * inv[c]).collect();
    let dx = map_images(s, x, y, dy, |c| {
        // k·(dz − dβ/N − (x − mean)·inv·dγ/N) = k·dz + (x − mean)·slope + offset
        let (k, mean) = (k[c], mean[c]);
        let (slope, offset) = (-k * inv[c] * dgamma[c] / n, -k * dbeta[c] / n);
        move |xv, yv, d| {
            let dz = if yv > 0.0 { d } else { 0.0 };
            k * dz + (xv - mean) * slope + offset
        }
    });
    Backward { x: dx, gamma: dgamma, beta: dbeta }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 250.0 - 2.0)
            .collect()
    }

    const S: Shape = Shape { batch: 3, channels: 4, pixels: 5 };

    fn loss(x: &[f32], g: &[f32], b: &[f32], w: &[f32]) -> f64 {
        forward(x, g, b, 1e-5, &S).output.iter().zip(w).map(|(y, w)| (y * w) as f64).sum()
    }

    #[test]
    fn forward_normalises_each_channel_then_clamps() {
        let x = values(60, 1);
        let (g, b) = (vec![1.0; 4], vec![0.0; 4]);
        let f = forward(&x, &g, &b, 0.0, &S);
        for c in 0..4 {
            let vals: Vec<f32> = S.runs(&x, c).flatten().copied().collect();
            let mean = vals.iter().sum::<f32>() / 15.0;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 15.0;
            assert!((f.mean[c] - mean).abs() < 1e-5 && (f.variance[c] - var).abs() < 1e-4);
            for (y, v) in S.runs(&f.output, c).flatten().zip(&vals) {
                assert!((y - ((v - mean) / var.sqrt()).max(0.0)).abs() < 1e-4);
            }
        }
    }

    /// Every element of the three gradients against central differences of a weighted sum of
    /// the output (γ away from 1 and β away from 0, so both enter).
    #[test]
    fn gradients_match_finite_differences() {
        let x = values(60, 2);
        let g: Vec<f32> = vec![0.5, 1.5, -0.7, 1.0];
        let b: Vec<f32> = vec![0.1, -0.2, 0.3, 0.0];
        let w = values(60, 3);
        let f = forward(&x, &g, &b, 1e-5, &S);
        let grads = backward(&x, &f.output, &w, &g, &f.mean, &f.variance, 1e-5, &S);
        let h = 1e-3f32;
        let check = |analytic: &[f32], which: usize| {
            for i in 0..analytic.len() {
                let bump = |d: f32| {
                    let (mut x, mut g, mut b) = (x.clone(), g.clone(), b.clone());
                    [&mut x, &mut g, &mut b][which][i] += d;
                    loss(&x, &g, &b, &w)
                };
                let numeric = ((bump(h) - bump(-h)) / (2.0 * h as f64)) as f32;
                assert!(
                    (analytic[i] - numeric).abs() < 2e-2 * (1.0 + numeric.abs()),
                    "{which}[{i}]: {} vs {numeric}",
                    analytic[i]
                );
            }
        };
        check(&grads.x, 0);
        check(&grads.gamma, 1);
        check(&grads.beta, 2);
    }
}
