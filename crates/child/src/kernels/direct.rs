//! Direct convolution on AVX-512: the forward and the weight gradient of [`super::conv`] without
//! an im2col matrix and without packing the image, the way oneDNN computes them.
//!
//! Both are sums of products `a[d][o] · x[base + off[d]]`, where `x` is the zero-padded input,
//! `a` a small operand packed once with the output channels `o` contiguous, and `off` a table of
//! offsets into `x`. One register tile ([`tile`]) holds `16·MV` channels (plus 8 in a `ymm` for a
//! ragged remainder) × `NR` columns in
//! accumulators; each step loads the vectors of `a`, broadcasts `NR` values of `x` straight from
//! memory and makes `MV·NR` FMAs:
//! - forward: `y[o][pixel] = Σ_(c,i,j) Wᵀ[(c,i,j)][o] · x[pixel's corner + shift(c,i,j)]`; a
//!   column is one output pixel (of any image of the thread's run), the depth is the kernel
//!   window.
//! - weight gradient: `dWᵀ[(c,i,j)][o] = Σ_pixels dyᵀ[pixel][o] · x[pixel's corner + shift(c,i,j)]`;
//!   a column is one kernel offset, the depth runs over every pixel of the thread's images, so a
//!   tile of the gradient stays in registers for a block of pixels at a time.
//!
//! Why: with 24–64 output channels an im2col product packs every patch value for just 24–64
//! multiply-adds, and packing cost as much as a third of the time (see docs/RESULTS.md).

use std::arch::x86_64::*;
use std::borrow::Cow;

use rayon::prelude::*;

use super::conv::Geometry;

/// Output channels per register tile: four `zmm` vectors.
const GROUP: usize = 64;
/// Images the kernels pad and walk at a time (their padded copy stays in cache).
pub const RUN: usize = 8;
/// Pixels per block of the weight gradient's depth.
const PIXEL_BLOCK: usize = 512;
/// The widest register tile, in columns.
const MAX_NR: usize = 12;

/// The register tile for the channels `c0..` of a group of `channels` (at most [`GROUP`] are
/// taken): `(zmm vectors, ymm vectors)`, the `ymm` covering a remainder of up to 8 channels.
fn vectors(channels: usize) -> (usize, usize) {
    let c = channels.min(GROUP);
    match c % 16 {
        0 => (c / 16, 0),
        1..=8 => (c / 16, 1),
        _ => (c / 16 + 1, 0),
    }
}

// Tile widths (`NR`) per channel tile: as wide as the 32 vector registers allow without LLVM
// spilling accumulators or column pointers to the stack. Measured with the conv_layers example:
// a 1½-vector tile 12 wide spilled (skip6's 7×7 84→24 layer ran its forward at 48 GFLOP/s,
// 8 wide at 95), and so did a 2-vector one 12 wide (32 channels: 51 → 94 GFLOP/s at 8).

/// Whether this CPU runs these kernels (AVX-512F and VL).
pub fn available() -> bool {
    #[cfg(test)]
    if super::test_support::FORCE_GEMM_CRATE.get() {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("fma")
}

/// Zero-padded images and the offsets into them.
struct Padded<'a> {
    /// `[images, C, Hp, Wp]`.
    x: Cow<'a, [f32]>,
    images: usize,
    /// Offset of each pixel's top-left input (image, output row, output column order).
    corners: Vec<isize>,
    /// Offset of each kernel-window element from the corner: `(c, i, j)` order.
    shifts: Vec<isize>,
}

