//! The convolution arithmetic on plain `f32` slices: forward, input gradient and weight gradient
//! of a 2-D convolution (no bias, no groups, no dilation), with the images split across the
//! current rayon pool's threads. On CPUs with AVX-512 or AVX2 all three run as gathers over the
//! window elements inside the image ([`super::direct`]; an input gradient with fewer than 8
//! input channels excepted); elsewhere each is one `gemm` product per image. There, at stride 1
//! the input gradient is itself a forward convolution (of `dy`, with the kernel flipped), so it
//! takes the same route; strided convolutions take `Wᵀ · dy` and col2im, the product over a
//! group of images at once when their output maps are small.
//!
//! The products, per image `b`, with `K = C·kh·kw` and `P = Ho·Wo` (`col_b` = im2col of image `b`, `[K, P]`):
//! - forward:         `y_b[O, P]   = W[O, K] · col_b[K, P]`
//! - input gradient:  `dcol_b[K, P] = Wᵀ[K, O] · dy_b[O, P]`, then col2im (scatter-add) into `dx_b`
//! - weight gradient: `dW[O, K]   += dy_b[O, P] · col_bᵀ[P, K]` (summed over fixed runs of
//!   images, the runs' sums then added in order, so no thread count changes the bits)
//!
//! A 1×1 convolution at stride 1 without padding reads the image itself as `col_b`.
//! Every tensor is NCHW and contiguous.

use std::ops::Range;

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::direct;
use super::images_per_thread;
use super::matmul::{View, matmul};

/// Shapes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub in_channels: usize,
    /// Input height and width.
    pub in_size: (usize, usize),
    pub out_channels: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    /// (top, left, bottom, right) zero padding.
    pub padding: (usize, usize, usize, usize),
}

impl Geometry {
    /// Output height and width.
    pub fn out_size(&self) -> (usize, usize) {
        let (h, w) = self.in_size;
        let (t, l, b, r) = self.padding;
        ((h + t + b - self.kernel.0) / self.stride.0 + 1, (w + l + r - self.kernel.1) / self.stride.1 + 1)
    }
    /// Rows of the im2col matrix: `C·kh·kw`.
    fn k(&self) -> usize {
        self.in_channels * self.kernel.0 * self.kernel.1
    }
    /// Output pixels per channel: `Ho·Wo`.
    fn p(&self) -> usize {
        let (oh, ow) = self.out_size();
        oh * ow
    }
    fn image_in(&self) -> usize {
        self.in_channels * self.in_size.0 * self.in_size.1
    }
    fn image_out(&self) -> usize {
        self.out_channels * self.p()
    }
    /// Whether the image itself is its im2col matrix (1×1, stride 1, no padding).
    fn is_pointwise(&self) -> bool {
        self.kernel == (1, 1) && self.stride == (1, 1) && self.padding == (0, 0, 0, 0)
    }
}

/// For kernel offset `j` (along one axis), the output positions `o` whose input position
/// `o·stride + j - pad` lies inside `0..size`: a half-open range.
pub(super) fn valid_range(j: usize, stride: usize, pad: usize, size: usize, out: usize) -> (usize, usize) {
    // o·s + j >= pad  ⇔  o >= ceil((pad - j) / s)
    let lo = if j >= pad { 0 } else { (pad - j).div_ceil(stride) };
    // o·s + j - pad < size  ⇔  o·s < size + pad - j
    let hi = if size + pad <= j { 0 } else { (size + pad - j).div_ceil(stride) };
    (lo.min(out), hi.min(out).max(lo.min(out)))
}

/// One row of the im2col matrix: input channel `c`, kernel offset `(i, j)`, and the output rows
/// `ys` and columns `xs` whose input pixel lies inside the image (the rest read padding).
struct PatchRow {
    c: usize,
    i: usize,
    j: usize,
    ys: Range<usize>,
    xs: Range<usize>,
}

