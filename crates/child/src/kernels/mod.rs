//! Hand-written CPU kernels for the operations a child spends its time in: convolution
//! ([`conv`]: forward and both gradients, as direct AVX-512 kernels (`direct`) where the CPU
//! has AVX-512F/VL, as im2col + `gemm` elsewhere) and training-mode batch norm + ReLU
//! ([`bn_relu`], fused), with the 2×2 max-pooling that can follow them ([`max_pool`]) and the
//! padded concatenation that feeds a layer its skip connections ([`concat`]). Each is registered
//! in burn's autodiff graph as one operation with its own backward (`conv_op`, `bn_relu_op`,
//! `max_pool_op`, `concat_op`) and runs when the tensors live on burn's pure-Rust `flex` backend
//! in `f32`; on every other backend, and with [`Kernels::Burn`], the child uses burn's own
//! operations.
//!
//! Why: burn 0.22's `flex` takes a convolution's input gradient as a direct transposed
//! convolution, its weight gradient through transposed copies of both operands, and re-lays the
//! input out as NHWC on one thread on every call; its batch norm is generic code that transposes
//! the activation for every statistic. `nas bench child` measures both paths in one run (the
//! `flex` and `flex/burn-ops` rows). This belongs upstream in burn-flex; it lives here until then.

pub mod bn_relu;
mod bn_relu_op;
pub mod concat;
mod concat_op;
pub mod conv;
mod conv_op;
#[cfg(target_arch = "x86_64")]
mod direct;
mod fast_math;
mod matmul;
pub mod max_pool;
mod max_pool_op;
pub mod recurrent;
mod recurrent_op;
pub mod sgd;
pub mod softmax_loss;
mod softmax_loss_op;

use std::mem::MaybeUninit;

use burn::tensor::DType;
use burn_backend::{Bytes, Shape};
use burn_flex::{FlexTensor, Layout};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use bn_relu_op::{batch_norm_relu, batch_norm_relu_batch_stats};
pub use concat_op::concat_padded;
pub use conv_op::{ConvSpec, conv2d};
pub use max_pool_op::max_pool_2x2;
pub use recurrent_op::{LayerInputs, recurrent_layer};
pub use sgd::SgdStep;
pub use softmax_loss_op::decoder_cross_entropy;

/// Which implementation runs a child's convolutions and batch norms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// This module's kernels on `flex`; burn's elsewhere. Default.
    #[default]
    Fast,
    /// burn's own operations everywhere (the reference the fast kernels are tested against).
    Burn,
}

impl Kernels {
    /// `fast()` (a kernel, `None` where it cannot run) with [`Kernels::Fast`]; `None` with
    /// [`Kernels::Burn`], for the caller to run burn's operation.
    pub fn run<T>(self, fast: impl FnOnce() -> Option<T>) -> Option<T> {
        match self {
            Kernels::Fast => fast(),
            Kernels::Burn => None,
        }
    }
}

type Flex = burn_flex::Flex;
type AutodiffFlex = burn_autodiff::Autodiff<Flex>;

/// A contiguous `flex` tensor of `f32` values.
fn flex_tensor(data: Vec<f32>, dims: &[usize]) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(data), Layout::contiguous(Shape::from(dims.to_vec())), DType::F32)
}

/// Images per parallel task: one contiguous run of images per thread of the current rayon pool
/// (both kernels split work by whole images).
fn images_per_thread(batch: usize) -> usize {
    batch.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// A vector of `len` values written in parallel, `chunk` at a time, by `fill(chunk index,
/// chunk)`, into memory nobody zeroed first (a serial `memset` of the whole buffer was a tenth
/// of the calling thread's time in a training step).
///
/// # Safety
/// `fill` writes every value of its chunk.
pub(crate) unsafe fn par_filled<T: Send>(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync,
) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len].par_chunks_mut(chunk.max(1)).enumerate().for_each(|(i, c)| fill(i, c));
    // SAFETY: the caller's: every value was written.
    unsafe { v.set_len(len) };
    v
}

/// Two vectors of `len` values each, written in parallel like [`par_filled`]: `fill(chunk index,
/// chunk of the first, chunk of the second)`, the chunks at the same places.
///
/// # Safety
/// `fill` writes every value of both its chunks.
pub(crate) unsafe fn par_filled_pair<A: Send, B: Send>(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<A>], &mut [MaybeUninit<B>]) + Sync,
) -> (Vec<A>, Vec<B>) {
    let (mut a, mut b) = (Vec::with_capacity(len), Vec::with_capacity(len));
    let chunk = chunk.max(1);
    a.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk)
        .zip(b.spare_capacity_mut()[..len].par_chunks_mut(chunk))
        .enumerate()
        .for_each(|(i, (a, b))| fill(i, a, b));
    // SAFETY: the caller's: every value of both was written.
    unsafe {
        a.set_len(len);
        b.set_len(len);
    }
    (a, b)
}

/// Helpers the kernel tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use std::cell::Cell;

    thread_local! {
        /// Turns the direct convolution kernels off on this thread, so tests cover the
        /// im2col + `gemm` path too.
        pub(crate) static FORCE_GEMM_CRATE: Cell<bool> = const { Cell::new(false) };
        /// Runs the direct kernels on AVX2 tiles on this thread even where the CPU has AVX-512,
        /// so an AVX-512 machine tests both kinds of tile.
        pub(crate) static FORCE_YMM: Cell<bool> = const { Cell::new(false) };
    }

    /// Run `f` (given the path's name) on every path of the convolutions this CPU has: the
    /// direct kernels on AVX-512 tiles, on AVX2 tiles, and im2col + `gemm`.
    pub(crate) fn on_every_path(f: impl Fn(&str)) {
        #[cfg(target_arch = "x86_64")]
        {
            use super::direct::{Isa, isa};
            if isa() == Some(Isa::Avx512) {
                f("direct, AVX-512");
            }
            FORCE_YMM.set(true);
            if isa() == Some(Isa::Avx2) {
                f("direct, AVX2");
            }
            FORCE_YMM.set(false);
        }
        FORCE_GEMM_CRATE.set(true);
        f("im2col + gemm");
        FORCE_GEMM_CRATE.set(false);
    }

    /// `n` deterministic values in [-1, 1).
    pub(crate) fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }
}