impl<'a> Padded<'a> {
    fn new(x: &'a [f32], g: &Geometry) -> Self {
        let ((h, w), (t, l, b, r)) = (g.in_size, g.padding);
        let (hp, wp) = (h + t + b, w + l + r);
        let images = x.len() / (g.in_channels * h * w);
        let x = if (t, l, b, r) == (0, 0, 0, 0) {
            Cow::Borrowed(x)
        } else {
            let mut p = vec![0.0f32; images * g.in_channels * hp * wp];
            for (dst, src) in p.chunks_exact_mut(hp * wp).zip(x.chunks_exact(h * w)) {
                for (drow, srow) in dst[t * wp..].chunks_exact_mut(wp).zip(src.chunks_exact(w)) {
                    drow[l..l + w].copy_from_slice(srow);
                }
            }
            Cow::Owned(p)
        };
        let ((oh, ow), (sh, sw), (kh, kw)) = (g.out_size(), g.stride, g.kernel);
        let image = (g.in_channels * hp * wp) as isize;
        let corners = (0..images)
            .flat_map(|b| {
                (0..oh).flat_map(move |y| (0..ow).map(move |x| b as isize * image + (y * sh * wp + x * sw) as isize))
            })
            .collect();
        let shifts = (0..g.in_channels)
            .flat_map(|c| (0..kh).flat_map(move |i| (0..kw).map(move |j| ((c * hp + i) * wp + j) as isize)))
            .collect();
        Padded { x, images, corners, shifts }
    }
}

/// `a` with `rows` rows and `cols` columns, stored `[rows][cols]`, written into `out` as
/// `[cols][pad16(rows)]` (rows past `rows` left as they are: zero in a fresh buffer), so the
/// channels are contiguous.
fn transpose_padded(a: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    let lda = rows.next_multiple_of(16);
    for (r, row) in a.chunks_exact(cols).enumerate() {
        for (c, v) in row.iter().enumerate() {
            out[c * lda + r] = *v;
        }
    }
}

/// The output pixels of a convolution grouped into classes by the part of their kernel window
/// that lies inside the image (interior pixels share one class; each border pattern is one
/// more), with the window elements each class multiplies: for one input channel after another,
/// the valid kernel rows × columns. The forward walks only these, so no product with padding is
/// made and the input needs no padded copy.
pub struct Windows {
    classes: Vec<Class>,
    /// Per entry: its weight row's offset into the packed weight (`(c, i, j) · lda`) and its
    /// input's offset from a pixel's base, `(c·H + i)·W + j`.
    rows: Vec<usize>,
    offs: Vec<isize>,
    /// Per output pixel, class by class: offset of its window's top-left corner (in padding
    /// coordinates, so possibly before the image) from its image's start, and its index.
    bases: Vec<isize>,
    pixels: Vec<usize>,
}

/// One class of [`Windows`]: its entries (`per_channel` for each input channel, in channel order)
/// and its pixels.
struct Class {
    entries: usize,
    per_channel: usize,
    pixels: std::ops::Range<usize>,
}

impl Windows {
    /// The classes of `g`'s output pixels, for a weight packed with rows `lda` apart.
    pub fn new(g: &Geometry, lda: usize) -> Self {
        let ((h, w), (sh, sw), (t, l, _, _), (oh, ow), (kh, kw)) =
            (g.in_size, g.stride, g.padding, g.out_size(), g.kernel);
        // The kernel offsets of output coordinate `o` that land inside `0..size`.
        let valid = |o: usize, s: usize, pad: usize, size: usize, k: usize| {
            let lo = pad.saturating_sub(o * s).min(k);
            (lo, (size + pad).saturating_sub(o * s).clamp(lo, k))
        };
        let mut groups: std::collections::BTreeMap<(usize, usize, usize, usize), Vec<usize>> = Default::default();
        for y in 0..oh {
            let (i0, i1) = valid(y, sh, t, h, kh);
            for x in 0..ow {
                let (j0, j1) = valid(x, sw, l, w, kw);
                groups.entry((i0, i1, j0, j1)).or_default().push(y * ow + x);
            }
        }
        let mut win = Windows { classes: Vec::new(), rows: Vec::new(), offs: Vec::new(), bases: Vec::new(), pixels: Vec::new() };
        for ((i0, i1, j0, j1), pixels) in groups {
            win.classes.push(Class {
                entries: win.rows.len(),
                per_channel: (i1 - i0) * (j1 - j0),
                pixels: win.pixels.len()..win.pixels.len() + pixels.len(),
            });
            for c in 0..g.in_channels {
                for i in i0..i1 {
                    for j in j0..j1 {
                        win.rows.push(((c * kh + i) * kw + j) * lda);
                        win.offs.push(((c * h + i) * w + j) as isize);
                    }
                }
            }
            for p in pixels {
                let (y, x) = (p / ow, p % ow);
                win.bases.push((y * sh) as isize * w as isize - (t * w) as isize + (x * sw) as isize - l as isize);
                win.pixels.push(p);
            }
        }
        win
    }
}

