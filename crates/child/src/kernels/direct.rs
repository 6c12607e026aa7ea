//! Direct convolution on AVX-512 or AVX2: the forward and both gradients of [`super::conv`]
//! without an im2col matrix, without packing or padding the image, and without a single product
//! with the zero padding — the way oneDNN computes them, plus the padding skipped.
//!
//! All three are gathers, sums of products `a[row][lane] · src[base + off]`: `a` a small operand
//! packed once with its lanes contiguous, `src` an unpadded image, and per column a base plus a
//! list of (row, offset) entries. One register tile ([`tile`]) holds `16·MV` lanes (plus 8 in a
//! `ymm` for a ragged remainder) × `NR` columns in accumulators; each step loads the vectors of
//! `a`'s row, broadcasts `NR` values of `src` straight from memory and makes `MV·NR` FMAs. On
//! CPUs without AVX-512 ([`Isa::Avx2`]: AMD before Zen 4, most desktop Intel) [`tile_ymm`] does
//! the same with 16 registers of 8 lanes, 16 lanes × 6 columns at a time, in the same order of
//! sums, so both give the same bits:
//! - forward: `y[o][pixel] = Σ Wᵀ[(c,i,j)][o] · x[c][pixel·stride − pad + (i, j)]` over the
//!   window elements that land inside the image; a column is one output pixel of any image of
//!   the task, lanes are output channels ([`Windows::forward`]).
//! - input gradient: `dx[c][pixel] = Σ W[(o,i,j)][c] · dy[o][v]` over the outputs `v` whose
//!   window covers the pixel (`v·stride + i = pixel + pad`), at any stride; a column is one input
//!   pixel, lanes are input channels ([`Windows::input_gradient`]).
//! - weight gradient: `dWᵀ[(c,i,j)][o] = Σ dyᵀ[pixel][o] · x[c][pixel·stride − pad + (i, j)]`
//!   over the pixels for which `(i, j)` lands inside the image; a column is one window element,
//!   the depth runs over the task's pixels, so a tile of the gradient stays in registers for a
//!   block of pixels at a time ([`WeightWindows`]).
//!
//! Pixels (or window elements) whose valid parts agree form a class and share one entry list:
//! the interior is one class, each border pattern one more. The padding is where small maps
//! spend most of their products (a 7×7 kernel over a 7×7 map at stride 2 reads padding in half
//! of them), and the found children of the paper's space downsample early.
//!
//! Why direct at all: with 24–64 output channels an im2col product packs every patch value for
//! just 24–64 multiply-adds, and packing cost as much as a third of the time (docs/RESULTS.md).

use std::arch::x86_64::*;
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::thread::LocalKey;

use rayon::prelude::*;

use super::conv::{Geometry, valid_range};
use super::fast_math::{Level, level};
use super::par_filled;

/// Output channels per register tile: four `zmm` vectors.
const GROUP: usize = 64;
/// Valid pixels per block of the weight gradient's depth.
const PIXEL_BLOCK: usize = 512;
/// Images the kernels walk at a time at least (their input and `dyᵀ` stay in cache).
pub const RUN: usize = 8;

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

/// The register tiles the kernels run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// `zmm` tiles of up to 64 channels × 6–12 columns ([`tile`]; AVX-512F and VL, FMA).
    Avx512,
    /// `ymm` tiles of 16 channels × 6 columns ([`tile_ymm`]; AVX2 and FMA).
    Avx2,
}

/// The widest tiles this CPU runs, or `None` where the convolutions take im2col + `gemm`.
/// Probed on the calling thread (tests may force the `gemm` path or the `ymm` tiles there).
pub fn isa() -> Option<Isa> {
    #[cfg(test)]
    {
        use super::test_support::{FORCE_GEMM_CRATE, FORCE_YMM};
        if FORCE_GEMM_CRATE.get() {
            return None;
        }
        if FORCE_YMM.get() && level() != Level::Plain {
            return Some(Isa::Avx2);
        }
    }
    match level() {
        Level::Avx512 => Some(Isa::Avx512),
        Level::Avx2 => Some(Isa::Avx2),
        Level::Plain => None,
    }
}

/// `a` with `rows` rows and `cols` columns, stored `[rows][cols]`, written into `out` as
/// `[cols][pad16(rows)]` (rows past `rows` left as they are: zero in a fresh buffer), so the
/// channels are contiguous.
fn transpose_padded(a: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    let lda = rows.next_multiple_of(16);
    assert!(out.len() >= cols * lda, "transposed output size");
    // SAFETY: `out` holds `cols` rows of `lda`.
    unsafe { transpose(a, rows, cols, 0, cols, out.as_mut_ptr(), lda) };
}

/// `out[c·lda + r] = a[r·cols + first + c]` for `r < rows`, `c < n`: with AVX-512 blocks of
/// 16 × 16 turned in registers and the ragged edges one value at a time, else one value at a
/// time in blocks of 16 × 16 (a value at a time throughout, the packing of the weights was 4 %
/// of a training step's samples).
///
/// # Safety
/// `a` holds `rows·cols` values, `first + n ≤ cols`, and `out` `n` rows of `lda ≥ rows` values.
unsafe fn transpose(a: &[f32], rows: usize, cols: usize, first: usize, n: usize, out: *mut f32, lda: usize) {
    assert!(a.len() >= rows * cols && first + n <= cols && lda >= rows, "transpose bounds");
    if level() == Level::Avx512 {
        // SAFETY: the CPU has AVX-512F; the rest is the caller's.
        return unsafe { transpose_zmm(a, rows, cols, first, n, out, lda) };
    }
    for r0 in (0..rows).step_by(16) {
        for c0 in (0..n).step_by(16) {
            for r in r0..(r0 + 16).min(rows) {
                for c in c0..(c0 + 16).min(n) {
                    // SAFETY: c < n and r < rows ≤ lda (the caller's and the assert).
                    unsafe { *out.add(c * lda + r) = a[r * cols + first + c] };
                }
            }
        }
    }
}

