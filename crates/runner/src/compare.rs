//! Strategy comparison at equal budgets over several seeds (the paper's RL-vs-random control):
//! the best reward found after N samples, as mean and spread over seeds.

use nas_controller::StrategyKind;
use nas_store::{SqliteStore, TrialStatus, TrialStore};

use crate::{Search, SearchConfig, SearchError};

/// One cell of the comparison: a strategy after `samples` samples, over all seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    pub strategy: StrategyKind,
    pub samples: u64,
    /// Best reward found by each seed.
    pub best: Vec<f64>,
    /// Mean over seeds of the mean reward of the 5 best trials.
    pub top5_mean: f64,
}

impl CompareRow {
    /// Mean of the per-seed best rewards.
    pub fn mean(&self) -> f64 {
        self.best.iter().sum::<f64>() / self.best.len() as f64
    }
    /// Sample standard deviation of the per-seed best rewards.
    pub fn std(&self) -> f64 {
        let n = self.best.len() as f64;
        if n < 2.0 {
            return 0.0;
        }
        let m = self.mean();
        (self.best.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    }
    pub fn min(&self) -> f64 {
        self.best.iter().cloned().fold(f64::INFINITY, f64::min)
    }
    pub fn max(&self) -> f64 {
        self.best.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
    }
}

/// The full comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareReport {
    pub rows: Vec<CompareRow>,
}

impl CompareReport {
    /// A plain-text table.
    pub fn to_table(&self) -> String {
        let mut s = format!(
            "{:<10} {:>7} {:>10} {:>8} {:>10} {:>10} {:>10}\n",
            "strategy", "samples", "best mean", "std", "min", "max", "top5 mean"
        );
        for r in &self.rows {
            s += &format!(
                "{:<10} {:>7} {:>10.4} {:>8.4} {:>10.4} {:>10.4} {:>10.4}\n",
                format!("{:?}", r.strategy).to_lowercase(),
                r.samples,
                r.mean(),
                r.std(),
                r.min(),
                r.max(),
                r.top5_mean
            );
        }
        s
    }
}

/// Run every strategy with every seed for `max(at)` samples (in memory) and report the best
/// reward found after each budget in `at`. `progress` is called after each run.
pub fn compare_strategies(
    base: &SearchConfig,
    strategies: &[StrategyKind],
    seeds: &[u64],
    at: &[u64],
    mut progress: impl FnMut(StrategyKind, u64),
) -> Result<CompareReport, SearchError> {
    let budget = at.iter().copied().max().unwrap_or(0);
    let mut rows = Vec::new();
    for &strategy in strategies {
        let mut per_budget: Vec<(Vec<f64>, f64)> = vec![(Vec::new(), 0.0); at.len()];
        for &seed in seeds {
            let store = SqliteStore::in_memory()?;
            let config = SearchConfig { strategy, seed, samples: budget, ..base.clone() };
            let mut search = Search::start(&store, config, Some("compare".into()))?;
            let id = search.experiment().id;
            search.run(|_| crate::Control::Continue)?;
            let rewards: Vec<f64> = store
                .trials(id)?
                .into_iter()
                .map(|t| if t.status == TrialStatus::Completed { t.reward.unwrap_or(0.0) } else { f64::NEG_INFINITY })
                .collect();
            for (i, &n) in at.iter().enumerate() {
                let mut first: Vec<f64> = rewards.iter().take(n as usize).cloned().collect();
                first.sort_by(|a, b| b.total_cmp(a));
                per_budget[i].0.push(first[0]);
                let k = first.len().min(5);
                per_budget[i].1 += first[..k].iter().sum::<f64>() / k as f64 / seeds.len() as f64;
            }
            progress(strategy, seed);
        }
        for (i, (best, top5_mean)) in per_budget.into_iter().enumerate() {
            rows.push(CompareRow { strategy, samples: at[i], best, top5_mean });
        }
    }
    Ok(CompareReport { rows })
}