/// Input channels whose packed weight rows a forward pass walks at a time (about 32 KiB of
/// `zmm` rows), so they stay in cache for every class and column of a run of images.
fn channel_block(g: &Geometry) -> usize {
    (512 / (g.kernel.0 * g.kernel.1)).max(1)
}

/// Images a forward task takes: at least [`RUN`], more when the output maps are small, so each
/// class of [`Windows`] has columns enough to fill the register tiles.
pub fn forward_images(g: &Geometry) -> usize {
    let (oh, ow) = g.out_size();
    RUN.max(512usize.div_ceil(oh * ow))
}

/// Forward of the images `x` (`[images, C, H, W]`) into `y` (`[images, O, Ho, Wo]`), with the
/// weight packed by [`pack_weight`] and the classes of [`Windows::new`] for the same `lda`.
///
/// Each output value is the sum of its valid window elements in channel-block order, the same
/// however the images are split into tasks.
pub fn forward(x: &[f32], wt: &[f32], g: &Geometry, win: &Windows, y: &mut [f32]) {
    let (o, pixels) = (g.out_channels, g.out_size().0 * g.out_size().1);
    let image_in = g.in_channels * g.in_size.0 * g.in_size.1;
    let images = x.len() / image_in;
    let mut acc = vec![0.0f32; images * pixels * GROUP];
    for c0 in (0..o).step_by(GROUP) {
        let a = &wt[c0..];
        let (mv, h) = vectors(o - c0);
        let lanes = 16 * mv + 8 * h;
        let run = Run { x, image_in, images, channels: g.in_channels, block: channel_block(g), lanes };
        // SAFETY: AVX-512F and VL (the caller checked `available`); wt is [K][lda]; every valid
        // window element of every pixel lies inside its image; acc holds a row per column.
        unsafe {
            match (mv, h) {
                (0, _) => forward_group::<0, 1, 12>(&run, a, win, &mut acc),
                (1, 0) => forward_group::<1, 0, 12>(&run, a, win, &mut acc),
                (1, _) => forward_group::<1, 1, 8>(&run, a, win, &mut acc),
                (2, 0) => forward_group::<2, 0, 8>(&run, a, win, &mut acc),
                (2, _) => forward_group::<2, 1, 8>(&run, a, win, &mut acc),
                (3, 0) => forward_group::<3, 0, 8>(&run, a, win, &mut acc),
                (3, _) => forward_group::<3, 1, 6>(&run, a, win, &mut acc),
                _ => forward_group::<4, 0, 6>(&run, a, win, &mut acc),
            }
        }
        // acc holds, class by class, every image's pixels of the class: `[column][lanes]`.
        let channels = (o - c0).min(lanes);
        let mut column = acc.chunks_exact(lanes);
        for class in &win.classes {
            let class_pixels = &win.pixels[class.pixels.clone()];
            for img in 0..images {
                for &pix in class_pixels {
                    let values = column.next().expect("a column per image and pixel");
                    let dst = &mut y[(img * o + c0) * pixels + pix..];
                    for (ch, v) in values[..channels].iter().enumerate() {
                        dst[ch * pixels] = *v;
                    }
                }
            }
        }
    }
}