/// [`transpose`] with AVX-512.
///
/// # Safety
/// AVX-512F; as for [`transpose`].
#[target_feature(enable = "avx512f")]
unsafe fn transpose_zmm(a: &[f32], rows: usize, cols: usize, first: usize, n: usize, out: *mut f32, lda: usize) {
    assert!(a.len() >= rows * cols && first + n <= cols && lda >= rows, "transpose bounds");
    let (full_rows, full_cols) = (rows / 16 * 16, n / 16 * 16);
    // SAFETY: every read is inside `a` and every write inside `out` (the caller's and the assert).
    unsafe {
        for r0 in (0..full_rows).step_by(16) {
            for c0 in (0..full_cols).step_by(16) {
                let at = a.as_ptr().add(r0 * cols + first + c0);
                let mut block: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(at.add(i * cols)));
                transpose16(&mut block);
                for (j, v) in block.iter().enumerate() {
                    _mm512_storeu_ps(out.add((c0 + j) * lda + r0), *v);
                }
            }
        }
        for r in 0..rows {
            let columns = if r < full_rows { full_cols..n } else { 0..n };
            for c in columns {
                *out.add(c * lda + r) = a[r * cols + first + c];
            }
        }
    }
}

/// A 16 × 16 block of rows `v` turned into its columns: after it, `v[j]` lane `i` is what
/// `v[i]` lane `j` was. Three rounds of shuffles: pairs of lanes, then of pairs, then of 128-bit
/// quarters (twice).
#[target_feature(enable = "avx512f")]
fn transpose16(v: &mut [__m512; 16]) {
    let mut t = [_mm512_setzero_ps(); 16];
    for k in 0..8 {
        t[2 * k] = _mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]);
    }
    for k in 0..4 {
        let (a, b, c, d) = (t[4 * k], t[4 * k + 1], t[4 * k + 2], t[4 * k + 3]);
        v[4 * k] = _mm512_shuffle_ps::<0x44>(a, c);
        v[4 * k + 1] = _mm512_shuffle_ps::<0xEE>(a, c);
        v[4 * k + 2] = _mm512_shuffle_ps::<0x44>(b, d);
        v[4 * k + 3] = _mm512_shuffle_ps::<0xEE>(b, d);
    }
    for h in 0..2 {
        for k in 0..4 {
            t[8 * h + k] = _mm512_shuffle_f32x4::<0x88>(v[8 * h + k], v[8 * h + k + 4]);
            t[8 * h + k + 4] = _mm512_shuffle_f32x4::<0xDD>(v[8 * h + k], v[8 * h + k + 4]);
        }
    }
    for k in 0..8 {
        v[k] = _mm512_shuffle_f32x4::<0x88>(t[k], t[k + 8]);
        v[k + 8] = _mm512_shuffle_f32x4::<0xDD>(t[k], t[k + 8]);
    }
}

/// One axis of a gather: for every coordinate of the result, the source coordinate its kernel
/// window is measured from, and the taps — (kernel index, step from that coordinate) — that land
/// inside the source.
pub struct Axis {
    starts: Vec<isize>,
    taps: Vec<Vec<(usize, isize)>>,
}

impl Axis {
    /// The forward's axis: output coordinate `u` reads input `u·stride − pad + i` for the kernel
    /// offsets `i` that land inside `0..size`.
    fn forward(out: usize, stride: usize, pad: usize, size: usize, kernel: usize) -> Self {
        let (starts, taps) = (0..out)
            .map(|u| {
                let lo = pad.saturating_sub(u * stride).min(kernel);
                let hi = (size + pad).saturating_sub(u * stride).clamp(lo, kernel);
                ((u * stride) as isize - pad as isize, (lo..hi).map(|i| (i, i as isize)).collect())
            })
            .unzip();
        Axis { starts, taps }
    }

    /// The input gradient's axis: input coordinate `u` receives from the outputs `v` with
    /// `v·stride + i = u + pad`, that is from `v = R − m` with kernel offset `i = ρ + m·stride`
    /// (`R`, `ρ` the quotient and remainder of `u + pad` by the stride), for the `m` that keep
    /// `i` inside the kernel and `v` inside `0..out`.
    fn transposed(size: usize, stride: usize, pad: usize, out: usize, kernel: usize) -> Self {
        let (starts, taps) = (0..size)
            .map(|u| {
                let (r, rho) = ((u + pad) / stride, (u + pad) % stride);
                let taps = (0..)
                    .map(|m| (rho + m * stride, m))
                    .take_while(|&(i, m)| i < kernel && m <= r)
                    .filter(|&(_, m)| r - m < out)
                    .map(|(i, m)| (i, -(m as isize)))
                    .collect();
                (r as isize, taps)
            })
            .unzip();
        Axis { starts, taps }
    }
}

/// A convolution pass as a gather: each result pixel (of `rows × cols`) is the sum over the
/// `channels` of a source (planes `plane` in size) of packed-weight rows times source values at
/// the pixel's taps. The pixels are grouped into classes by their taps (interior pixels share
/// one class; each border pattern is one more), and each class lists its entries once, so no
/// product with padding is made and the source needs no padded copy.
pub struct Windows {
    classes: Vec<Class>,
    /// Per entry: its weight row's offset into the packed weight (`(ch, ki, kj) · lda`) and
    /// its source value's offset from a pixel's base, `(ch·Hs + di)·Ws + dj`.
    rows: Vec<usize>,
    offs: Vec<isize>,
    /// Per result pixel, class by class: the offset of its base from its image's start, and its
    /// index.
    bases: Vec<isize>,
    pixels: Vec<usize>,
    /// Summed channels of the source and its values per image.
    channels: usize,
    image: usize,
    /// Source channels a pass over the columns takes at a time ([`channel_block`]).
    block: usize,
}