/// Call `f` on the `K = C·kh·kw` rows of the im2col matrix, in order; each kernel offset's
/// valid output range is computed once, not once per channel.
fn each_patch_row(g: &Geometry, mut f: impl FnMut(PatchRow)) {
    let (oh, ow) = g.out_size();
    let range = |(lo, hi): (usize, usize)| lo..hi;
    let ys: Vec<Range<usize>> =
        (0..g.kernel.0).map(|i| range(valid_range(i, g.stride.0, g.padding.0, g.in_size.0, oh))).collect();
    let xs: Vec<Range<usize>> =
        (0..g.kernel.1).map(|j| range(valid_range(j, g.stride.1, g.padding.1, g.in_size.1, ow))).collect();
    for c in 0..g.in_channels {
        for (i, ys) in ys.iter().enumerate() {
            for (j, xs) in xs.iter().enumerate() {
                f(PatchRow { c, i, j, ys: ys.clone(), xs: xs.clone() });
            }
        }
    }
}

/// Fill `col` (`[K, P]`) with the patches of one image `x` (`[C, H, W]`).
fn im2col(x: &[f32], g: &Geometry, col: &mut [f32]) {
    let ((h, w), (sh, sw), (pt, pl, _, _), (oh, ow)) = (g.in_size, g.stride, g.padding, g.out_size());
    let mut dsts = col.chunks_mut(oh * ow);
    each_patch_row(g, |r| {
        let dst = dsts.next().expect("one row per channel and kernel offset");
        let plane = &x[r.c * h * w..(r.c + 1) * h * w];
        for (y, out) in dst.chunks_mut(ow).enumerate() {
            if !r.ys.contains(&y) || r.xs.is_empty() {
                out.fill(0.0);
                continue;
            }
            let src = &plane[(y * sh + r.i - pt) * w..][..w];
            out[..r.xs.start].fill(0.0);
            out[r.xs.end..].fill(0.0);
            if sw == 1 {
                let start = r.xs.start + r.j - pl;
                out[r.xs.clone()].copy_from_slice(&src[start..start + r.xs.len()]);
            } else {
                for (v, o) in out[r.xs.clone()].iter_mut().zip(r.xs.clone()) {
                    *v = src[o * sw + r.j - pl];
                }
            }
        }
    });
}

/// Add the columns `col` back into the image gradients `dx` (`[n, C, H, W]`): the transpose of
/// [`im2col`]. `col` is `[K, n·P]`, image `b`'s columns at `b·P..(b + 1)·P` of every row, so one
/// product serves `n` images.
fn col2im_add(col: &[f32], g: &Geometry, dx: &mut [f32]) {
    let ((h, w), (sh, sw), (pt, pl, _, _), (oh, ow)) = (g.in_size, g.stride, g.padding, g.out_size());
    let (p, area) = (oh * ow, h * w);
    let images = dx.len() / g.image_in();
    assert_eq!(col.len(), g.k() * images * p, "col2im columns");
    let mut rows = col.chunks_exact(images * p);
    each_patch_row(g, |r| {
        let row = rows.next().expect("one row per channel and kernel offset");
        if r.xs.is_empty() {
            return;
        }
        for (b, src) in row.chunks_exact(p).enumerate() {
            let plane = &mut dx[(b * g.in_channels + r.c) * area..][..area];
            for y in r.ys.clone() {
                let from = &src[y * ow + r.xs.start..y * ow + r.xs.end];
                let dst = &mut plane[(y * sh + r.i - pt) * w..][..w];
                let start = r.xs.start * sw + r.j - pl;
                for (d, s) in dst[start..].iter_mut().step_by(sw).zip(from) {
                    *d += s;
                }
            }
        }
    });
}

