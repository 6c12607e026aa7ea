//! One `f32` matrix product on the `gemm` crate, shared by the kernels: [`matmul`] on raw views
//! (the convolution's strided im2col operands) and [`product`], its checked form on slices that
//! hold a matrix or its transpose. Products big enough to pay for it are split over the current
//! rayon pool; `gemm` splits the output, never the sum, so the bits do not depend on the thread
//! count (tested in the recurrent kernels).

use gemm::{Parallelism, gemm};

/// Row-major matrix view for [`matmul`]: element `(r, c)` at `ptr + r·rs + c·cs`.
#[derive(Clone, Copy)]
pub(crate) struct View {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

impl View {
    pub(crate) fn rows(s: &[f32], cols: usize) -> View {
        View { ptr: s.as_ptr(), rs: cols as isize, cs: 1 }
    }
    /// The transpose of a row-major `[rows, cols]` matrix stored in `s`: element `(c, r)`.
    pub(crate) fn transposed(s: &[f32], cols: usize) -> View {
        View { ptr: s.as_ptr(), rs: 1, cs: cols as isize }
    }
}

/// Multiply-adds from which a product runs on every thread of the pool…
const PARALLEL_WORK: usize = 1 << 20;
/// …if its output has this many elements to split: a `[20, 1600] × [1600, 200]` product (a
/// recurrent layer's input gradient, 4,000 outputs) ran at 103 GFLOP/s on one thread and 65 on
/// two; `[20, 200] × [200, 1600]` (32,000) at 192 and 318.
const PARALLEL_OUTPUTS: usize = 16_384;

/// `dst[m, n] (+)= scale · lhs[m, k] · rhs[k, n]`; `dst` is row-major with `n` columns. With
/// `accumulate`, the product is added to what `dst` holds; with `parallel`, a product of at
/// least [`PARALLEL_WORK`] multiply-adds and [`PARALLEL_OUTPUTS`] outputs is split over the
/// rayon pool.
///
/// # Safety
/// `lhs` and `rhs` must address `m × k` and `k × n` readable elements.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    lhs: View,
    rhs: View,
    accumulate: bool,
    scale: f32,
    parallel: bool,
) {
    assert!(dst.len() >= m * n);
    let threads = rayon::current_num_threads();
    let parallelism = if parallel && threads > 1 && m * n * k >= PARALLEL_WORK && m * n >= PARALLEL_OUTPUTS {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: dst holds m × n elements (checked); the caller vouches for lhs and rhs.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// A matrix operand of [`product`]: `[rows, cols]` row-major in `data`, or (`transposed`) the
/// transpose of the row-major `[cols, rows]` matrix in `data`.
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a> {
    pub data: &'a [f32],
    pub transposed: bool,
}

impl<'a> Operand<'a> {
    pub(crate) fn plain(data: &'a [f32]) -> Self {
        Operand { data, transposed: false }
    }
    pub(crate) fn t(data: &'a [f32]) -> Self {
        Operand { data, transposed: true }
    }
    fn view(self, rows: usize, cols: usize) -> View {
        assert!(self.data.len() >= rows * cols, "matrix operand too small");
        if self.transposed { View::transposed(self.data, rows) } else { View::rows(self.data, cols) }
    }
}

/// `dst[m, n] (+)= a[m, k] · b[k, n]`, split over the pool when large (see [`matmul`]).
pub(crate) fn product(dst: &mut [f32], dims: (usize, usize, usize), a: Operand, b: Operand, accumulate: bool) {
    product_with(dst, dims, a, b, Product { accumulate, scale: 1.0, parallel: true });
}

/// How [`product_with`] writes its result.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Product {
    /// Add to what `dst` holds.
    pub accumulate: bool,
    /// The product is multiplied by this.
    pub scale: f32,
    /// Split over the rayon pool when large.
    pub parallel: bool,
}

/// `dst[m, n] (+)= scale · a[m, k] · b[k, n]` as `how` says.
pub(crate) fn product_with(dst: &mut [f32], (m, n, k): (usize, usize, usize), a: Operand, b: Operand, how: Product) {
    let (lhs, rhs) = (a.view(m, k), b.view(k, n));
    // SAFETY: both views were checked to cover their matrices.
    unsafe { matmul(m, n, k, dst, lhs, rhs, how.accumulate, how.scale, how.parallel) }
}
