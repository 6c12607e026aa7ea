//! Strategy comparison at equal budgets over several seeds (the paper's RL-vs-random control,
//! its Figure 6): the best reward found after N samples, and the mean reward of the top-k
//! architectures found so far every N samples, as mean and spread over seeds. Any number of
//! contenders (strategies, or the controller under another update rule), each run with the same
//! seeds. A budget counts what the experiment's `samples` counts: distinct evaluations unless
//! `count_repeats` (a repeat's reused result is not a sample).

use nas_store::{TrialStatus, TrialStore};
use nas_strategy::{StrategyKind, UpdateRule};

use crate::{Search, SearchConfig, SearchError};

/// One contender of a comparison: a strategy, and for the controller optionally another
/// update rule than the configuration's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contender {
    pub strategy: StrategyKind,
    pub update: Option<UpdateRule>,
}

impl Contender {
    /// Parse `NAME` or `reinforce:RULE` (`reinforce:paper`, `reinforce:ppo`, …).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (name, rule) = match s.split_once(':') {
            Some((n, r)) => (n, Some(r)),
            None => (s, None),
        };
        let names: Vec<&str> = StrategyKind::ALL.iter().map(|k| k.name()).collect();
        let strategy = StrategyKind::parse(name.trim())
            .ok_or_else(|| format!("unknown strategy {name:?} (expected one of {})", names.join(", ")))?;
        let update = match rule {
            None => None,
            Some(r) if strategy == StrategyKind::Reinforce => {
                let names: Vec<&str> = UpdateRule::ALL.iter().map(|u| u.name()).collect();
                Some(
                    UpdateRule::parse(r.trim())
                        .ok_or_else(|| format!("unknown update rule {r:?} (expected one of {})", names.join(", ")))?,
                )
            }
            Some(_) => return Err(format!("{s:?}: only reinforce takes an update rule (reinforce:RULE)")),
        };
        Ok(Contender { strategy, update })
    }

    /// `evolution`, `reinforce:paper`, …
    pub fn label(&self) -> String {
        match self.update {
            Some(u) => format!("{}:{}", self.strategy.name(), u.name()),
            None => self.strategy.name().to_string(),
        }
    }

    /// The configuration of this contender's run with `seed`.
    pub fn config(&self, base: &SearchConfig, seed: u64, samples: u64) -> SearchConfig {
        let mut c = SearchConfig { strategy: self.strategy, seed, samples, ..base.clone() };
        if let Some(u) = self.update {
            c.controller.update = u;
            if u == UpdateRule::Paper && base.controller.update != UpdateRule::Paper {
                // The paper's rule with the paper's learning rate and no entropy bonus.
                let paper = nas_strategy::ControllerConfig::paper();
                c.controller.learning_rate = paper.learning_rate;
                c.controller.entropy_weight = paper.entropy_weight;
            }
        }
        c
    }
}

/// One run of one strategy with one seed, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRun {
    pub strategy: String,
    pub seed: u64,
    pub experiment_id: i64,
    /// Reward of every sample in order; a failed child counts as 0 (its stored reward).
    pub rewards: Vec<f64>,
    /// Which samples completed (a failed child never counts as the best).
    pub completed: Vec<bool>,
}

impl CompareRun {
    /// Mean reward of the `k` best of the first `n` samples (fewer when fewer were drawn).
    pub fn top_k_mean(&self, n: usize, k: usize) -> f64 {
        let mut first: Vec<f64> = self.rewards.iter().take(n).copied().collect();
        first.sort_by(|a, b| b.total_cmp(a));
        let k = k.min(first.len()).max(1);
        first.iter().take(k).sum::<f64>() / k as f64
    }