/// The weight `[O, K]` packed for [`forward`].
pub fn pack_weight(w: &[f32], g: &Geometry) -> Vec<f32> {
    let (o, k) = (g.out_channels, g.in_channels * g.kernel.0 * g.kernel.1);
    let mut wt = vec![0.0f32; k * o.next_multiple_of(16)];
    transpose_padded(w, o, k, &mut wt);
    wt
}

/// The images of one forward task and how the depth is walked.
struct Run<'a> {
    x: &'a [f32],
    image_in: usize,
    images: usize,
    channels: usize,
    /// Input channels per pass over the columns ([`channel_block`]).
    block: usize,
    /// Accumulator lanes per column.
    lanes: usize,
}

/// The packed weight's channels `c0..c0 + 16·MV + 8·H` (those below `o`) for every output
/// pixel of the run, into `acc` (`[column][lanes]`, columns class by class).
///
/// # Safety
/// AVX-512F and VL; `a` holds `[K][lda]` from column `c0` with the `lda` `win` was made for;
/// `acc` has a row of `lanes` for every image and pixel.
#[target_feature(enable = "avx512f,avx512vl,fma")]
unsafe fn forward_group<const MV: usize, const H: usize, const NR: usize>(
    run: &Run,
    a: &[f32],
    win: &Windows,
    acc: &mut [f32],
) {
    for c_start in (0..run.channels).step_by(run.block) {
        let c_end = (c_start + run.block).min(run.channels);
        let mut col0 = 0;
        for class in &win.classes {
            let entries = class.entries + c_start * class.per_channel..class.entries + c_end * class.per_channel;
            let bases = &win.bases[class.pixels.clone()];
            let columns = run.images * bases.len();
            for n0 in (0..columns).step_by(NR) {
                let cols = NR.min(columns - n0);
                let at: [isize; NR] = std::array::from_fn(|n| {
                    let c = n0 + n.min(cols - 1);
                    (c / bases.len() * run.image_in) as isize + bases[c % bases.len()]
                });
                // SAFETY: the caller's; the entries' rows are inside `a`, base + offset inside x.
                unsafe {
                    tile::<MV, H, NR, _>(
                        entries.len(),
                        a.as_ptr(),
                        Table(win.rows[entries.clone()].as_ptr()),
                        win.offs[entries.clone()].as_ptr(),
                        run.x.as_ptr(),
                        at,
                        acc[(col0 + n0) * run.lanes..].as_mut_ptr(),
                        run.lanes,
                        cols,
                        c_start > 0,
                    )
                };
            }
            col0 += columns;
        }
    }
}

