//! [`timed_width`]: the widest filter multiplier whose final run fits a time budget on this
//! machine (`[retrain] max_minutes`). A FLOPs cap treats every network alike, but on a CPU a
//! FLOP at 28 × 28 costs more than one at 7 × 7 (a resolution-keeping chain took 100 s an epoch
//! where a hard-downsampling pick of the same FLOPs took 69), so "fits the hour" is measured:
//! a few training steps at a candidate width, scaled to the final run's images and epochs.

use nas_child::{ChildConfig, InputShape};
use nas_space::CnnArch;
use nas_trainer::{CpuPath, training_rate};

/// What [`timed_width`] chose.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedWidth {
    /// The widest width found whose predicted run fits (the narrowest tried when none does).
    pub width: f64,
    /// Predicted seconds of the whole final run at `width`.
    pub predicted_seconds: f64,
    /// Whether the prediction at `width` is within the budget.
    pub fits: bool,
    /// Every width timed, with its predicted seconds, in the order tried.
    pub probes: Vec<(f64, f64)>,
}

/// The widest of `start` and the multiples of 1/16 below it whose predicted run
/// (`run_seconds(width)`) is at most `budget_seconds`, by bisection — run time grows with
/// width, so about five timings settle it. When none fits, the narrowest (1/16, or `start` if
/// smaller) with `fits = false`. `run_seconds` errors pass through.
pub fn timed_width(
    start: f64,
    budget_seconds: f64,
    mut run_seconds: impl FnMut(f64) -> Result<f64, String>,
) -> Result<TimedWidth, String> {
    // Candidates, narrowest first: 1/16, 2/16, … below `start`, then `start` itself.
    let mut widths: Vec<f64> = (1..).map(|k| k as f64 / 16.0).take_while(|w| *w < start).collect();
    widths.push(start);
    let mut probes = Vec::new();
    let mut time = |w: f64| -> Result<f64, String> {
        let s = run_seconds(w)?;
        probes.push((w, s));
        Ok(s)
    };
    let top = widths.len() - 1;
    let at_top = time(widths[top])?;
    if at_top <= budget_seconds {
        return Ok(TimedWidth { width: start, predicted_seconds: at_top, fits: true, probes });
    }
    // The last width that fits, below `top` (which does not): bisection on [lo, hi).
    let (mut lo, mut hi) = (0usize, top);
    let mut best = None;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let s = time(widths[mid])?;
        if s <= budget_seconds {
            best = Some((mid, s));
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(match best {
        Some((i, s)) => TimedWidth { width: widths[i], predicted_seconds: s, fits: true, probes },
        None => {
            let s = probes.iter().find(|(w, _)| *w == widths[0]).map_or(at_top, |(_, s)| *s);
            TimedWidth { width: widths[0], predicted_seconds: s, fits: false, probes }
        }
    })
}

/// Seconds per epoch of training `arch` on `images` images in batches of `batch` on this
/// machine's current thread pool: three runs of `steps` timed SGD steps on random images (each
/// after two warm-up steps) on the retrain's device and kernels, the median scaled to the epoch —
/// one short run on a shared machine can be a quarter off.
pub fn epoch_seconds(
    arch: &CnnArch,
    input: InputShape,
    child: &ChildConfig,
    batch: usize,
    images: usize,
    steps: usize,
) -> Result<f64, String> {
    let path = CpuPath { name: "retrain", device: burn::prelude::Device::default(), kernels: child.kernels };
    let mut rates = (0..3)
        .map(|_| training_rate(arch, input, batch.max(1), steps.max(1), &path).map(|r| r.images_per_second))
        .collect::<Result<Vec<f64>, _>>()
        .map_err(|e| e.to_string())?;
    rates.sort_by(f64::total_cmp);
    Ok(images as f64 / rates[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose time grows with the square of the width (convolutions between widened
    /// layers), 100 s at width 1.
    fn quadratic(w: f64) -> Result<f64, String> {
        Ok(100.0 * w * w)
    }

    #[test]
    fn keeps_the_start_width_when_it_fits() {
        let t = timed_width(2.0, 400.0, quadratic).unwrap();
        assert_eq!((t.width, t.fits, t.probes.len()), (2.0, true, 1));
        assert_eq!(t.predicted_seconds, 400.0);
    }

    #[test]
    fn finds_the_widest_sixteenth_that_fits() {
        // 100 w² ≤ 200 ⇔ w ≤ 1.414…: the widest multiple of 1/16 is 22/16 = 1.375.
        let t = timed_width(2.0, 200.0, quadratic).unwrap();
        assert_eq!(t.width, 1.375);
        assert!(t.fits && t.predicted_seconds <= 200.0);
        assert!(t.probes.len() <= 7, "bisection, not a scan: {:?}", t.probes);
        // Every width it tried above the answer was over the budget, every one at or below under.
        for (w, s) in &t.probes {
            assert_eq!(*w <= 1.375, *s <= 200.0, "{w}: {s}");
        }
        // A start that is not a multiple of 1/16 is tried first and kept when it fits.
        assert_eq!(timed_width(1.3, 200.0, quadratic).unwrap().width, 1.3);
        assert_eq!(timed_width(1.45, 200.0, quadratic).unwrap().width, 1.375);
    }

    #[test]
    fn says_when_nothing_fits_and_passes_errors_through() {
        let t = timed_width(2.0, 0.1, quadratic).unwrap();
        assert_eq!((t.width, t.fits), (1.0 / 16.0, false));
        assert!(t.predicted_seconds > 0.1);
        let e = timed_width(2.0, 10.0, |_| Err("too large".to_string())).unwrap_err();
        assert_eq!(e, "too large");
    }

    #[test]
    fn a_real_child_is_timed() {
        let arch: CnnArch = "3x3-4-mp;3x3-8<0".parse().unwrap();
        let input = InputShape { channels: 1, height: 12, width: 12, classes: 3 };
        let s = epoch_seconds(&arch, input, &ChildConfig::default(), 8, 800, 2).unwrap();
        assert!(s.is_finite() && s > 0.0, "{s}");
        let wide = epoch_seconds(&arch.widened(16.0), input, &ChildConfig::default(), 8, 800, 2).unwrap();
        assert!(wide > s, "16× the filters is slower: {wide} vs {s}");
    }
}