/// One class of [`Windows`]: its entries (`per_channel` for each summed channel, in channel
/// order) and its pixels.
struct Class {
    entries: usize,
    per_channel: usize,
    pixels: std::ops::Range<usize>,
}

impl Windows {
    /// The forward of `g` (weight packed by [`pack_weight`] with rows `lda` apart).
    pub fn forward(g: &Geometry, lda: usize) -> Self {
        let ((h, w), (sh, sw), (t, l, _, _), (oh, ow), (kh, kw)) =
            (g.in_size, g.stride, g.padding, g.out_size(), g.kernel);
        let (ys, xs) = (Axis::forward(oh, sh, t, h, kh), Axis::forward(ow, sw, l, w, kw));
        Windows::new(&ys, &xs, g.in_channels, (h, w), g.kernel, lda)
    }

    /// The input gradient of `g`, a gather from the output gradient (weight packed by
    /// [`pack_weight_transposed`] with rows `lda` apart).
    pub fn input_gradient(g: &Geometry, lda: usize) -> Self {
        let ((h, w), (sh, sw), (t, l, _, _), (oh, ow), (kh, kw)) =
            (g.in_size, g.stride, g.padding, g.out_size(), g.kernel);
        let (ys, xs) = (Axis::transposed(h, sh, t, oh, kh), Axis::transposed(w, sw, l, ow, kw));
        Windows::new(&ys, &xs, g.out_channels, (oh, ow), g.kernel, lda)
    }

    fn new(ys: &Axis, xs: &Axis, channels: usize, plane: (usize, usize), kernel: (usize, usize), lda: usize) -> Self {
        let ((hs, ws), (kh, kw)) = (plane, kernel);
        type Taps<'a> = &'a [(usize, isize)];
        let mut groups: std::collections::BTreeMap<(Taps, Taps), Vec<(usize, usize)>> = Default::default();
        for (y, row) in ys.taps.iter().enumerate() {
            for (x, col) in xs.taps.iter().enumerate() {
                groups.entry((row, col)).or_default().push((y, x));
            }
        }
        let mut win = Windows {
            classes: Vec::with_capacity(groups.len()),
            rows: Vec::new(),
            offs: Vec::new(),
            bases: Vec::new(),
            pixels: Vec::new(),
            channels,
            image: channels * hs * ws,
            block: (512 / (kh * kw)).max(1),
        };
        for ((row, col), pixels) in groups {
            win.classes.push(Class {
                entries: win.rows.len(),
                per_channel: row.len() * col.len(),
                pixels: win.pixels.len()..win.pixels.len() + pixels.len(),
            });
            for ch in 0..channels {
                for &(i, di) in row {
                    for &(j, dj) in col {
                        win.rows.push(((ch * kh + i) * kw + j) * lda);
                        win.offs.push(((ch * hs) as isize + di) * ws as isize + dj);
                    }
                }
            }
            for (y, x) in pixels {
                win.bases.push(ys.starts[y] * ws as isize + xs.starts[x]);
                win.pixels.push(y * xs.taps.len() + x);
            }
        }
        win
    }
}

/// Windows a thread keeps of each kind, newest first: the layers of the child it trains, forward
/// and backward (building them anew on every call was 1–2 % of a training step's wall time, on
/// the calling thread while the pool waited).
const RECENT: usize = 32;

/// Recently built windows, by geometry (its batch left out: windows do not depend on it) and `lda`.
type Recent<T> = RefCell<Vec<((Geometry, usize), Arc<T>)>>;

