//! Is one model really more accurate than another? Two models scored on the same test images
//! differ by a few dozen images out of ten thousand, and a single retrain's seed moves accuracy
//! by about as much, so `nas eval A B` reports the difference the way it can be trusted: a
//! Wilson 95 % interval for each accuracy, and for the pair the images only one of them gets
//! right, the paired difference with its 95 % interval, and McNemar's exact test (a two-sided
//! binomial test on those discordant images). Tensor-free: it sees only per-image hit lists.

/// Two models' hits on the same images, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paired {
    /// Images scored by both.
    pub images: usize,
    /// Images the first model gets right and the second wrong.
    pub only_first: usize,
    /// Images the second model gets right and the first wrong.
    pub only_second: usize,
}

impl Paired {
    /// Count two per-image hit lists of the same images (same order); `None` when their lengths
    /// differ.
    pub fn new(first: &[bool], second: &[bool]) -> Option<Self> {
        (first.len() == second.len()).then(|| {
            let only = |a: &[bool], b: &[bool]| a.iter().zip(b).filter(|&(&x, &y)| x && !y).count();
            Paired { images: first.len(), only_first: only(first, second), only_second: only(second, first) }
        })
    }

    /// Second accuracy minus first (the discordant images decide it; the rest cancel).
    pub fn difference(&self) -> f64 {
        (self.only_second as f64 - self.only_first as f64) / self.images.max(1) as f64
    }

    /// 95 % interval of [`Paired::difference`] (normal approximation of the paired difference:
    /// variance `((b + c) − (c − b)² / n) / n²` for `b`, `c` discordant images of `n`).
    pub fn difference_interval(&self) -> (f64, f64) {
        let n = self.images.max(1) as f64;
        let (b, c) = (self.only_first as f64, self.only_second as f64);
        let half = 1.959_963_985 * ((b + c - (c - b).powi(2) / n).max(0.0)).sqrt() / n;
        let d = self.difference();
        (d - half, d + half)
    }

    /// McNemar's exact two-sided p-value: the chance, were both models equally accurate, that
    /// the discordant images split at least this unevenly (binomial, one half each way).
    pub fn mcnemar_p(&self) -> f64 {
        let n = self.only_first + self.only_second;
        let k = self.only_first.min(self.only_second);
        // Σ_{i ≤ k} C(n, i) / 2ⁿ, term by term in logs so that thousands of images cannot overflow.
        let mut log_term = -(n as f64) * std::f64::consts::LN_2;
        let mut tail = log_term.exp();
        for i in 0..k {
            log_term += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
            tail += log_term.exp();
        }
        (2.0 * tail).min(1.0)
    }
}

/// Wilson score 95 % interval of an accuracy of `correct` hits in `images`.
pub fn wilson_interval(correct: usize, images: usize) -> (f64, f64) {
    if images == 0 {
        return (0.0, 1.0);
    }
    let (n, z) = (images as f64, 1.959_963_985_f64);
    let p = correct as f64 / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    (centre - half, centre + half)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(pattern: &[(bool, bool, usize)]) -> (Vec<bool>, Vec<bool>) {
        let (mut a, mut b) = (vec![], vec![]);
        for &(x, y, n) in pattern {
            a.extend(std::iter::repeat_n(x, n));
            b.extend(std::iter::repeat_n(y, n));
        }
        (a, b)
    }

    #[test]
    fn counts_only_the_images_one_model_gets_right() {
        let (a, b) = hits(&[(true, true, 90), (true, false, 3), (false, true, 5), (false, false, 2)]);
        let p = Paired::new(&a, &b).unwrap();
        assert_eq!(p, Paired { images: 100, only_first: 3, only_second: 5 });
        assert!((p.difference() - 0.02).abs() < 1e-12);
        assert!(Paired::new(&a, &b[1..]).is_none());
    }

    /// Exact binomial tails by hand: 8 discordant images split 1 : 7 give
    /// 2 · (1 + 8) / 256 = 0.0703125; 0 : 10 gives 2 / 1024; an even split gives 1.
    #[test]
    fn mcnemar_is_the_exact_two_sided_binomial_tail() {
        let p = |b, c| Paired { images: 1000, only_first: b, only_second: c }.mcnemar_p();
        assert!((p(1, 7) - 0.0703125).abs() < 1e-12);
        assert!((p(7, 1) - 0.0703125).abs() < 1e-12);
        assert!((p(0, 10) - 2.0 / 1024.0).abs() < 1e-15);
        assert_eq!(p(5, 5), 1.0);
        assert_eq!(p(0, 0), 1.0);
        // Large counts stay finite and sensible: 180 against 260 of 10,000 images is far from even.
        let big = p(180, 260);
        assert!(big > 0.0 && big < 2e-4, "{big}");
    }

    #[test]
    fn the_difference_interval_covers_the_difference_and_shrinks_with_fewer_disagreements() {
        let wide = Paired { images: 10_000, only_first: 300, only_second: 330 };
        let narrow = Paired { images: 10_000, only_first: 30, only_second: 60 };
        let (lo, hi) = wide.difference_interval();
        assert!(lo < wide.difference() && wide.difference() < hi && lo < 0.0, "{lo} {hi}");
        let (nlo, nhi) = narrow.difference_interval();
        assert!(nlo > 0.0 && nhi - nlo < hi - lo, "{nlo} {nhi}");
    }

    /// Wilson's interval at 93.5 % of 10,000 images is about ± 0.48 points, and stays in [0, 1]
    /// at the edges.
    #[test]
    fn wilson_interval_matches_the_textbook_values() {
        let (lo, hi) = wilson_interval(9350, 10_000);
        assert!((lo - 0.93000).abs() < 1e-4 && (hi - 0.93967).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson_interval(10, 10);
        assert!((lo - 0.72247).abs() < 1e-4 && (hi - 1.0).abs() < 1e-12, "{lo} {hi}");
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
    }
}
