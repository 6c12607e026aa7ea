//! Channel concatenation of maps zero-padded to one size — how a layer reads the earlier layers
//! it skips from (the paper's repair rules 1 and 3: smaller maps padded to the layer's input
//! size, centred) — on plain `f32` NCHW slices, one parallel pass each way.
//!
//! burn pads each smaller map with a serial fill of a fresh zero tensor plus a copy, then
//! concatenates with one more serial copy, all on the calling thread while the pool waits: a
//! fifth of that thread's time in a training step of the one-shot search's pick (trial 7506,
//! whose later layers read 2×2 and 3×3 maps padded to 7×7).

use super::{images_per_thread, par_filled};

/// The inputs' and the output's shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub batch: usize,
    /// Per input, its channels and (height, width), at most `size` each way.
    pub parts: Vec<(usize, (usize, usize))>,
    /// The output's height and width.
    pub size: (usize, usize),
}

impl Layout {
    /// The output's channels: the inputs', summed.
    pub fn channels(&self) -> usize {
        self.parts.iter().map(|p| p.0).sum()
    }

    /// Input `i`'s top and left padding (the extra row or column of an odd difference goes to
    /// the bottom or right).
    fn corner(&self, i: usize) -> (usize, usize) {
        let (_, (h, w)) = self.parts[i];
        ((self.size.0 - h) / 2, (self.size.1 - w) / 2)
    }

    fn plane(&self) -> usize {
        self.size.0 * self.size.1
    }
}

/// The output `[B, Σ C_i, H, W]` of the inputs `xs[i]` (`[B, C_i, H_i, W_i]`).
pub fn forward(xs: &[&[f32]], l: &Layout) -> Vec<f32> {
    assert_eq!(xs.len(), l.parts.len(), "one layout part per input");
    for (x, &(c, (h, w))) in xs.iter().zip(&l.parts) {
        assert_eq!(x.len(), l.batch * c * h * w, "concat input size");
        assert!(h <= l.size.0 && w <= l.size.1, "concat input larger than the output");
    }
    let (image, per) = (l.channels() * l.plane(), images_per_thread(l.batch));
    let width = l.size.1;
    // SAFETY: every output row of every channel of every image of the chunk is written.
    unsafe {
        par_filled(l.batch * image, per * image, |task, out| {
            for (b, out) in out.chunks_mut(image).enumerate() {
                let img = task * per + b;
                let mut planes = out.chunks_mut(l.plane());
                for (i, (x, &(c, (h, w)))) in xs.iter().zip(&l.parts).enumerate() {
                    let (top, left) = l.corner(i);
                    for src in x[img * c * h * w..][..c * h * w].chunks(h * w) {
                        let plane = planes.next().expect("a plane per output channel");
                        for (y, row) in plane.chunks_mut(width).enumerate() {
                            if y < top || y >= top + h {
                                row.fill(std::mem::MaybeUninit::new(0.0));
                                continue;
                            }
                            let values = &src[(y - top) * w..][..w];
                            row[..left].fill(std::mem::MaybeUninit::new(0.0));
                            for (o, v) in row[left..left + w].iter_mut().zip(values) {
                                o.write(*v);
                            }
                            row[left + w..].fill(std::mem::MaybeUninit::new(0.0));
                        }
                    }
                }
                debug_assert!(planes.next().is_none(), "every output channel written");
            }
        })
    }
}

/// Input `i`'s gradient (`[B, C_i, H_i, W_i]`) from the output's `dy`: its channels of `dy`,
/// cropped to where the input was placed.
pub fn backward_part(dy: &[f32], l: &Layout, i: usize) -> Vec<f32> {
    let (image, plane, per) = (l.channels() * l.plane(), l.plane(), images_per_thread(l.batch));
    assert_eq!(dy.len(), l.batch * image, "concat output-gradient size");
    let (c, (h, w)) = l.parts[i];
    let (top, left) = l.corner(i);
    let channel0: usize = l.parts[..i].iter().map(|p| p.0).sum();
    // SAFETY: every value of every image of the chunk is written.
    unsafe {
        par_filled(l.batch * c * h * w, per * c * h * w, |task, dx| {
            for (b, dx) in dx.chunks_mut(c * h * w).enumerate() {
                let img = task * per + b;
                for (ch, dx) in dx.chunks_mut(h * w).enumerate() {
                    let src = &dy[img * image + (channel0 + ch) * plane..][..plane];
                    for (y, row) in dx.chunks_mut(w).enumerate() {
                        for (o, v) in row.iter_mut().zip(&src[(top + y) * l.size.1 + left..][..w]) {
                            o.write(*v);
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_support::values;

    /// Value `(b, c, y, x)` of an `[B, C, H, W]` tensor.
    fn at(t: &[f32], (c, h, w): (usize, usize, usize), (b, ch, y, x): (usize, usize, usize, usize)) -> f32 {
        t[((b * c + ch) * h + y) * w + x]
    }

    /// Each output value is its input's value at the centred place or zero outside it, and the
    /// backward is the forward's adjoint (`⟨forward(x), dy⟩ = Σ ⟨x_i, backward(dy)_i⟩`), for
    /// equal, smaller and odd-difference sizes, at several batches (several tasks).
    #[test]
    fn pads_centred_concatenates_and_crops_back() {
        for batch in [1, 3, 17] {
            let l = Layout { batch, parts: vec![(3, (7, 7)), (2, (2, 2)), (4, (3, 4)), (1, (7, 6))], size: (7, 7) };
            let xs: Vec<Vec<f32>> =
                l.parts.iter().enumerate().map(|(i, &(c, (h, w)))| values(batch * c * h * w, i as u32 + 1)).collect();
            let refs: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
            let y = forward(&refs, &l);
            let co = l.channels();
            assert_eq!(y.len(), batch * co * 49);
            let mut channel0 = 0;
            for (i, &(c, (h, w))) in l.parts.iter().enumerate() {
                let (top, left) = ((7 - h) / 2, (7 - w) / 2);
                for b in 0..batch {
                    for ch in 0..c {
                        for yy in 0..7 {
                            for xx in 0..7 {
                                let inside = (top..top + h).contains(&yy) && (left..left + w).contains(&xx);
                                let want =
                                    if inside { at(&xs[i], (c, h, w), (b, ch, yy - top, xx - left)) } else { 0.0 };
                                assert_eq!(at(&y, (co, 7, 7), (b, channel0 + ch, yy, xx)), want, "part {i}");
                            }
                        }
                    }
                }
                channel0 += c;
            }
            let dy = values(y.len(), 99);
            let dxs: Vec<Vec<f32>> = (0..l.parts.len()).map(|i| backward_part(&dy, &l, i)).collect();
            let lhs: f64 = y.iter().zip(&dy).map(|(a, b)| (a * b) as f64).sum();
            let rhs: f64 = xs.iter().zip(&dxs).flat_map(|(x, d)| x.iter().zip(d).map(|(a, b)| (a * b) as f64)).sum();
            assert!((lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0), "batch {batch}: {lhs} vs {rhs}");
            for (dx, x) in dxs.iter().zip(&xs) {
                assert_eq!(dx.len(), x.len());
            }
        }
    }
}