/// Weight gradient of the images `x` (`[images, C, H, W]`) for the output gradient `dy`
/// (`[images, O, Ho, Wo]`), as `dWᵀ` `[K][pad16(O)]` (the caller sums threads and transposes
/// with [`unpack_weight_gradient`]).
pub fn weight_gradient(x: &[f32], dy: &[f32], g: &Geometry) -> Vec<f32> {
    let (o, k, pixels) = (g.out_channels, g.in_channels * g.kernel.0 * g.kernel.1, g.out_size().0 * g.out_size().1);
    let image_in = g.in_channels * g.in_size.0 * g.in_size.1;
    let lda = o.next_multiple_of(16);
    let mut dwt = vec![0.0f32; (k + MAX_NR) * lda];
    // dyᵀ of one run: [image·pixel][lda] (the padding lanes stay zero across runs).
    let mut dyt = vec![0.0f32; RUN.min(x.len() / image_in) * pixels * lda];
    // A few images at a time, so their padded copy and dyᵀ are still in cache when read.
    for (run, (xs, dys)) in x.chunks(RUN * image_in).zip(dy.chunks(RUN * o * pixels)).enumerate() {
        let p = Padded::new(xs, g);
        let dyt = &mut dyt[..p.images * pixels * lda];
        for (t, d) in dyt.chunks_exact_mut(pixels * lda).zip(dys.chunks_exact(o * pixels)) {
            transpose_padded(d, o, pixels, t);
        }
        let add = run > 0;
        for c0 in (0..o).step_by(GROUP) {
            let (a, dwt) = (&dyt[c0..], &mut dwt[c0..]);
            // SAFETY: AVX-512F and VL (the caller checked `available`); dyt is [pixels][lda],
            // dwt has room for every tile's rows; every corner + shift lies inside the padded
            // images.
            unsafe {
                match vectors(o - c0) {
                    (0, _) => weight_group::<0, 1, 12>(&p, a, lda, k, dwt, add),
                    (1, 0) => weight_group::<1, 0, 12>(&p, a, lda, k, dwt, add),
                    (1, _) => weight_group::<1, 1, 8>(&p, a, lda, k, dwt, add),
                    (2, 0) => weight_group::<2, 0, 8>(&p, a, lda, k, dwt, add),
                    (2, _) => weight_group::<2, 1, 8>(&p, a, lda, k, dwt, add),
                    (3, 0) => weight_group::<3, 0, 8>(&p, a, lda, k, dwt, add),
                    (3, _) => weight_group::<3, 1, 6>(&p, a, lda, k, dwt, add),
                    _ => weight_group::<4, 0, 6>(&p, a, lda, k, dwt, add),
                }
            }
        }
    }
    dwt.truncate(k * lda);
    dwt
}

/// `dWᵀ` columns `c0..c0 + 16·MV + 8·H` for every kernel-window element, a block of pixels at a
/// time; added to what `dwt` holds with `add`.
///
/// # Safety
/// AVX-512F and VL; `a` holds `[pixels][lda]` and `dwt` `[k + NR][lda]`, both from column `c0`.
#[target_feature(enable = "avx512f,avx512vl,fma")]
unsafe fn weight_group<const MV: usize, const H: usize, const NR: usize>(
    p: &Padded,
    a: &[f32],
    lda: usize,
    k: usize,
    dwt: &mut [f32],
    add: bool,
) {
    let total = p.corners.len();
    for d0 in (0..total).step_by(PIXEL_BLOCK) {
        let depth = PIXEL_BLOCK.min(total - d0);
        for k0 in (0..k).step_by(NR) {
            let bases: [isize; NR] = std::array::from_fn(|n| p.shifts[(k0 + n).min(k - 1)]);
            // SAFETY: the caller's; rows k0..k0+NR of dwt exist (k + NR rows).
            unsafe {
                tile::<MV, H, NR, _>(
                    depth,
                    a[d0 * lda..].as_ptr(),
                    Strided(lda),
                    p.corners[d0..].as_ptr(),
                    p.x.as_ptr(),
                    bases,
                    dwt[k0 * lda..].as_mut_ptr(),
                    lda,
                    NR,
                    add || d0 > 0,
                )
            };
        }
    }
}

/// `dW` `[O, K]` from the threads' `dWᵀ` (`[K][pad16(O)]` each), summed.
///
/// The parts are added in their own layout first — contiguous rows, split over the pool, each
/// element summed in the parts' order (so the bits are those of adding each part into `dW`) —
/// and only the sum is transposed, a block of rows at a time.
pub fn unpack_weight_gradient(parts: &[Vec<f32>], g: &Geometry) -> Vec<f32> {
    const ROWS: usize = 64;
    let (o, k) = (g.out_channels, g.in_channels * g.kernel.0 * g.kernel.1);
    let lda = o.next_multiple_of(16);
    let mut sum = vec![0.0f32; k * lda];
    sum.par_chunks_mut(ROWS * lda).enumerate().for_each(|(block, rows)| {
        for part in parts {
            for (a, b) in rows.iter_mut().zip(&part[block * ROWS * lda..]) {
                *a += b;
            }
        }
    });
    let mut dw = vec![0.0f32; o * k];
    for (block, rows) in sum.chunks(ROWS * lda).enumerate() {
        let k0 = block * ROWS;
        for (ch, dst) in dw.chunks_exact_mut(k).enumerate() {
            for (d, row) in dst[k0..].iter_mut().zip(rows.chunks_exact(lda)) {
                *d = row[ch];
            }
        }
    }
    dw
}