    /// Best reward of a completed child among the first `n` samples (−∞ when none completed).
    pub fn best(&self, n: usize) -> f64 {
        self.rewards
            .iter()
            .zip(&self.completed)
            .take(n)
            .filter(|(_, c)| **c)
            .map(|(r, _)| *r)
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// One cell of the budget table: a strategy after `samples` samples, over all seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    pub strategy: String,
    pub samples: u64,
    /// Best reward found by each seed.
    pub best: Vec<f64>,
    /// Mean over seeds of the mean reward of the 5 best trials.
    pub top5_mean: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Sample standard deviation (0 for fewer than two values).
fn std(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

impl CompareRow {
    /// Mean of the per-seed best rewards.
    pub fn mean(&self) -> f64 {
        mean(&self.best)
    }
    /// Sample standard deviation of the per-seed best rewards.
    pub fn std(&self) -> f64 {
        std(&self.best)
    }
    pub fn min(&self) -> f64 {
        self.best.iter().cloned().fold(f64::INFINITY, f64::min)
    }
    pub fn max(&self) -> f64 {
        self.best.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
    }
}

/// A point of a Figure-6 curve: the top-`k` mean reward after `samples` samples, over seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    pub strategy: String,
    pub k: usize,
    pub samples: u64,
    pub mean: f64,
    pub std: f64,
    pub seeds: usize,
}

/// The full comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareReport {
    pub runs: Vec<CompareRun>,
    pub rows: Vec<CompareRow>,
}

impl CompareReport {
    /// Build the budget table from stored runs.
    pub fn from_runs(runs: Vec<CompareRun>, at: &[u64]) -> Self {
        let mut rows = Vec::new();
        let strategies = strategies_of(&runs);
        for strategy in strategies {
            let mine: Vec<&CompareRun> = runs.iter().filter(|r| r.strategy == strategy).collect();
            for &n in at {
                let best = mine.iter().map(|r| r.best(n as usize)).collect();
                let top5 = mine.iter().map(|r| r.top_k_mean(n as usize, 5)).collect::<Vec<_>>();
                rows.push(CompareRow { strategy: strategy.clone(), samples: n, best, top5_mean: mean(&top5) });
            }
        }
        CompareReport { runs, rows }
    }

    /// The paper's Figure 6: top-`k` mean reward every `every` samples, for each `k`.
    pub fn curves(&self, every: u64, ks: &[usize]) -> Vec<CurvePoint> {
        let mut out = Vec::new();
        for strategy in strategies_of(&self.runs) {
            let mine: Vec<&CompareRun> = self.runs.iter().filter(|r| r.strategy == strategy).collect();
            let longest = mine.iter().map(|r| r.rewards.len() as u64).max().unwrap_or(0);
            let mut marks: Vec<u64> = (1..).map(|i| i * every.max(1)).take_while(|&n| n <= longest).collect();
            if marks.last() != Some(&longest) && longest > 0 {
                marks.push(longest);
            }
            for &k in ks {
                for &n in &marks {
                    let v: Vec<f64> = mine.iter().map(|r| r.top_k_mean(n as usize, k)).collect();
                    out.push(CurvePoint {
                        strategy: strategy.clone(),
                        k,
                        samples: n,
                        mean: mean(&v),
                        std: std(&v),
                        seeds: v.len(),
                    });
                }
            }
        }
        out
    }

