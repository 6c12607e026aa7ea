//! `[retrain]`: the paper's final step — a grid over learning rate, weight decay, batch-norm ε and
//! the epoch of learning-rate decay, then one full retrain with the chosen values.
//!
//! The paper names the four hyper-parameters it tunes but not the values it tried; the default
//! grid below is ours (3 × 3 × 2 × 2 = 36 cells), sized for GPUs. CPU presets shrink it.

use nas_data::{Augment, DatasetSpec};
use nas_space::CnnArch;
use nas_space::limits::{MAX_EPOCHS, count};
use serde::{Deserialize, Serialize};

/// Most cells in the retrain grid.
pub const MAX_GRID_CELLS: usize = 1000;

/// Largest `retrain.width`: 8× the filters is 64× the convolution cost.
pub const MAX_WIDTH: f64 = 8.0;

/// The learning-rate schedule of grid and final runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetrainSchedule {
    /// Cosine decay to 0 over the run (default); `decay_at` and `gamma` are not used.
    #[default]
    Cosine,
    /// The paper's: one drop by `gamma` at a tuned fraction of the epochs (`decay_at`).
    Decay,
}

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
    /// `"cosine"` (default) or `"decay"` (the paper's single drop, tuned by `decay_at`).
    pub schedule: RetrainSchedule,
    /// Augmentation of grid and final runs; when absent the dataset's light default
    /// ([`default_augment`]: random crop after 2-pixel padding for MNIST-like images, with a
    /// horizontal flip for Fashion-MNIST but not digits; crop(4) + flip for CIFAR).
    pub augment: Option<Augment>,
    /// Epochs of each grid run (on the search's training images, scored on its validation
    /// split). Default: the search's `train.epochs`.
    pub grid_epochs: Option<usize>,
    /// Epochs of the final run on training + validation images. Default 50.
    pub epochs: usize,
    /// Filter multiplier of grid and final runs (the paper's "more filters" for its final
    /// model): every layer's filter count × `width`, rounded. Default 1; at most 8.
    pub width: f64,
    /// Round every retrained layer's filter count up to a multiple of this (after `width`):
    /// the CPU kernels compute 8 output channels at a time (AVX2), so 57 filters cost what 64
    /// do and the time ladder of `max_minutes` stalls at such steps. 8 on CPU presets; default 1
    /// (the network exactly as given); at most 64.
    pub filter_multiple: u32,
    /// Train the final run on a class-balanced subset of this many images (CPU presets); all
    /// when absent.
    pub train_subset: Option<usize>,
    /// Compute cap of the widened network: `width` is lowered (in steps of 1/16) for an
    /// architecture whose FLOPs per image at `width` would exceed this, so every network a
    /// preset retrains — a found child, a textbook reference — gets at most the same compute.
    /// None (the default): `width` as given.
    pub max_flops: Option<u64>,
    /// Time budget of the final run on this machine, in minutes: before training, `width`
    /// (already under `max_flops`) is lowered in steps of 1/16 until a few timed training steps
    /// predict that the final run's epochs fit ([`crate::timed_width`]). Machine-dependent by
    /// design — the width chosen is printed and kept beside the run's saved state, so a resumed
    /// run uses it again; `--width` pins it. None (the default): no time cap.
    pub max_minutes: Option<f64>,
    /// With `max_minutes`: the final run fills the budget with epochs — after every epoch its
    /// length is re-planned to what its mean epoch so far fits (never fewer than `epochs`), and
    /// the cosine schedule follows (`TrainConfig::fill_seconds`). Width moves in steps of 1/16,
    /// one step can cost a quarter more time, and a few timed steps can be 15 % off a real
    /// epoch; the epochs' own times are not. Default false.
    pub fill_budget: bool,
    /// Label smoothing of grid and final runs (see `[train] label_smoothing`, which the search's
    /// children use). Default 0 (off).
    pub label_smoothing: f64,
}

impl Default for RetrainConfig {
    fn default() -> Self {
        RetrainConfig {
            learning_rate: vec![0.05, 0.1, 0.2],
            weight_decay: vec![5e-5, 1e-4, 5e-4],
            bn_epsilon: vec![1e-5, 1e-3],
            decay_at: vec![0.5, 0.75],
            gamma: 0.1,
            schedule: RetrainSchedule::Cosine,
            augment: None,
            grid_epochs: None,
            epochs: 50,
            width: 1.0,
            filter_multiple: 1,
            train_subset: None,
            max_flops: None,
            max_minutes: None,
            fill_budget: false,
            label_smoothing: 0.0,
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
        write!(f, "lr {} wd {} bn-eps {}", self.learning_rate, self.weight_decay, self.bn_epsilon)?;
        if self.decay_at < 1.0 {
            write!(f, " decay@{:.0}%", self.decay_at * 100.0)?;
        }
        Ok(())
    }
}

impl RetrainConfig {
    /// Every combination, learning rate varying slowest (`decay_at` only with the `decay`
    /// schedule; a cosine cell has `decay_at` 1, no drop).
    pub fn cells(&self) -> Vec<GridCell> {
        let mut out = Vec::new();
        let decays = match self.schedule {
            RetrainSchedule::Decay => self.decay_at.clone(),
            RetrainSchedule::Cosine => vec![1.0],
        };
        for &learning_rate in &self.learning_rate {
            for &weight_decay in &self.weight_decay {
                for &bn_epsilon in &self.bn_epsilon {
                    for &decay_at in &decays {
                        out.push(GridCell { learning_rate, weight_decay, bn_epsilon, decay_at });
                    }
                }
            }
        }
        out
    }

