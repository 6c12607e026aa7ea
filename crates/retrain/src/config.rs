//! `[retrain]`: the paper's final step — a grid over learning rate, weight decay, batch-norm ε and
//! the epoch of learning-rate decay, then one full retrain with the chosen values.
//!
//! The paper names the four hyper-parameters it tunes but not the values it tried; the default
//! grid below is ours (3 × 3 × 2 × 2 = 36 cells), sized for GPUs. CPU presets shrink it.

use serde::{Deserialize, Serialize};

/// Grid and budgets of the final retrain. In TOML: a `[retrain]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrainConfig {
    /// Learning rates tried. Default [0.05, 0.1, 0.2].
    pub learning_rate: Vec<f64>,
    /// L2 weight decays tried. Default [5e-5, 1e-4, 5e-4].
    pub weight_decay: Vec<f64>,
    /// Batch-norm ε values tried. Default [1e-5, 1e-3].
    pub bn_epsilon: Vec<f64>,
    /// When the learning rate drops by `gamma`, as a fraction of the epochs (so a choice made in
    /// a short grid run carries over to the longer final run). Default [0.5, 0.75].
    pub decay_at: Vec<f64>,
    /// Factor of that single decay. Default 0.1.
    pub gamma: f64,
    /// Epochs of each grid run (on the search's training images, scored on its validation
    /// split). Default: the search's `train.epochs`.
    pub grid_epochs: Option<usize>,
    /// Epochs of the final run on training + validation images. Default 50.
    pub epochs: usize,
    /// Train the final run on a class-balanced subset of this many images (CPU presets); all
    /// when absent.
    pub train_subset: Option<usize>,
}

impl Default for RetrainConfig {
    fn default() -> Self {
        RetrainConfig {
            learning_rate: vec![0.05, 0.1, 0.2],
            weight_decay: vec![5e-5, 1e-4, 5e-4],
            bn_epsilon: vec![1e-5, 1e-3],
            decay_at: vec![0.5, 0.75],
            gamma: 0.1,
            grid_epochs: None,
            epochs: 50,
            train_subset: None,
        }
    }
}

/// One point of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GridCell {
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub bn_epsilon: f64,
    pub decay_at: f64,
}

impl std::fmt::Display for GridCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "lr {} wd {} bn-eps {} decay@{:.0}%",
            self.learning_rate,
            self.weight_decay,
            self.bn_epsilon,
            self.decay_at * 100.0
        )
    }
}

impl RetrainConfig {
    /// Every combination, learning rate varying slowest.
    pub fn cells(&self) -> Vec<GridCell> {
        let mut out = Vec::new();
        for &learning_rate in &self.learning_rate {
            for &weight_decay in &self.weight_decay {
                for &bn_epsilon in &self.bn_epsilon {
                    for &decay_at in &self.decay_at {
                        out.push(GridCell { learning_rate, weight_decay, bn_epsilon, decay_at });
                    }
                }
            }
        }
        out
    }

    /// Reject unusable values, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let lists: [(&str, &Vec<f64>); 4] = [
            ("learning_rate", &self.learning_rate),
            ("weight_decay", &self.weight_decay),
            ("bn_epsilon", &self.bn_epsilon),
            ("decay_at", &self.decay_at),
        ];
        for (name, v) in lists {
            if v.is_empty() {
                return Err(format!("retrain.{name} must list at least one value"));
            }
            if let Some(bad) = v.iter().find(|x| !x.is_finite() || **x < 0.0) {
                return Err(format!("retrain.{name} holds {bad}; values must be finite and not negative"));
            }
        }
        if self.learning_rate.contains(&0.0) || self.bn_epsilon.contains(&0.0) {
            return Err("retrain.learning_rate and retrain.bn_epsilon values must be positive".into());
        }
        if let Some(bad) = self.decay_at.iter().find(|x| **x > 1.0) {
            return Err(format!("retrain.decay_at holds {bad}; it is a fraction of the epochs, in [0, 1]"));
        }
        if !(self.gamma > 0.0 && self.gamma <= 1.0) {
            return Err(format!("retrain.gamma must be in (0, 1], got {}", self.gamma));
        }
        if self.epochs == 0 || self.grid_epochs == Some(0) {
            return Err("retrain.epochs and retrain.grid_epochs must be at least 1".into());
        }
        if self.train_subset == Some(0) {
            return Err("retrain.train_subset must be at least 1 image".into());
        }
        Ok(())
    }
}

/// The epoch (0-based) at which a run of `epochs` epochs decays, for a fraction `at`.
pub fn decay_epoch(at: f64, epochs: usize) -> usize {
    (at * epochs as f64).round() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_the_full_product_and_validation_names_fields() {
        let c = RetrainConfig::default();
        assert_eq!(c.cells().len(), 36);
        assert_eq!(c.cells()[0], GridCell { learning_rate: 0.05, weight_decay: 5e-5, bn_epsilon: 1e-5, decay_at: 0.5 });
        assert!(c.validate().is_ok());
        let bad = RetrainConfig { decay_at: vec![1.5], ..c.clone() };
        assert!(bad.validate().unwrap_err().contains("retrain.decay_at"));
        let empty = RetrainConfig { weight_decay: vec![], ..c };
        assert!(empty.validate().unwrap_err().contains("retrain.weight_decay"));
        assert_eq!(decay_epoch(0.5, 10), 5);
        assert_eq!(decay_epoch(0.75, 3), 2);
    }
}
