//! Rank agreement between two scorings of the same architectures (a cheap reward against a
//! high-fidelity accuracy): Spearman's ρ, Kendall's τ-b and top-k overlap. Used by
//! `nas bench fidelity`; tensor-free so any evaluator can be judged with it.

/// Ranks of `x` (0-based, ascending), ties sharing their mean rank.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Pearson correlation; `None` when fewer than two points or either side is constant.
fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 2 {
        return None;
    }
    let (ma, mb) = (a[..n].iter().sum::<f64>() / n as f64, b[..n].iter().sum::<f64>() / n as f64);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

/// Spearman's ρ: the Pearson correlation of the ranks (ties at their mean rank).
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    pearson(&ranks(a), &ranks(b))
}

/// Kendall's τ-b (ties on either side corrected for); `None` when either side is constant.
pub fn kendall(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    let (mut concordant, mut discordant, mut ties_a, mut ties_b) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let (da, db) = (a[i].total_cmp(&a[j]) as i64, b[i].total_cmp(&b[j]) as i64);
            match (da, db) {
                (0, 0) => {}
                (0, _) => ties_a += 1,
                (_, 0) => ties_b += 1,
                _ if da == db => concordant += 1,
                _ => discordant += 1,
            }
        }
    }
    let pairs_a = (concordant + discordant + ties_b) as f64;
    let pairs_b = (concordant + discordant + ties_a) as f64;
    (pairs_a > 0.0 && pairs_b > 0.0).then(|| (concordant - discordant) as f64 / (pairs_a * pairs_b).sqrt())
}

/// Fraction of the `k` best by `a` that are also among the `k` best by `b` (higher is better on
/// both sides; ties broken by index).
pub fn top_k_overlap(a: &[f64], b: &[f64], k: usize) -> f64 {
    let n = a.len().min(b.len());
    let k = k.min(n);
    if k == 0 {
        return 0.0;
    }
    let top = |x: &[f64]| {
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by(|&i, &j| x[j].total_cmp(&x[i]).then(i.cmp(&j)));
        idx.truncate(k);
        idx
    };
    let (ta, tb) = (top(a), top(b));
    ta.iter().filter(|i| tb.contains(i)).count() as f64 / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_rankings() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let rev = [5.0, 4.0, 3.0, 2.0, 1.0];
        assert!((spearman(&a, &a).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&a, &rev).unwrap() + 1.0).abs() < 1e-12);
        assert!((kendall(&a, &a).unwrap() - 1.0).abs() < 1e-12);
        assert!((kendall(&a, &rev).unwrap() + 1.0).abs() < 1e-12);
        // One adjacent swap of five: ρ = 1 − 6·2/(5·24) = 0.9; τ = (9 − 1)/10 = 0.8.
        let swap = [1.0, 2.0, 4.0, 3.0, 5.0];
        assert!((spearman(&a, &swap).unwrap() - 0.9).abs() < 1e-12);
        assert!((kendall(&a, &swap).unwrap() - 0.8).abs() < 1e-12);
        // A monotone transform changes nothing.
        let cube: Vec<f64> = swap.iter().map(|x: &f64| x.powi(3)).collect();
        assert_eq!(spearman(&a, &cube), spearman(&a, &swap));
        assert_eq!(top_k_overlap(&a, &swap, 2), 0.5);
        assert_eq!(top_k_overlap(&a, &a, 3), 1.0);
        assert_eq!(top_k_overlap(&a, &rev, 2), 0.0);
    }

    #[test]
    fn ties_share_ranks_and_constants_have_no_correlation() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![2.5, 0.0, 2.5, 1.0]);
        // τ-b with ties: scipy.stats.kendalltau([1,2,2,3],[1,2,3,3]) = 0.8.
        assert!((kendall(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 3.0]).unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(kendall(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[1.0], &[1.0]), None);
    }
}