    /// The training seconds the final run fills under `fill_budget` (`max_minutes` × 60), if
    /// it does.
    pub fn fill_seconds(&self) -> Option<f64> {
        self.max_minutes.filter(|_| self.fill_budget).map(|m| m * 60.0)
    }

    /// `arch` as the retrain trains it at `width`: every filter count × `width`, rounded up to
    /// a multiple of `filter_multiple`.
    pub fn widen(&self, arch: &CnnArch, width: f64) -> CnnArch {
        arch.widened_to(width, self.filter_multiple)
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
        if let Some(a) = &self.augment {
            a.validate().map_err(|e| format!("retrain.augment.{e}"))?;
        }
        count("retrain.epochs", self.epochs, 1, MAX_EPOCHS)?;
        if self.max_flops == Some(0) {
            return Err("retrain.max_flops must be at least 1 (or absent)".into());
        }
        if let Some(m) = self.max_minutes
            && !(m.is_finite() && m > 0.0 && m <= 1e6)
        {
            return Err(format!("retrain.max_minutes must be a positive number of minutes, got {m}"));
        }
        if self.fill_budget && self.schedule == RetrainSchedule::Decay {
            return Err("retrain.fill_budget re-plans the final run's length as it trains, which only the cosine \
                 schedule follows; schedule = \"decay\" fixes its drop epoch in advance"
                .into());
        }
        nas_space::limits::non_negative("retrain.label_smoothing", self.label_smoothing, 0.5)?;
        if let Some(g) = self.grid_epochs {
            count("retrain.grid_epochs", g, 1, MAX_EPOCHS)?;
        }
        let cells = self.cells().len();
        if cells > MAX_GRID_CELLS {
            return Err(format!("retrain: the grid has {cells} cells; at most {MAX_GRID_CELLS} are allowed"));
        }
        if !(self.width.is_finite() && self.width > 0.0 && self.width <= MAX_WIDTH) {
            return Err(format!("retrain.width must be in (0, {MAX_WIDTH}], got {}", self.width));
        }
        count("retrain.filter_multiple", self.filter_multiple, 1, 64)?;
        if self.train_subset == Some(0) {
            return Err("retrain.train_subset must be at least 1 image".into());
        }
        Ok(())
    }
}

/// The augmentation grid and final runs use: `[retrain] augment`, else the dataset's light
/// default (crop after 2-pixel padding for MNIST-like images, plus a flip for Fashion-MNIST — a
/// mirrored shoe is a shoe, a mirrored digit is not; crop(4) + flip for CIFAR).
pub fn default_augment(config: &RetrainConfig, dataset: &DatasetSpec) -> Augment {
    config.augment.unwrap_or(match dataset {
        DatasetSpec::Cifar10 { .. } | DatasetSpec::Cifar100 { .. } => {
            Augment { crop_padding: 4, flip: true, erase: 0.0 }
        }
        DatasetSpec::FashionMnist { .. } | DatasetSpec::FashionMnistSubset => {
            Augment { crop_padding: 2, flip: true, erase: 0.0 }
        }
        DatasetSpec::Mnist { .. } => Augment { crop_padding: 2, flip: false, erase: 0.0 },
    })
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
        let c = RetrainConfig { schedule: RetrainSchedule::Decay, ..Default::default() };
        assert_eq!(c.cells().len(), 36);
        let cosine = RetrainConfig::default();
        assert_eq!(cosine.cells().len(), 18, "decay_at is no dimension of a cosine grid");
        assert!(cosine.cells().iter().all(|g| g.decay_at == 1.0));
        assert_eq!(c.cells()[0], GridCell { learning_rate: 0.05, weight_decay: 5e-5, bn_epsilon: 1e-5, decay_at: 0.5 });
        assert!(c.validate().is_ok());
        let bad = RetrainConfig { decay_at: vec![1.5], ..c.clone() };
        assert!(bad.validate().unwrap_err().contains("retrain.decay_at"));
        let empty = RetrainConfig { weight_decay: vec![], ..c.clone() };
        assert!(empty.validate().unwrap_err().contains("retrain.weight_decay"));
        for m in [0, 65] {
            let lanes = RetrainConfig { filter_multiple: m, ..c.clone() };
            assert!(lanes.validate().unwrap_err().starts_with("retrain.filter_multiple"), "{m}");
        }
        let drop = RetrainConfig { fill_budget: true, max_minutes: Some(50.0), ..c.clone() };
        assert!(drop.validate().unwrap_err().starts_with("retrain.fill_budget"), "a decay epoch cannot move");
        assert_eq!(RetrainConfig { schedule: RetrainSchedule::Cosine, ..drop }.fill_seconds(), Some(3000.0));
        assert_eq!(RetrainConfig { max_minutes: Some(50.0), ..c.clone() }.fill_seconds(), None, "fill_budget off");
        let erase = RetrainConfig { augment: Some(Augment { erase: -0.1, ..Augment::default() }), ..c };
        assert!(erase.validate().unwrap_err().starts_with("retrain.augment.erase"));
        assert_eq!(decay_epoch(0.5, 10), 5);
        assert_eq!(decay_epoch(0.75, 3), 2);
    }

    #[test]
    fn light_augmentation_by_dataset_flips_clothes_not_digits() {
        let c = RetrainConfig::default();
        let fashion = default_augment(&c, &DatasetSpec::FashionMnistSubset);
        assert_eq!(fashion, Augment { crop_padding: 2, flip: true, erase: 0.0 });
        let digits = default_augment(&c, &DatasetSpec::Mnist { dir: "/d".into() });
        assert_eq!(digits, Augment { crop_padding: 2, flip: false, erase: 0.0 });
        let off = RetrainConfig { augment: Some(Augment::default()), ..c };
        assert!(!default_augment(&off, &DatasetSpec::FashionMnistSubset).is_active());
    }
}