/// Forward: `y` (`[B, O, Ho, Wo]`) for input `x` (`[B, C, H, W]`) and weight `w` (`[O, C, kh, kw]`).
pub fn forward(x: &[f32], w: &[f32], g: &Geometry) -> Vec<f32> {
    let (k, p, o) = (g.k(), g.p(), g.out_channels);
    assert_eq!(x.len(), g.batch * g.image_in(), "conv input size");
    assert_eq!(w.len(), o * k, "conv weight size");
    let per = images_per_thread(g.batch);
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = direct::isa() {
        // Runs of a few images (the result does not depend on how they are split).
        let (wt, per) = (direct::pack_weight(w, g), per.min(direct::gather_images(p)));
        let windows = direct::Windows::forward_recent(g, o.next_multiple_of(16));
        // SAFETY: the gather writes every value of its images' outputs.
        return unsafe {
            super::par_filled(g.batch * g.image_out(), per * g.image_out(), |i, ys| {
                direct::forward(
                    &x[i * per * g.image_in()..][..ys.len() / g.image_out() * g.image_in()],
                    &wt,
                    g,
                    &windows,
                    ys,
                    isa,
                )
            })
        };
    }
    let mut y = vec![0.0f32; g.batch * g.image_out()];
    y.par_chunks_mut(per * g.image_out()).zip(x.par_chunks(per * g.image_in())).for_each(|(ys, xs)| {
        let mut col = if g.is_pointwise() { Vec::new() } else { vec![0.0f32; k * p] };
        for (yb, xb) in ys.chunks_mut(g.image_out()).zip(xs.chunks(g.image_in())) {
            let cols = if g.is_pointwise() {
                xb
            } else {
                im2col(xb, g, &mut col);
                &col
            };
            // SAFETY: w is [O, K], cols is [K, P].
            unsafe { matmul(o, p, k, yb, View::rows(w, k), View::rows(cols, p), false, 1.0, false) };
        }
    });
    y
}

/// Input gradient `dx` (`[B, C, H, W]`) from the output gradient `dy` (`[B, O, Ho, Wo]`).
///
/// At stride 1 (with padding below the kernel size) this is itself a convolution: of `dy`,
/// padded by `kernel - 1 - padding`, with the kernel flipped and its channel axes swapped. Else
/// `Wᵀ · dy_b` per image, scattered back by col2im.
pub fn backward_input(w: &[f32], dy: &[f32], g: &Geometry) -> Vec<f32> {
    let (k, p, o) = (g.k(), g.p(), g.out_channels);
    assert_eq!(dy.len(), g.batch * g.image_out(), "conv output-gradient size");
    // (With fewer than 8 input channels most of a gather's lanes would be padding.)
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = direct::isa().filter(|_| g.in_channels >= 8) {
        let (image_in, c) = (g.image_in(), g.in_channels);
        let per = images_per_thread(g.batch).min(direct::gather_images(g.in_size.0 * g.in_size.1));
        let (wp, windows) =
            (direct::pack_weight_transposed(w, g), direct::Windows::input_gradient_recent(g, c.next_multiple_of(16)));
        // SAFETY: the gather writes every value of its images' input gradients.
        return unsafe {
            super::par_filled(g.batch * image_in, per * image_in, |i, dxs| {
                let dys = &dy[i * per * g.image_out()..][..dxs.len() / image_in * g.image_out()];
                direct::backward_input(dys, &wp, g, &windows, dxs, isa)
            })
        };
    }
    let ((kh, kw), (t, l, b, r)) = (g.kernel, g.padding);
    if g.stride == (1, 1) && t.max(b) < kh && l.max(r) < kw {
        let c = g.in_channels;
        // flipped[ic][oc] = w[oc][ic] turned by 180°.
        let window = kh * kw;
        let mut flipped = vec![0.0f32; w.len()];
        for (oc, filter) in w.chunks_exact(c * window).enumerate() {
            for (ic, src) in filter.chunks_exact(window).enumerate() {
                let dst = &mut flipped[(ic * o + oc) * window..][..window];
                for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                    *d = *s;
                }
            }
        }
        let transposed = Geometry {
            batch: g.batch,
            in_channels: o,
            in_size: g.out_size(),
            out_channels: c,
            kernel: g.kernel,
            stride: (1, 1),
            padding: (kh - 1 - t, kw - 1 - l, kh - 1 - b, kw - 1 - r),
        };
        return forward(dy, &flipped, &transposed);
    }
    // Strided: one product per group of images, `[K, O] · [O, n·P]`, so that a layer with few
    // output pixels still gives `gemm` a wide matrix (a 4 × 4 map alone is 16 columns). The
    // groups depend on the batch and the geometry only, never on the thread count.
    let images = (GROUP_COLUMNS / p).clamp(1, g.batch.div_ceil(WEIGHT_PARTS).max(1));
    // Each thread takes whole groups, and one buffer of each kind for all of them.
    let per = images_per_thread(g.batch).next_multiple_of(images);
    let mut dx = vec![0.0f32; g.batch * g.image_in()];
    dx.par_chunks_mut(per * g.image_in()).zip(dy.par_chunks(per * g.image_out())).for_each(|(dxs, dys)| {
        let mut col = vec![0.0f32; k * images * p];
        let mut packed = vec![0.0f32; if images > 1 { o * images * p } else { 0 }];
        for (dxg, dyg) in dxs.chunks_mut(images * g.image_in()).zip(dys.chunks(images * g.image_out())) {
            let cols = dyg.len() / g.image_out() * p;
            let rhs = if images == 1 {
                dyg
            } else {
                // The group's dy as one [O, n·P] matrix: image b's rows at columns b·P..(b + 1)·P.
                for (b, dyb) in dyg.chunks_exact(g.image_out()).enumerate() {
                    for (oc, row) in dyb.chunks_exact(p).enumerate() {
                        packed[oc * cols + b * p..][..p].copy_from_slice(row);
                    }
                }
                &packed[..o * cols]
            };
            let col = &mut col[..k * cols];
            // SAFETY: Wᵀ is [K, O], rhs is [O, n·P]; the columns are [K, n·P].
            unsafe { matmul(k, cols, o, col, View::transposed(w, k), View::rows(rhs, cols), false, 1.0, false) };
            col2im_add(col, g, dxg);
        }
    });
    dx
}