thread_local! {
    static FORWARD: Recent<Windows> = const { RefCell::new(Vec::new()) };
    static INPUT_GRADIENT: Recent<Windows> = const { RefCell::new(Vec::new()) };
    static WEIGHT_GRADIENT: Recent<WeightWindows> = const { RefCell::new(Vec::new()) };
    /// A gather's accumulators (`[column][lanes]`), kept for the thread's next task.
    static ACC: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// `build(g, lda)`, or the same built recently on this thread.
fn recent<T>(
    cache: &'static LocalKey<Recent<T>>,
    g: &Geometry,
    lda: usize,
    build: fn(&Geometry, usize) -> T,
) -> Arc<T> {
    let key = (Geometry { batch: 0, ..*g }, lda);
    cache.with(|cache| {
        let mut cache = cache.borrow_mut();
        let hit = match cache.iter().position(|(k, _)| *k == key) {
            Some(i) => cache.remove(i),
            None => (key, Arc::new(build(g, lda))),
        };
        let windows = Arc::clone(&hit.1);
        cache.insert(0, hit);
        cache.truncate(RECENT);
        windows
    })
}

impl Windows {
    /// [`Windows::forward`], kept for the next call with the same geometry.
    pub fn forward_recent(g: &Geometry, lda: usize) -> Arc<Self> {
        recent(&FORWARD, g, lda, Windows::forward)
    }

    /// [`Windows::input_gradient`], kept for the next call with the same geometry.
    pub fn input_gradient_recent(g: &Geometry, lda: usize) -> Arc<Self> {
        recent(&INPUT_GRADIENT, g, lda, Windows::input_gradient)
    }
}

impl WeightWindows {
    /// [`WeightWindows::new`], kept for the next call with the same geometry.
    pub fn recent(g: &Geometry, lda: usize) -> Arc<Self> {
        recent(&WEIGHT_GRADIENT, g, lda, WeightWindows::new)
    }
}

/// Images a forward or input-gradient task takes: at least [`RUN`], more when the result has
/// few pixels, so each class of [`Windows`] has columns enough to fill the register tiles.
pub fn gather_images(pixels: usize) -> usize {
    RUN.max(512usize.div_ceil(pixels.max(1)))
}

/// `a` (`[rows][cols]`) as `[cols][pad16(rows)]`, the lanes past `rows` zero, for the output
/// rows `first..` that `out` holds.
fn transpose_padded_into(a: &[f32], rows: usize, cols: usize, first: usize, out: &mut [MaybeUninit<f32>]) {
    let lda = rows.next_multiple_of(16);
    let n = out.len() / lda;
    // SAFETY: `out` holds `n` rows of `lda`, and writing through the pointer initialises them.
    unsafe { transpose(a, rows, cols, first, n, out.as_mut_ptr().cast::<f32>(), lda) };
    for dst in out.chunks_exact_mut(lda) {
        for v in &mut dst[rows..] {
            v.write(0.0);
        }
    }
}

/// The weight `[O, K]` packed for [`forward`]: `[K][pad16(O)]`, blocks of rows in parallel.
pub fn pack_weight(w: &[f32], g: &Geometry) -> Vec<f32> {
    const ROWS: usize = 64;
    let (o, k) = (g.out_channels, g.in_channels * g.kernel.0 * g.kernel.1);
    let lda = o.next_multiple_of(16);
    // SAFETY: each block writes all of its rows, padding lanes included.
    unsafe { par_filled(k * lda, ROWS * lda, |b, out| transpose_padded_into(w, o, k, b * ROWS, out)) }
}

/// The weight `[O, C, kh, kw]` packed for the input gradient: `[(O, kh, kw)][pad16(C)]`, a
/// filter per task.
pub fn pack_weight_transposed(w: &[f32], g: &Geometry) -> Vec<f32> {
    let (c, window) = (g.in_channels, g.kernel.0 * g.kernel.1);
    let ldc = c.next_multiple_of(16);
    // SAFETY: each filter's block is written whole, padding lanes included.
    unsafe {
        par_filled(g.out_channels * window * ldc, window * ldc, |o, out| {
            transpose_padded_into(&w[o * c * window..(o + 1) * c * window], c, window, 0, out)
        })
    }
}

/// Forward of the images `x` (`[images, C, H, W]`) into `y` (`[images, O, Ho, Wo]`), with the
/// weight packed by [`pack_weight`] and `win` from [`Windows::forward`] for the same `lda`, on
/// `isa`'s tiles (from [`isa`]).
pub fn forward(x: &[f32], wt: &[f32], g: &Geometry, win: &Windows, y: &mut [MaybeUninit<f32>], isa: Isa) {
    gather(x, wt, win, g.out_channels, y, isa);
}

/// Input gradient of the images' output gradients `dy` (`[images, O, Ho, Wo]`) into `dx`
/// (`[images, C, H, W]`), with the weight packed by [`pack_weight_transposed`] and `win` from
/// [`Windows::input_gradient`] for the same `lda`, on `isa`'s tiles.
pub fn backward_input(dy: &[f32], wp: &[f32], g: &Geometry, win: &Windows, dx: &mut [MaybeUninit<f32>], isa: Isa) {
    gather(dy, wp, win, g.in_channels, dx, isa);
}

/// `out` (`[images, lanes_total, pixels]`) from the source images `src` by the gather `win`
/// with the packed weight `a` (`[rows][pad16(lanes_total)]`).
///
/// Each result value is the sum of its class's entries in channel-block order, the same
/// however the images are split into tasks. Every value of `out` is written.
fn gather(src: &[f32], a: &[f32], win: &Windows, lanes_total: usize, out: &mut [MaybeUninit<f32>], isa: Isa) {
    let images = src.len() / win.image;
    let pixels = win.pixels.len();
    // The accumulators, this thread's buffer reused (every column is stored before it is read).
    let mut acc = ACC.take();
    if acc.len() < images * pixels * GROUP {
        acc = vec![0.0f32; images * pixels * GROUP];
    }
    // The columns' bases, computed once (not by a division per column and tile).
    let mut columns = Vec::with_capacity(images * pixels);
    for class in &win.classes {
        for img in 0..images {
            columns.extend(win.bases[class.pixels.clone()].iter().map(|b| (img * win.image) as isize + b));
        }
    }
    for c0 in (0..lanes_total).step_by(GROUP) {
        let a = &a[c0..];
        let (tiles, lanes) = tiles_for(isa, lanes_total - c0);
        let run = Run { src, columns: &columns, lanes };
        // SAFETY: the CPU runs `isa` (the caller's, from `isa()`); `a` holds every entry's row
        // from lane c0; every entry of every pixel lies inside its image; acc holds a row per
        // column.
        unsafe { gather_group(tiles, &run, a, win, &mut acc) };
        // acc holds, class by class, every image's pixels of the class: `[column][lanes]`.
        let channels = (lanes_total - c0).min(run.lanes);
        let mut column = acc.chunks_exact(run.lanes);
        for class in &win.classes {
            let class_pixels = &win.pixels[class.pixels.clone()];
            for img in 0..images {
                for &pix in class_pixels {
                    let values = column.next().expect("a column per image and pixel");
                    let dst = &mut out[(img * lanes_total + c0) * pixels + pix..];
                    for (ch, v) in values[..channels].iter().enumerate() {
                        dst[ch * pixels].write(*v);
                    }
                }
            }
        }
    }
    ACC.set(acc);
}

/// The source images of one gather task.
struct Run<'a> {
    src: &'a [f32],
    /// Per column (class by class, image by image, pixel by pixel): its base in `src`.
    columns: &'a [isize],
    /// Accumulator lanes per column.
    lanes: usize,
}

