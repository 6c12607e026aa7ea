//! Branch-free `exp`, `sigmoid` and `tanh` for the language-model kernels, written so that loops
//! over them vectorise (libm's `expf` is one scalar call per element: 12–15 % of a language-model
//! training step before these kernels, `perf` in docs/RESULTS.md), and [`wide!`], which compiles
//! a function's loops for AVX-512 or AVX2 and runs the widest the CPU has.
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

/// The widest vector instructions this CPU offers the kernels (probed once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Avx512,
    Avx2,
    Plain,
}

/// This CPU's [`Level`].
pub fn level() -> Level {
    static LEVEL: std::sync::LazyLock<Level> = std::sync::LazyLock::new(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512vl") && has!("avx2") && has!("fma") {
                return Level::Avx512;
            }
            if has!("avx2") && has!("fma") {
                return Level::Avx2;
            }
        }
        Level::Plain
    });
    *LEVEL
}

/// `wide! { fn name(args) -> R { body } }` defines `name` with its body compiled three times —
/// with AVX-512, with AVX2 + FMA, plainly — and runs the widest this CPU has, so that the loops
/// in the body (and the `#[inline(always)]` helpers above) vectorise 16 or 8 lanes wide without
/// building the whole crate for one CPU. Arguments must be plain identifiers.
macro_rules! wide {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn imp($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                use $crate::kernels::fast_math::{Level, level};
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    imp($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    imp($($arg),*)
                }
                match level() {
                    // SAFETY: the CPU has these features (probed by `level`).
                    Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    Level::Avx2 => return unsafe { avx2($($arg),*) },
                    Level::Plain => {}
                }
            }
            imp($($arg),*)
        }
    };
}
pub(crate) use wide;

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

    wide! {
        fn exps(x: &[f32]) -> Vec<f32> {
            x.iter().map(|v| exp(*v)).collect()
        }
    }

    #[test]
    fn wide_functions_compute_what_plain_ones_do() {
        let x: Vec<f32> = (0..100).map(|i| i as f32 * 0.01 - 0.3).collect();
        let plain: Vec<f32> = x.iter().map(|v| exp(*v)).collect();
        assert_eq!(exps(&x), plain);
    }
}
