//! 2×2 max-pooling at stride 2 (floor size) on plain `f32` NCHW slices, with the position of
//! each window's maximum kept for the backward. burn-flex pools through its generic 3-D
//! implementation with `i64` indices, ≈ 4 % of a stride4 training step; this is one pass each way.
//!
//! Ties go to the first maximum in row-major order and a NaN wins its window (the last NaN if
//! several), as in burn-flex, so both route gradients to the same inputs.

use std::mem::MaybeUninit;

use super::{images_per_thread, par_filled, par_filled_pair};

/// Input `[batch, channels, height, width]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Shape {
    /// Output height and width.
    pub fn out_size(&self) -> (usize, usize) {
        (self.height / 2, self.width / 2)
    }
    fn planes_per_task(&self) -> usize {
        images_per_thread(self.batch) * self.channels
    }
}

/// The pooled values (`[B, C, H/2, W/2]`) and, per output, which of its window's four inputs
/// (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) it took.
pub fn forward(x: &[f32], s: &Shape) -> (Vec<f32>, Vec<u8>) {
    let (oh, ow) = s.out_size();
    let (plane, out_plane) = (s.height * s.width, oh * ow);
    assert_eq!(x.len(), s.batch * s.channels * plane, "max-pool input size");
    let len = s.batch * s.channels * out_plane;
    if out_plane == 0 {
        return (Vec::new(), Vec::new());
    }
    let per = s.planes_per_task();
    // SAFETY: every chunk writes each of its values of both once.
    unsafe {
        par_filled_pair(len, per * out_plane, |i, ys, ats| {
            let xs = &x[i * per * plane..][..ys.len() / out_plane * plane];
            for ((yp, ap), xp) in ys.chunks_mut(out_plane).zip(ats.chunks_mut(out_plane)).zip(xs.chunks(plane)) {
                for (r, (yr, ar)) in yp.chunks_mut(ow).zip(ap.chunks_mut(ow)).enumerate() {
                    let (top, bottom) = (&xp[2 * r * s.width..], &xp[(2 * r + 1) * s.width..]);
                    for (c, (yv, av)) in yr.iter_mut().zip(ar.iter_mut()).enumerate() {
                        let window = [top[2 * c], top[2 * c + 1], bottom[2 * c], bottom[2 * c + 1]];
                        let mut best = 0;
                        for (i, v) in window.iter().enumerate().skip(1) {
                            if *v > window[best] || v.is_nan() {
                                best = i;
                            }
                        }
                        yv.write(window[best]);
                        av.write(best as u8);
                    }
                }
            }
        })
    }
}

/// The input gradient (`[B, C, H, W]`): each output's gradient goes to the input it took.
pub fn backward(dy: &[f32], at: &[u8], s: &Shape) -> Vec<f32> {
    let (oh, ow) = s.out_size();
    let (plane, out_plane) = (s.height * s.width, oh * ow);
    assert_eq!((dy.len(), at.len()), (s.batch * s.channels * out_plane, s.batch * s.channels * out_plane));
    if out_plane == 0 {
        return vec![0.0; s.batch * s.channels * plane];
    }
    let per = s.planes_per_task();
    // SAFETY: every chunk is zeroed whole before its maxima are written.
    unsafe {
        par_filled(s.batch * s.channels * plane, per * plane, |i, dxs| {
            dxs.fill(MaybeUninit::new(0.0));
            let (dys, ats) = (&dy[i * per * out_plane..], &at[i * per * out_plane..]);
            for (dxp, (dyp, ap)) in dxs.chunks_mut(plane).zip(dys.chunks(out_plane).zip(ats.chunks(out_plane))) {
                for (r, (dyr, ar)) in dyp.chunks(ow).zip(ap.chunks(ow)).enumerate() {
                    for (c, (d, a)) in dyr.iter().zip(ar).enumerate() {
                        let (i, j) = (usize::from(*a) / 2, usize::from(*a) % 2);
                        dxp[(2 * r + i) * s.width + 2 * c + j].write(*d);
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_each_window_and_routes_the_gradient_back_to_its_maximum() {
        // One 3×5 plane (the last row and column are dropped), then a second channel.
        let s = Shape { batch: 1, channels: 2, height: 3, width: 5 };
        #[rustfmt::skip]
        let x = [
            1.0, 5.0,  2.0, 2.0,  9.0,
            3.0, 4.0,  2.0, 0.5,  9.0,
            7.0, 7.0,  7.0, 7.0,  7.0,
            // second channel: ties, a NaN
            0.0, 0.0,  -1.0, f32::NAN,  0.0,
            0.0, 0.0,  -2.0, -3.0,      0.0,
            0.0, 0.0,  0.0,  0.0,       0.0,
        ];
        let (y, at) = forward(&x, &s);
        assert_eq!(&y[..2], &[5.0, 2.0]);
        assert_eq!(y[2], 0.0);
        assert!(y[3].is_nan());
        assert_eq!(at, [1, 0, 0, 1]);
        let dx = backward(&[10.0, 20.0, 30.0, 40.0], &at, &s);
        let mut want = [0.0f32; 30];
        (want[1], want[2], want[15], want[18]) = (10.0, 20.0, 30.0, 40.0);
        assert_eq!(dx, want);
    }
}
