//! The median-stopping rule (Golovin et al. 2017, "Google Vizier"; Katib's and NNI's
//! `medianstop`): a child whose validation accuracy after epoch e is below the median of what the
//! completed children had after epoch e stops training there. Off by default. Shared by the
//! train evaluator (`[train.median_stopping]`) and the command evaluator (`[evaluator]
//! median_stopping`), which both keep per-epoch reports under a trial's `epochs` metric.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The per-epoch values of `key` in a trial's stored metrics (`epochs`: a list of objects), if
/// the trial ran all its epochs (no `stopped_early`) and every epoch has the value.
pub fn completed_curve(metrics: &Map<String, Value>, key: &str) -> Option<Vec<f64>> {
    if metrics.contains_key("stopped_early") {
        return None;
    }
    let epochs = metrics.get("epochs")?.as_array()?;
    epochs.iter().map(|e| e.get(key).and_then(Value::as_f64)).collect()
}

/// When the rule may fire. In TOML: `[train.median_stopping] grace_epochs = 2, min_trials = 5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MedianStopping {
    /// Never stop a child during its first this-many epochs. Default 1.
    pub grace_epochs: usize,
    /// Only compare once at least this many completed children reached the epoch. Default 3.
    pub min_trials: usize,
}

impl Default for MedianStopping {
    fn default() -> Self {
        MedianStopping { grace_epochs: 1, min_trials: 3 }
    }
}

/// The validation curves of completed children, shared by a search's parallel workers.
#[derive(Debug)]
pub struct MedianStopper {
    rule: MedianStopping,
    curves: Mutex<Vec<Vec<f64>>>,
}

impl MedianStopper {
    pub fn new(rule: MedianStopping) -> Self {
        MedianStopper { rule, curves: Mutex::new(Vec::new()) }
    }

    /// Remember a child that trained all its epochs: its validation accuracy per epoch.
    pub fn record(&self, curve: Vec<f64>) {
        self.curves.lock().unwrap_or_else(|e| e.into_inner()).push(curve);
    }

    /// Number of completed curves known.
    pub fn known(&self) -> usize {
        self.curves.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// `Some(reason)` when a child with `accuracy` after epoch `epoch` (0-based) should stop.
    pub fn check(&self, epoch: usize, accuracy: f64) -> Option<String> {
        if epoch < self.rule.grace_epochs {
            return None;
        }
        let curves = self.curves.lock().unwrap_or_else(|e| e.into_inner());
        let mut at: Vec<f64> = curves.iter().filter_map(|c| c.get(epoch).copied()).collect();
        if at.len() < self.rule.min_trials.max(1) {
            return None;
        }
        at.sort_by(f64::total_cmp);
        let n = at.len();
        let median = if n % 2 == 1 { at[n / 2] } else { (at[n / 2 - 1] + at[n / 2]) / 2.0 };
        (accuracy < median).then(|| {
            format!(
                "median stopping: validation accuracy {accuracy:.4} after epoch {} is below the median {median:.4} \
                 of {n} completed children",
                epoch + 1
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_come_from_complete_runs_only() {
        let m = |v: Value| v.as_object().unwrap().clone();
        let full = m(serde_json::json!({"epochs": [{"epoch": 1, "acc": 0.5}, {"epoch": 2, "acc": 0.7}]}));
        assert_eq!(completed_curve(&full, "acc"), Some(vec![0.5, 0.7]));
        assert_eq!(completed_curve(&full, "loss"), None, "a key no epoch has");
        let mut stopped = full.clone();
        stopped.insert("stopped_early".into(), "median".into());
        assert_eq!(completed_curve(&stopped, "acc"), None);
        assert_eq!(completed_curve(&m(serde_json::json!({"acc": 1})), "acc"), None);
    }

    #[test]
    fn stops_below_the_median_only_after_grace_and_enough_trials() {
        let s = MedianStopper::new(MedianStopping { grace_epochs: 1, min_trials: 3 });
        s.record(vec![0.5, 0.6, 0.7]);
        s.record(vec![0.4, 0.5, 0.8]);
        assert_eq!(s.check(1, 0.1), None, "two curves are fewer than min_trials");
        s.record(vec![0.3, 0.7, 0.9]);
        // Medians: epoch 0 → 0.4, epoch 1 → 0.6, epoch 2 → 0.8.
        assert_eq!(s.check(0, 0.0), None, "the first epoch is the grace period");
        assert!(s.check(1, 0.59).unwrap().contains("below the median 0.6000 of 3"));
        assert_eq!(s.check(1, 0.6), None, "equal to the median goes on");
        assert_eq!(s.check(2, 0.81), None);
        assert!(s.check(2, 0.79).is_some());
        assert_eq!(s.check(3, 0.0), None, "no completed child reached epoch 4");
        s.record(vec![0.3, 0.9, 0.9]);
        assert!(s.check(1, 0.64).is_some(), "even count: median is (0.6 + 0.7) / 2");
        assert_eq!(s.check(1, 0.65), None);
    }
}