/// Where the tile's depth step `d` finds its row of `a`.
trait Rows: Copy {
    /// # Safety
    /// `d` below the tile's depth.
    unsafe fn row(self, d: usize) -> usize;
}

/// Rows `lda` apart.
#[derive(Clone, Copy)]
struct Strided(usize);

impl Rows for Strided {
    #[inline(always)]
    unsafe fn row(self, d: usize) -> usize {
        d * self.0
    }
}

/// Rows at the offsets a table lists.
#[derive(Clone, Copy)]
struct Table(*const usize);

impl Rows for Table {
    #[inline(always)]
    unsafe fn row(self, d: usize) -> usize {
        // SAFETY: the caller's: the table has `depth` entries.
        unsafe { *self.0.add(d) }
    }
}

/// `out[n][l] (+)= Σ_d a[rows(d) + l] · x[bases[n] + offs[d]]` for the `16·MV + 8·H` lanes `l`
/// (`MV` `zmm` vectors, then with `H = 1` one `ymm`), `d < depth`; the first `cols` of the `NR`
/// columns are stored, `out` rows `ldo` apart.
///
/// # Safety
/// AVX-512F and VL; `a` holds `16·MV + 8·H` values at every `rows(d)`, `offs` `depth` offsets,
/// every `bases[n] + offs[d]` lies inside `x` (a base alone may lie before it), and `out` holds
/// `cols` rows of `16·MV + 8·H`.
#[target_feature(enable = "avx512f,avx512vl,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const MV: usize, const H: usize, const NR: usize, R: Rows>(
    depth: usize,
    a: *const f32,
    rows: R,
    offs: *const isize,
    x: *const f32,
    bases: [isize; NR],
    out: *mut f32,
    ldo: usize,
    cols: usize,
    accumulate: bool,
) {
    // SAFETY: the caller's.
    unsafe {
        let cols_at: [*const f32; NR] = std::array::from_fn(|n| x.wrapping_offset(bases[n]));
        let mut acc = [[_mm512_setzero_ps(); NR]; MV];
        let mut half = [_mm256_setzero_ps(); NR];
        for d in 0..depth {
            let off = *offs.add(d);
            let ad = a.add(rows.row(d));
            let av: [__m512; MV] = std::array::from_fn(|v| _mm512_loadu_ps(ad.add(16 * v)));
            let ah = if H == 1 { _mm256_loadu_ps(ad.add(16 * MV)) } else { _mm256_setzero_ps() };
            for (n, col) in cols_at.iter().enumerate() {
                let v = *col.wrapping_offset(off);
                let b = _mm512_set1_ps(v);
                for (acc, av) in acc.iter_mut().zip(&av) {
                    acc[n] = _mm512_fmadd_ps(*av, b, acc[n]);
                }
                if H == 1 {
                    half[n] = _mm256_fmadd_ps(ah, _mm256_set1_ps(v), half[n]);
                }
            }
        }
        for n in 0..cols.min(NR) {
            let row = out.add(n * ldo);
            for (v, acc) in acc.iter().enumerate() {
                let p = row.add(16 * v);
                let r = if accumulate { _mm512_add_ps(acc[n], _mm512_loadu_ps(p)) } else { acc[n] };
                _mm512_storeu_ps(p, r);
            }
            if H == 1 {
                let p = row.add(16 * MV);
                let r = if accumulate { _mm256_add_ps(half[n], _mm256_loadu_ps(p)) } else { half[n] };
                _mm256_storeu_ps(p, r);
            }
        }
    }
}
