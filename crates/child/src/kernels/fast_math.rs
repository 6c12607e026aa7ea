//! Branch-free `exp`, `sigmoid` and `tanh` for the language-model kernels, written so that loops
//! over them vectorise (libm's `expf` is one scalar call per element: 12–15 % of a language-model
//! training step before these kernels, `perf` in docs/RESULTS.md), and [`vectorised`], which runs
//! such a loop compiled for AVX-512 or AVX2 where the CPU has it.
//!
//! `exp` is Cephes' `expf`: Cody–Waite reduction by ln 2 and a degree-5 polynomial, relative
//! error ≤ 2 ulp on [-87, 88] (tested against `f32::exp`); inputs are clamped to that range, so
//! `exp(-1000) ≈ 6e-39`, not 0, and `exp(1000)` is finite.

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// e^x (see the module's note on range and accuracy).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh x as 1 − 2 / (e^2x + 1): absolute error below 1e-6 (relative error grows near 0).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// Run `f` compiled with AVX-512 (or AVX2 + FMA) enabled where this CPU has it, so that the
/// loops it inlines vectorise 16 (8) lanes wide; plainly elsewhere. `f` must be `#[inline(always)]`
/// code for the wider instructions to reach its loops.
#[inline(always)]
pub fn vectorised<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
        fn wide<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if *AVX512 {
            // SAFETY: the CPU has these features (checked once).
            return unsafe { wide(f) };
        }
        if *AVX2 {
            // SAFETY: as above.
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
static AVX512: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("fma")
});
#[cfg(target_arch = "x86_64")]
static AVX2: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut worst = 0.0f64;
        for i in -87_000..88_000 {
            let x = i as f32 * 1e-3 + 1.7e-4;
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 2.5 * f32::EPSILON as f64, "worst relative error {worst}");
        assert!(exp(-1000.0) >= 0.0 && exp(-1000.0) < 1e-37 && exp(1000.0).is_finite());
    }

    #[test]
    fn sigmoid_and_tanh_match_libm() {
        for i in -20_000..20_000 {
            let x = i as f32 * 1e-3;
            assert!((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6, "sigmoid({x})");
            assert!((tanh(x) - x.tanh()).abs() < 1e-6, "tanh({x})");
        }
        assert_eq!((sigmoid(-100.0) < 1e-30, sigmoid(100.0), tanh(50.0), tanh(-50.0)), (true, 1.0, 1.0, -1.0));
    }

    #[test]
    fn vectorised_runs_the_closure() {
        let v: Vec<f32> = vectorised(|| (0..100).map(|i| exp(i as f32 * 0.01)).collect());
        assert!((v[50] - 0.5f32.exp()).abs() < 1e-6);
    }
}