    /// A plain-text table of the budgets.
    pub fn to_table(&self) -> String {
        let mut s = format!(
            "{:<18} {:>7} {:>10} {:>8} {:>10} {:>10} {:>10}\n",
            "strategy", "samples", "best mean", "std", "min", "max", "top5 mean"
        );
        for r in &self.rows {
            s += &format!(
                "{:<18} {:>7} {:>10.4} {:>8.4} {:>10.4} {:>10.4} {:>10.4}\n",
                r.strategy,
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

fn strategies_of(runs: &[CompareRun]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in runs {
        if !out.contains(&r.strategy) {
            out.push(r.strategy.clone());
        }
    }
    out
}

/// Read one stored experiment's rewards in sample order, one per sample as the experiment
/// counts them: repeats are left out unless `count_repeats`.
pub fn stored_run(
    store: &dyn TrialStore,
    label: &str,
    seed: u64,
    id: i64,
    count_repeats: bool,
) -> Result<CompareRun, SearchError> {
    let trials: Vec<_> = store.trials(id)?.into_iter().filter(|t| count_repeats || t.repeat_of.is_none()).collect();
    Ok(CompareRun {
        strategy: label.to_string(),
        seed,
        experiment_id: id,
        rewards: trials.iter().map(|t| t.reward.unwrap_or(0.0)).collect(),
        completed: trials.iter().map(|t| t.status == TrialStatus::Completed).collect(),
    })
}

/// Run every contender with every seed for `budget` samples, each as an experiment of `store`
/// (named `compare<N>-<label>-s<seed>`), and report the best reward found after each budget
/// in `at`. `progress` is called after each run.
pub fn compare_strategies(
    store: &dyn TrialStore,
    base: &SearchConfig,
    contenders: &[Contender],
    seeds: &[u64],
    budget: u64,
    at: &[u64],
    mut progress: impl FnMut(&Contender, u64),
) -> Result<CompareReport, SearchError> {
    let tag = store.experiments()?.len() + 1;
    let mut runs = Vec::new();
    for contender in contenders {
        for &seed in seeds {
            let config = contender.config(base, seed, budget);
            let count_repeats = config.count_repeats;
            let name = format!("compare{tag}-{}-s{seed}", contender.label().replace(':', "-"));
            let mut search = Search::start(store, config, Some(name))?;
            let id = search.experiment().id;
            search.run(|_| crate::Control::Continue)?;
            runs.push(stored_run(store, &contender.label(), seed, id, count_repeats)?);
            progress(contender, seed);
        }
    }
    Ok(CompareReport::from_runs(runs, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(strategy: &str, rewards: &[f64]) -> CompareRun {
        CompareRun {
            strategy: strategy.into(),
            seed: 0,
            experiment_id: 1,
            rewards: rewards.to_vec(),
            completed: vec![true; rewards.len()],
        }
    }

    #[test]
    fn top_k_curves_average_the_best_so_far_over_seeds() {
        let a = run("reinforce", &[0.1, 0.5, 0.3, 0.9]);
        let b = run("reinforce", &[0.2, 0.2, 0.8, 0.4]);
        assert_eq!(a.top_k_mean(2, 1), 0.5);
        assert!((a.top_k_mean(4, 2) - 0.7).abs() < 1e-12);
        assert!((a.top_k_mean(1, 15) - 0.1).abs() < 1e-12, "fewer samples than k: all of them");
        let report = CompareReport::from_runs(vec![a, b], &[4]);
        let c = report.curves(2, &[1, 2]);
        let at = |k, n| c.iter().find(|p| p.k == k && p.samples == n).unwrap().clone();
        assert_eq!(c.len(), 4);
        assert!((at(1, 2).mean - 0.35).abs() < 1e-12, "(0.5 + 0.2) / 2");
        assert!((at(1, 4).mean - 0.85).abs() < 1e-12, "(0.9 + 0.8) / 2");
        assert!((at(2, 4).mean - 0.65).abs() < 1e-12, "((0.9+0.5)/2 + (0.8+0.4)/2) / 2");
        assert_eq!(report.rows[0].best, vec![0.9, 0.8]);
    }

    #[test]
    fn contenders_parse_and_name_themselves() {
        let c = Contender::parse("reinforce:paper").unwrap();
        assert_eq!(
            (c.strategy, c.update, c.label()),
            (StrategyKind::Reinforce, Some(UpdateRule::Paper), "reinforce:paper".into())
        );
        assert_eq!(Contender::parse("evolution").unwrap().label(), "evolution");
        assert!(Contender::parse("evolve").unwrap_err().contains("evolution"));
        assert!(Contender::parse("random:ppo").unwrap_err().contains("only reinforce"));
        assert!(Contender::parse("reinforce:adam").unwrap_err().contains("update rule"));
        let base = SearchConfig::default();
        let paper = Contender::parse("reinforce:paper").unwrap().config(&base, 3, 50);
        assert_eq!((paper.controller.learning_rate, paper.seed, paper.samples), (0.0006, 3, 50));
    }
}