/// Columns a strided input gradient's product aims for when it groups images with small output
/// maps (see [`backward_input`]).
const GROUP_COLUMNS: usize = 256;

/// Runs of images the weight gradient sums separately (at most; fewer for small batches): enough
/// to keep 8 threads busy, few enough that adding the runs' sums costs little.
const WEIGHT_PARTS: usize = 8;

/// Weight gradient `dW` (`[O, C, kh, kw]`) from the input `x` and output gradient `dy`.
///
/// The images are summed in [`WEIGHT_PARTS`] runs fixed by the batch size alone (each run on
/// one thread, the runs' sums then added in order), so the gradient is the same to the bit
/// whatever the thread count: a search trains a child to the same reward on a worker with two
/// threads as on one with one.
pub fn backward_weight(x: &[f32], dy: &[f32], g: &Geometry) -> Vec<f32> {
    let (k, p, o) = (g.k(), g.p(), g.out_channels);
    assert_eq!(x.len(), g.batch * g.image_in(), "conv input size");
    assert_eq!(dy.len(), g.batch * g.image_out(), "conv output-gradient size");
    let per = g.batch.div_ceil(WEIGHT_PARTS).max(1);
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = direct::isa() {
        // Parts of at least one run: a layer with small maps makes fewer, larger parts, so that
        // its `dWᵀ` (as large as at any batch) is not written and summed once per few images.
        let per = per.max(direct::gather_images(p)).min(g.batch.max(1));
        let windows = direct::WeightWindows::recent(g, o.next_multiple_of(16));
        let parts: Vec<Vec<f32>> = x
            .par_chunks(per * g.image_in())
            .zip(dy.par_chunks(per * g.image_out()))
            .map(|(xs, dys)| direct::weight_gradient(xs, dys, g, &windows, isa))
            .collect();
        return direct::unpack_weight_gradient(&parts, g, &windows);
    }
    let partial: Vec<Vec<f32>> = x
        .par_chunks(per * g.image_in())
        .zip(dy.par_chunks(per * g.image_out()))
        .map(|(xs, dys)| {
            let mut dw = vec![0.0f32; o * k];
            let mut col = if g.is_pointwise() { Vec::new() } else { vec![0.0f32; k * p] };
            for (i, (xb, dyb)) in xs.chunks(g.image_in()).zip(dys.chunks(g.image_out())).enumerate() {
                let cols = if g.is_pointwise() {
                    xb
                } else {
                    im2col(xb, g, &mut col);
                    &col
                };
                // SAFETY: dy_b is [O, P], col_bᵀ is [P, K].
                unsafe { matmul(o, k, p, &mut dw, View::rows(dyb, p), View::transposed(cols, p), i > 0, 1.0, false) };
            }
            dw
        })
        .collect();
    let mut parts = partial.into_iter();
    let mut dw = parts.next().unwrap_or_else(|| vec![0.0; o * k]);
    for part in parts {
        for (a, b) in dw.iter_mut().zip(&part) {
            *a += b;
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_support::{FORCE_GEMM_CRATE, FORCE_YMM, on_every_path, values};

    /// The definition, one multiply-add at a time.
    fn naive(x: &[f32], w: &[f32], g: &Geometry) -> Vec<f32> {
        let (h, wd) = g.in_size;
        let (oh, ow) = g.out_size();
        let (kh, kw) = g.kernel;
        let mut y = vec![0.0; g.batch * g.out_channels * oh * ow];
        for b in 0..g.batch {
            for o in 0..g.out_channels {
                for yy in 0..oh {
                    for xx in 0..ow {
                        let mut s = 0.0f64;
                        for c in 0..g.in_channels {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (yy * g.stride.0 + i) as isize - g.padding.0 as isize;
                                    let ix = (xx * g.stride.1 + j) as isize - g.padding.1 as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let xv = x[((b * g.in_channels + c) * h + iy as usize) * wd + ix as usize];
                                    let wv = w[((o * g.in_channels + c) * kh + i) * kw + j];
                                    s += (xv * wv) as f64;
                                }
                            }
                        }
                        y[((b * g.out_channels + o) * oh + yy) * ow + xx] = s as f32;
                    }
                }
            }
        }
        y
    }

    fn geometries() -> Vec<Geometry> {
        let g = |c, hw, o, k, s, p| Geometry {
            batch: 3,
            in_channels: c,
            in_size: hw,
            out_channels: o,
            kernel: k,
            stride: s,
            padding: p,
        };
        vec![
            g(2, (7, 6), 4, (3, 3), (1, 1), (1, 1, 1, 1)),
            g(3, (8, 8), 5, (1, 1), (1, 1), (0, 0, 0, 0)), // pointwise
            g(2, (9, 7), 3, (5, 3), (2, 3), (2, 1, 2, 1)),
            g(1, (6, 6), 2, (2, 4), (1, 1), (0, 1, 1, 2)), // even kernel, asymmetric padding
            g(2, (5, 5), 3, (7, 7), (3, 1), (3, 3, 3, 3)), // kernel larger than the image
            g(2, (6, 5), 3, (3, 2), (1, 1), (3, 0, 1, 2)), // stride 1, padding past the kernel
            g(13, (4, 4), 20, (3, 3), (1, 1), (1, 1, 1, 1)), // tiles across images
            g(2, (5, 4), 70, (3, 3), (1, 1), (1, 1, 1, 1)), // more channels than one tile
            g(3, (4, 5), 40, (2, 3), (2, 1), (0, 1, 1, 0)), // two and a half vectors of channels
            Geometry { batch: 17, ..g(3, (8, 8), 4, (3, 3), (2, 2), (1, 1, 1, 1)) }, // strided dx in groups of images
            g(2, (6, 6), 8, (3, 3), (1, 1), (1, 1, 1, 1)), // half a vector
            g(2, (5, 5), 56, (1, 3), (1, 1), (0, 1, 0, 1)), // three and a half
            g(2, (4, 4), 44, (3, 3), (1, 2), (1, 1, 1, 1)), // a ragged last vector
            g(9, (9, 7), 5, (5, 3), (2, 3), (2, 1, 2, 1)), // strided, input gradient gathered
            g(20, (5, 6), 3, (3, 4), (2, 2), (1, 2, 1, 1)), // …with an even kernel, 1½ vectors
        ]
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
        }
    }

    #[test]
    fn forward_equals_the_definition() {
        on_every_path(|path| {
            for g in geometries() {
                let x = values(g.batch * g.image_in(), 1);
                let w = values(g.out_channels * g.k(), 2);
                close(&forward(&x, &w, &g), &naive(&x, &w, &g), &format!("{path} {g:?}"));
            }
        });
    }

    /// Gradients by the adjoint identity: for the linear map `y = conv(x, w)`,
    /// `<dy, conv(x, w)> = <backward_input(w, dy), x> = <backward_weight(x, dy), w>`, checked on
    /// each basis direction of `x` and `w` (so every element of both gradients is tested).
    #[test]
    fn gradients_are_the_adjoints_of_the_forward() {
        on_every_path(gradients_are_adjoints);
    }

    fn gradients_are_adjoints(path: &str) {
        for g in geometries() {
            let x = values(g.batch * g.image_in(), 3);
            let w = values(g.out_channels * g.k(), 4);
            let dy = values(g.batch * g.image_out(), 5);
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a * b) as f64).sum::<f64>() as f32;
            // <dy, f(e_i)> for every basis vector e_i of a `len`-element argument.
            let adjoint = |len: usize, f: &dyn Fn(&[f32]) -> Vec<f32>| -> Vec<f32> {
                let mut e = vec![0.0; len];
                (0..len)
                    .map(|i| {
                        e[i] = 1.0;
                        let v = dot(&dy, &f(&e));
                        e[i] = 0.0;
                        v
                    })
                    .collect()
            };
            close(&backward_input(&w, &dy, &g), &adjoint(x.len(), &|e| naive(e, &w, &g)), &format!("{path} dx {g:?}"));
            close(&backward_weight(&x, &dy, &g), &adjoint(w.len(), &|e| naive(&x, e, &g)), &format!("{path} dw {g:?}"));
        }
    }

    /// Both gradients by their definitions, one multiply-add at a time.
    fn naive_gradients(x: &[f32], w: &[f32], dy: &[f32], g: &Geometry) -> (Vec<f32>, Vec<f32>) {
        let ((h, wd), (oh, ow), (kh, kw), (c, o)) =
            (g.in_size, g.out_size(), g.kernel, (g.in_channels, g.out_channels));
        let (mut dx, mut dw) = (vec![0.0f64; x.len()], vec![0.0f64; w.len()]);
        for b in 0..g.batch {
            for oc in 0..o {
                for (yy, xx) in (0..oh).flat_map(|y| (0..ow).map(move |x| (y, x))) {
                    let d = dy[((b * o + oc) * oh + yy) * ow + xx] as f64;
                    for (ic, i, j) in (0..c).flat_map(|ic| (0..kh).flat_map(move |i| (0..kw).map(move |j| (ic, i, j))))
                    {
                        let iy = (yy * g.stride.0 + i) as isize - g.padding.0 as isize;
                        let ix = (xx * g.stride.1 + j) as isize - g.padding.1 as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                            continue;
                        }
                        let xi = ((b * c + ic) * h + iy as usize) * wd + ix as usize;
                        let wi = ((oc * c + ic) * kh + i) * kw + j;
                        dx[xi] += d * w[wi] as f64;
                        dw[wi] += d * x[xi] as f64;
                    }
                }
            }
        }
        let f32s = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
        (f32s(dx), f32s(dw))
    }

    /// Batches large enough that the kernels split them into several tasks, runs and parts of
    /// different sizes (small maps take more images per run), against the definitions.
    #[test]
    fn large_batches_equal_the_definitions() {
        let g = |batch, c, hw, o, k: usize, s, p| Geometry {
            batch,
            in_channels: c,
            in_size: (hw, hw),
            out_channels: o,
            kernel: (k, k),
            stride: (s, s),
            padding: (p, p, p, p),
        };
        // 7 × 7 maps (11 images a run), 4 × 4 maps from a 7 × 7 kernel at stride 2 (32 a run;
        // the input gradient gathered, and by gemm + col2im with fewer than 8 channels),
        // 14 × 14 maps (8 a run, parts of 9), one input channel.
        for g in [
            g(40, 5, 7, 20, 3, 1, 1),
            g(70, 10, 7, 18, 7, 2, 3),
            g(70, 6, 7, 18, 7, 2, 3),
            g(72, 3, 14, 9, 3, 1, 1),
            g(33, 1, 9, 24, 5, 2, 2),
        ] {
            on_every_path(|path| {
                let x = values(g.batch * g.image_in(), 9);
                let w = values(g.out_channels * g.k(), 10);
                let dy = values(g.batch * g.image_out(), 11);
                let (dx, dw) = naive_gradients(&x, &w, &dy, &g);
                close(&forward(&x, &w, &g), &naive(&x, &w, &g), &format!("{path} y {g:?}"));
                close(&backward_input(&w, &dy, &g), &dx, &format!("{path} dx {g:?}"));
                close(&backward_weight(&x, &dy, &g), &dw, &format!("{path} dw {g:?}"));
            });
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let stride1 = Geometry { batch: 13, out_channels: 20, ..geometries()[0] };
        // Strided, 4 × 4 output maps: the input gradient's products span groups of 3 images.
        let stride2 = Geometry { batch: 21, ..geometries()[9] };
        // 4 × 4 maps in runs of 32 images: three parts and tasks of different sizes.
        let small_maps = Geometry { batch: 70, in_channels: 9, ..geometries()[9] };
        for g in [stride1, stride2, small_maps] {
            thread_count_free(&g);
        }
    }

    fn thread_count_free(g: &Geometry) {
        let g = *g;
        let x = values(g.batch * g.image_in(), 6);
        let w = values(g.out_channels * g.k(), 7);
        let dy = values(g.batch * g.image_out(), 8);
        on_every_path(|path| {
            // The path is chosen on the calling thread: tell the pool's thread which one.
            let forced = (FORCE_GEMM_CRATE.get(), FORCE_YMM.get());
            let run = |threads| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| {
                    FORCE_GEMM_CRATE.set(forced.0);
                    FORCE_YMM.set(forced.1);
                    (forward(&x, &w, &g), backward_input(&w, &dy, &g), backward_weight(&x, &dy, &g))
                })
            };
            let (a, b, c) = (run(1), run(2), run(3));
            assert!(a == b && a == c, "{path}: the results depend on the thread count");
        });
    }

    /// The AVX2 tiles make the AVX-512 tiles' sums in the same order, so a search gives the same
    /// rewards on either kind of CPU: the same bits for all three passes (checked where the CPU
    /// has AVX-512 and so runs both; elsewhere there is nothing to compare).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_tiles_give_the_avx512_tiles_bits() {
        use crate::kernels::direct::{Isa, isa};
        if isa() != Some(Isa::Avx512) {
            return;
        }
        for g in geometries() {
            let (x, w, dy) = (
                values(g.batch * g.image_in(), 3),
                values(g.out_channels * g.k(), 4),
                values(g.batch * g.image_out(), 5),
            );
            let passes = || (forward(&x, &w, &g), backward_input(&w, &dy, &g), backward_weight(&x, &dy, &g));
            let zmm = passes();
            FORCE_YMM.set(true);
            let ymm = passes();
            FORCE_YMM.set(false);
            assert!(zmm == ymm, "{g:?}: AVX2 and AVX-512 tiles differ");
        }
    }
}