/// The run's `lanes` lanes from `c0` of every result pixel, into `acc` (`[column][lanes]`,
/// columns class by class), by `tiles` (from [`tiles_for`]).
///
/// # Safety
/// The CPU runs `tiles`; `a` holds `run.lanes` values at every entry's row; `acc` has a row of
/// `lanes` for every image and pixel.
unsafe fn gather_group(tiles: Tiles, run: &Run, a: &[f32], win: &Windows, acc: &mut [f32]) {
    for c_start in (0..win.channels).step_by(win.block) {
        let c_end = (c_start + win.block).min(win.channels);
        let mut col0 = 0;
        for class in &win.classes {
            let entries = class.entries + c_start * class.per_channel..class.entries + c_end * class.per_channel;
            let columns = &run.columns[col0..col0 + run.columns.len() / win.pixels.len() * class.pixels.len()];
            let (rows, offs) = (&win.rows[entries.clone()], &win.offs[entries]);
            let sums = Sums { rows, offs, a, src: run.src, columns, ldo: run.lanes, accumulate: c_start > 0 };
            // SAFETY: the caller's; base + offset lies inside the source.
            unsafe { tiles(&sums, &mut acc[col0 * run.lanes..]) };
            col0 += columns.len();
        }
    }
}

/// The weight gradient as a gather: its columns are the kernel-window elements `(c, i, j)`,
/// grouped into classes by the output pixels for which they land inside the image (along each
/// axis a range of output coordinates), so each class sums `dyᵀ` rows times input values over
/// its valid pixels only, and the input needs no padded copy. `dWᵀ` is kept with its rows in
/// class order; [`unpack_weight_gradient`] puts them back.
pub struct WeightWindows {
    classes: Vec<WeightClass>,
    /// Per column, class by class: the offset of its input from a pixel's corner,
    /// `(c·H + i − top)·W + j − left` (possibly negative), and its row `(c·kh + i)·kw + j` of `dW`ᵀ.
    bases: Vec<isize>,
    order: Vec<usize>,
    /// Per class, for `run` images: the `dyᵀ` row offset (`pixel · lda`) and the corner's
    /// offset in the input of each valid pixel, image by image.
    rows: Vec<usize>,
    offs: Vec<isize>,
    image_in: usize,
    /// Images summed at a time ([`gather_images`]): their input and `dyᵀ` stay in cache.
    run: usize,
}

/// One class of [`WeightWindows`]: its columns, and its `per_image` valid pixels' entries.
struct WeightClass {
    columns: std::ops::Range<usize>,
    entries: usize,
    per_image: usize,
}

impl WeightWindows {
    /// The classes of `g`'s kernel-window elements, for `dyᵀ` rows `lda` apart.
    pub fn new(g: &Geometry, lda: usize) -> Self {
        let ((h, w), (sh, sw), (t, l, _, _), (oh, ow), (kh, kw)) =
            (g.in_size, g.stride, g.padding, g.out_size(), g.kernel);
        // Kernel offsets keyed by their valid output ranges (rows, then columns).
        type Ranges = ((usize, usize), (usize, usize));
        let mut groups: std::collections::BTreeMap<Ranges, Vec<(usize, usize)>> = Default::default();
        for i in 0..kh {
            for j in 0..kw {
                groups.entry((valid_range(i, sh, t, h, oh), valid_range(j, sw, l, w, ow))).or_default().push((i, j));
            }
        }
        let image_in = g.in_channels * h * w;
        let run = gather_images(oh * ow);
        let mut win = WeightWindows {
            classes: Vec::with_capacity(groups.len()),
            bases: Vec::new(),
            order: Vec::new(),
            rows: Vec::new(),
            offs: Vec::new(),
            image_in,
            run,
        };
        for (((y0, y1), (x0, x1)), offsets) in groups {
            let first = win.bases.len();
            for c in 0..g.in_channels {
                for &(i, j) in &offsets {
                    win.bases.push(((c * h + i) as isize - t as isize) * w as isize + j as isize - l as isize);
                    win.order.push((c * kh + i) * kw + j);
                }
            }
            win.classes.push(WeightClass {
                columns: first..win.bases.len(),
                entries: win.rows.len(),
                per_image: (y1 - y0) * (x1 - x0),
            });
            for b in 0..run {
                for y in y0..y1 {
                    for x in x0..x1 {
                        win.rows.push((b * oh * ow + y * ow + x) * lda);
                        win.offs.push((b * image_in + y * sh * w + x * sw) as isize);
                    }
                }
            }
        }
        win
    }
}

/// Weight gradient of the images `x` (`[images, C, H, W]`) for the output gradient `dy`
/// (`[images, O, Ho, Wo]`), as `dWᵀ` `[K][pad16(O)]` with its rows in `win`'s class order (the
/// caller sums threads and puts the rows back with [`unpack_weight_gradient`]), on `isa`'s tiles.
pub fn weight_gradient(x: &[f32], dy: &[f32], g: &Geometry, win: &WeightWindows, isa: Isa) -> Vec<f32> {
    let (o, k, pixels) = (g.out_channels, g.in_channels * g.kernel.0 * g.kernel.1, g.out_size().0 * g.out_size().1);
    let lda = o.next_multiple_of(16);
    let mut dwt = vec![0.0f32; k * lda];
    // dyᵀ of one run: [image·pixel][lda] (the padding lanes stay zero across runs).
    let mut dyt = vec![0.0f32; win.run.min(x.len() / win.image_in) * pixels * lda];
    // A few images at a time, so their input and dyᵀ are still in cache when read.
    for (run, (xs, dys)) in x.chunks(win.run * win.image_in).zip(dy.chunks(win.run * o * pixels)).enumerate() {
        let images = xs.len() / win.image_in;
        let dyt = &mut dyt[..images * pixels * lda];
        for (t, d) in dyt.chunks_exact_mut(pixels * lda).zip(dys.chunks_exact(o * pixels)) {
            transpose_padded(d, o, pixels, t);
        }
        let add = run > 0;
        for c0 in (0..o).step_by(GROUP) {
            let (a, dwt) = (&dyt[c0..], &mut dwt[c0..]);
            let (tiles, _) = tiles_for(isa, o - c0);
            let run = WeightRun { x: xs, images, a, lda };
            // SAFETY: the CPU runs `isa` (the caller's); dyt is [pixels][lda], dwt has a row per
            // column; every valid pixel's input lies inside its image.
            unsafe { weight_group(tiles, &run, win, dwt, add) };
        }
    }
    dwt
}

/// One run of images of a weight gradient: their inputs `x` and `dyᵀ` `a` (`[images·pixels][lda]`,
/// from the group's first lane).
struct WeightRun<'a> {
    x: &'a [f32],
    images: usize,
    a: &'a [f32],
    lda: usize,
}

/// `dWᵀ` lanes from `c0` (as many as `tiles` takes) of every column, summed over the run's
/// images; added to what `dwt` holds with `add`.
///
/// # Safety
/// The CPU runs `tiles`; `dwt` holds a row of `lda` per column from lane `c0`;
/// `run.images` ≤ `win.run`.
unsafe fn weight_group(tiles: Tiles, run: &WeightRun, win: &WeightWindows, dwt: &mut [f32], add: bool) {
    let (x, images, a, lda) = (run.x, run.images, run.a, run.lda);
    for class in &win.classes {
        let (first, end) = (class.entries, class.entries + images * class.per_image);
        let bases = &win.bases[class.columns.clone()];
        // A block of pixels at a time, so its `dyᵀ` rows stay in cache for every column tile.
        for d0 in (first..end).step_by(PIXEL_BLOCK) {
            let block = d0..(d0 + PIXEL_BLOCK).min(end);
            let (rows, offs) = (&win.rows[block.clone()], &win.offs[block]);
            let sums = Sums { rows, offs, a, src: x, columns: bases, ldo: lda, accumulate: add || d0 > first };
            // SAFETY: the caller's; corner + base lies inside x for every valid pixel.
            unsafe { tiles(&sums, &mut dwt[class.columns.start * lda..]) };
        }
    }
}

/// `dW` `[O, K]` from the threads' `dWᵀ` (`[K][pad16(O)]` each, rows in `win`'s class order),
/// summed.
///
/// A block of rows at a time, in parallel: the parts are added in their own layout —
/// contiguous rows, each element summed in the parts' order (so the bits are those of adding
/// each part into `dW`) — and the block's sum is written transposed into its columns of `dW`.
pub fn unpack_weight_gradient(parts: &[Vec<f32>], g: &Geometry, win: &WeightWindows) -> Vec<f32> {
    const ROWS: usize = 64;
    let (o, k) = (g.out_channels, g.in_channels * g.kernel.0 * g.kernel.1);
    let lda = o.next_multiple_of(16);
    let mut dw = Vec::with_capacity(o * k);
    let out = SharedOut(dw.spare_capacity_mut().as_mut_ptr());
    win.order.par_chunks(ROWS).enumerate().for_each(|(block, order)| {
        let rows = block * ROWS * lda..(block * ROWS + order.len()) * lda;
        let mut sum = parts[0][rows.clone()].to_vec();
        for part in &parts[1..] {
            for (a, b) in sum.iter_mut().zip(&part[rows.clone()]) {
                *a += b;
            }
        }
        for ch in 0..o {
            for (row, &kk) in sum.chunks_exact(lda).zip(order) {
                // SAFETY: `order` is a permutation of 0..K, so the blocks write disjoint
                // columns of dW, each inside its O·K values.
                unsafe { out.write(ch * k + kk, row[ch]) };
            }
        }
    });
    // SAFETY: every (ch, kk) was written above.
    unsafe { dw.set_len(o * k) };
    dw
}

/// The start of an output that parallel tasks write at disjoint places.
struct SharedOut(*mut MaybeUninit<f32>);

// SAFETY: the tasks write disjoint elements (each caller says why).
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// Write `v` at `i`.
    ///
    /// # Safety
    /// `i` lies inside the output, and no other task writes it.
    unsafe fn write(&self, i: usize, v: f32) {
        // SAFETY: the caller's.
        unsafe { (*self.0.add(i)).write(v) };
    }
}

/// What a tile call sums: for every column `n` (its base in `src`) and lane `l`,
/// `out[n·ldo + l] (+)= Σ_d a[rows[d] + l] · src[columns[n] + offs[d]]`, added to what `out`
/// holds with `accumulate`.
struct Sums<'a> {
    rows: &'a [usize],
    offs: &'a [isize],
    a: &'a [f32],
    src: &'a [f32],
    columns: &'a [isize],
    ldo: usize,
    accumulate: bool,
}

/// A register-tile kernel over the columns of [`Sums`] into `out` ([`tiles`] or [`tiles_ymm`],
/// one instance per channel tile).
type Tiles = unsafe fn(&Sums, &mut [f32]);

/// The kernel for a group of `channels` (at most [`GROUP`] are taken) on `isa`, and the lanes
/// it computes (`channels` rounded up to 8 or 16).
fn tiles_for(isa: Isa, channels: usize) -> (Tiles, usize) {
    let (mv, h) = vectors(channels);
    let lanes = 16 * mv + 8 * h;
    let tiles: Tiles = match (isa, mv, h) {
        (Isa::Avx512, 0, _) => tiles::<0, 1, 12>,
        (Isa::Avx512, 1, 0) => tiles::<1, 0, 12>,
        (Isa::Avx512, 1, _) => tiles::<1, 1, 8>,
        (Isa::Avx512, 2, 0) => tiles::<2, 0, 8>,
        (Isa::Avx512, 2, _) => tiles::<2, 1, 8>,
        (Isa::Avx512, 3, 0) => tiles::<3, 0, 8>,
        (Isa::Avx512, 3, _) => tiles::<3, 1, 6>,
        (Isa::Avx512, _, _) => tiles::<4, 0, 6>,
        (Isa::Avx2, 0, _) => tiles_ymm::<0, 1>,
        (Isa::Avx2, 1, 0) => tiles_ymm::<1, 0>,
        (Isa::Avx2, 1, _) => tiles_ymm::<1, 1>,
        (Isa::Avx2, 2, 0) => tiles_ymm::<2, 0>,
        (Isa::Avx2, 2, _) => tiles_ymm::<2, 1>,
        (Isa::Avx2, 3, 0) => tiles_ymm::<3, 0>,
        (Isa::Avx2, 3, _) => tiles_ymm::<3, 1>,
        (Isa::Avx2, _, _) => tiles_ymm::<4, 0>,
    };
    (tiles, lanes)
}

/// One block of up to `NR` columns of a tile call, as the micro-kernels ([`tile`],
/// [`tile_ymm`]) read it: `out[n][l] (+)= Σ_d a[rows[d] + l] · src[base_n + offs[d]]` for
/// `d < depth`, the first `cols` columns stored, `out`'s rows `ldo` apart.
#[derive(Clone, Copy)]
struct Block<const NR: usize> {
    depth: usize,
    a: *const f32,
    rows: *const usize,
    offs: *const isize,
    /// `src + base_n` per column (the last column's repeated past `cols`; a base alone may lie
    /// before the source, never a base plus an entry's offset).
    cols_at: [*const f32; NR],
    out: *mut f32,
    ldo: usize,
    cols: usize,
    accumulate: bool,
}

impl<const NR: usize> Block<NR> {
    /// The same block from lane `lane` on (of `a`'s rows and of `out`'s).
    fn at_lane(self, lane: usize) -> Self {
        Block { a: self.a.wrapping_add(lane), out: self.out.wrapping_add(lane), ..self }
    }
}

/// The columns of `s` in blocks of `NR`, each with its part of `out`.
#[inline(always)]
fn blocks<const NR: usize>(s: &Sums, out: &mut [f32], mut f: impl FnMut(Block<NR>)) {
    let (columns, ldo) = (s.columns, s.ldo);
    for n0 in (0..columns.len()).step_by(NR) {
        let cols = NR.min(columns.len() - n0);
        let cols_at = std::array::from_fn(|n| s.src.as_ptr().wrapping_offset(columns[n0 + n.min(cols - 1)]));
        f(Block {
            depth: s.rows.len(),
            a: s.a.as_ptr(),
            rows: s.rows.as_ptr(),
            offs: s.offs.as_ptr(),
            cols_at,
            out: out[n0 * ldo..].as_mut_ptr(),
            ldo,
            cols,
            accumulate: s.accumulate,
        });
    }
}

/// [`tile`] over every block of `NR` columns (see [`blocks`]).
///
/// # Safety
/// AVX-512F and VL; `s.a` holds `16·MV + 8·H` values at every row, every column's base plus
/// every offset lies inside `s.src`, and `out` holds a row of `s.ldo ≥ 16·MV + 8·H` per column.
#[target_feature(enable = "avx512f,avx512vl,fma")]
unsafe fn tiles<const MV: usize, const H: usize, const NR: usize>(s: &Sums, out: &mut [f32]) {
    // SAFETY: the caller's.
    blocks::<NR>(s, out, |b| unsafe { tile::<MV, H, NR>(b) });
}

/// Columns of a [`tile_ymm`]: 12 accumulators of 16 lanes' two `ymm` each, two for `a`'s row,
/// one broadcast — 15 of the 16 registers.
const NR_YMM: usize = 6;

/// [`tiles`] on AVX2: the `16·MV + 8·H` lanes as `MV` tiles of 16 and `H` of 8, each over
/// the same block of [`NR_YMM`] columns (whose source values the later tiles read from L1).
///
/// # Safety
/// AVX2 and FMA; as for [`tiles`].
#[target_feature(enable = "avx2,fma")]
unsafe fn tiles_ymm<const MV: usize, const H: usize>(s: &Sums, out: &mut [f32]) {
    blocks::<NR_YMM>(s, out, |b| {
        // SAFETY: the caller's; each tile's lanes lie inside the `16·MV + 8·H`.
        unsafe {
            for v in 0..MV {
                tile_ymm::<2, NR_YMM>(b.at_lane(16 * v));
            }
            if H == 1 {
                tile_ymm::<1, NR_YMM>(b.at_lane(16 * MV));
            }
        }
    });
}

/// The block's `16·MV + 8·H` lanes (`MV` `zmm` vectors, then with `H = 1` one `ymm`): each step
/// loads the vectors of `a`'s row, broadcasts the `NR` columns' source values straight from
/// memory and makes `(MV + H)·NR` FMAs.
///
/// # Safety
/// AVX-512F and VL; `a` holds `16·MV + 8·H` values at each of the `depth` rows, every column's
/// base plus every offset lies inside the source, and `out` holds `cols` rows of `16·MV + 8·H`.
#[target_feature(enable = "avx512f,avx512vl,fma")]
unsafe fn tile<const MV: usize, const H: usize, const NR: usize>(b: Block<NR>) {
    // SAFETY: the caller's.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); NR]; MV];
        let mut half = [_mm256_setzero_ps(); NR];
        for d in 0..b.depth {
            let off = *b.offs.add(d);
            let ad = b.a.add(*b.rows.add(d));
            let av: [__m512; MV] = std::array::from_fn(|v| _mm512_loadu_ps(ad.add(16 * v)));
            let ah = if H == 1 { _mm256_loadu_ps(ad.add(16 * MV)) } else { _mm256_setzero_ps() };
            for (n, col) in b.cols_at.iter().enumerate() {
                let v = *col.wrapping_offset(off);
                let x = _mm512_set1_ps(v);
                for (acc, av) in acc.iter_mut().zip(&av) {
                    acc[n] = _mm512_fmadd_ps(*av, x, acc[n]);
                }
                if H == 1 {
                    half[n] = _mm256_fmadd_ps(ah, _mm256_set1_ps(v), half[n]);
                }
            }
        }
        // A constant trip count, so the accumulators stay registers (a run-time bound here made
        // LLVM keep them in memory).
        for n in 0..NR {
            if n >= b.cols {
                break;
            }
            let row = b.out.add(n * b.ldo);
            for (v, acc) in acc.iter().enumerate() {
                let p = row.add(16 * v);
                let r = if b.accumulate { _mm512_add_ps(acc[n], _mm512_loadu_ps(p)) } else { acc[n] };
                _mm512_storeu_ps(p, r);
            }
            if H == 1 {
                store_ymm(half[n], row.add(16 * MV), b.accumulate);
            }
        }
    }
}

/// [`tile`] on AVX2 for `8·V` lanes, each lane's sum in the same order as [`tile`]'s.
///
/// # Safety
/// AVX2 and FMA; as for [`tile`] with `8·V` lanes.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_ymm<const V: usize, const NR: usize>(b: Block<NR>) {
    // SAFETY: the caller's.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); NR]; V];
        for d in 0..b.depth {
            let off = *b.offs.add(d);
            let ad = b.a.add(*b.rows.add(d));
            let av: [__m256; V] = std::array::from_fn(|v| _mm256_loadu_ps(ad.add(8 * v)));
            for (n, col) in b.cols_at.iter().enumerate() {
                let x = _mm256_set1_ps(*col.wrapping_offset(off));
                for (acc, av) in acc.iter_mut().zip(&av) {
                    acc[n] = _mm256_fmadd_ps(*av, x, acc[n]);
                }
            }
        }
        for n in 0..NR {
            if n >= b.cols {
                break;
            }
            for (v, acc) in acc.iter().enumerate() {
                store_ymm(acc[n], b.out.add(n * b.ldo + 8 * v), b.accumulate);
            }
        }
    }
}

/// `*p = v`, or `*p += v` with `accumulate`, for 8 lanes.
///
/// # Safety
/// AVX; `p` holds 8 values.
#[inline(always)]
unsafe fn store_ymm(v: __m256, p: *mut f32, accumulate: bool) {
    // SAFETY: the caller's.
    unsafe {
        let r = if accumulate { _mm256_add_ps(v, _mm256_loadu_ps(p)) } else { v };
        _mm256_storeu_ps(p, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocked transpose writes what its definition says — full 16 × 16 blocks, ragged rows
    /// and columns, an offset first column — and zeroes the padding lanes.
    #[test]
    fn transposes_blocks_and_ragged_edges() {
        for (rows, cols, first, n) in
            [(84, 300, 64, 64), (16, 16, 0, 16), (5, 3, 1, 2), (33, 50, 17, 33), (84, 49, 0, 49)]
        {
            let a = crate::kernels::test_support::values(rows * cols, 7);
            let lda = rows.next_multiple_of(16);
            let mut out = vec![MaybeUninit::new(f32::NAN); n * lda];
            transpose_padded_into(&a, rows, cols, first, &mut out);
            for c in 0..n {
                for r in 0..lda {
                    let want = if r < rows { a[r * cols + first + c] } else { 0.0 };
                    // SAFETY: every value was initialised (NaN before, written since).
                    assert_eq!(
                        unsafe { out[c * lda + r].assume_init() },
                        want,
                        "{rows}x{cols} from {first}: ({r}, {c})"
                    );
                }
            }
        }
    }

    /// A thread builds a geometry's windows once whatever the batch, builds them again for
    /// another geometry or row stride, and keeps at most [`RECENT`].
    #[test]
    fn recent_windows_are_kept_per_geometry_and_bounded() {
        let g = Geometry {
            batch: 4,
            in_channels: 8,
            in_size: (7, 7),
            out_channels: 16,
            kernel: (3, 3),
            stride: (1, 1),
            padding: (1, 1, 1, 1),
        };
        let a = Windows::forward_recent(&g, 16);
        assert!(Arc::ptr_eq(&a, &Windows::forward_recent(&Geometry { batch: 64, ..g }, 16)));
        assert!(!Arc::ptr_eq(&a, &Windows::forward_recent(&g, 32)));
        assert!(!Arc::ptr_eq(&a, &Windows::forward_recent(&Geometry { stride: (2, 2), ..g }, 16)));
        let w = WeightWindows::recent(&g, 16);
        assert!(Arc::ptr_eq(&w, &WeightWindows::recent(&Geometry { batch: 1, ..g }, 16)));
        for c in 0..RECENT {
            Windows::forward_recent(&Geometry { in_channels: 9 + c, ..g }, 16);
        }
        FORWARD.with(|cache| assert_eq!(cache.borrow().len(), RECENT));
        assert!(!Arc::ptr_eq(&a, &Windows::forward_recent(&g, 16)), "the oldest was dropped");
    }
}
