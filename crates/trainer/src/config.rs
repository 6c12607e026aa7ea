//! Child-training hyper-parameters; the paper's values are the defaults.

use nas_data::Augment;
use nas_evaluator::RewardTransform;
use nas_space::limits::{MAX_BATCH, MAX_EPOCHS, count, non_negative, positive};
use serde::{Deserialize, Serialize};

use crate::MedianStopping;

/// Learning-rate schedule over the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Cosine decay from the base rate to 0 over all steps.
    Cosine,
    /// Multiply by `gamma` every `every` epochs.
    Step { every: usize, gamma: f64 },
    /// Multiply by `gamma` once, from epoch `at` on (the decay epoch the paper's final
    /// retraining tunes).
    DecayAt { at: usize, gamma: f64 },
}

/// How a child is trained and rewarded.
///
/// Defaults: the paper's optimiser (SGD, Nesterov momentum 0.9, learning rate 0.1, weight decay
/// 1e-4) and reward ((best validation accuracy of the last 5 epochs)³); 50 epochs and a 5,000-image
/// validation split as for the paper's CIFAR-10 children. The presets scale these down for CPUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub schedule: Schedule,
    /// Images held out of the training set for validation (fixed by the experiment seed).
    pub validation: usize,
    /// Train on a class-balanced subset of this many images (CPU presets); all when absent.
    pub train_subset: Option<usize>,
    /// Augmentation; when absent, CIFAR gets crop(4)+flip and MNIST-like data none.
    pub augment: Option<Augment>,
    /// The reward uses the best validation accuracy of this many final epochs.
    pub reward_window: usize,
    /// Applied to that accuracy (in [0, 1]).
    pub reward_transform: RewardTransform,
    /// Before every validation, recompute batch norm's running statistics from this many
    /// training batches under the current weights (see `bn.rs`); 0 validates with the running
    /// statistics training left. Default 10.
    pub bn_recalibration_batches: usize,
    /// Stop children whose validation accuracy falls below the median of completed children at
    /// the same epoch. Off (absent) by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_stopping: Option<MedianStopping>,
    /// Label smoothing of the training loss (Szegedy et al. 2016): the target puts 1 − ε on the
    /// label and ε spread over all classes. Default 0 (off).
    pub label_smoothing: f64,
    /// Fit the run to this many seconds of training (`[retrain] fill_budget`): after every
    /// epoch the run's length is re-planned to what the mean epoch so far fits
    /// ([`planned_epochs`]) — never fewer than `epochs` — and the schedule follows the new
    /// length. Absent (the default): exactly `epochs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill_seconds: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 50,
            batch_size: 64,
            learning_rate: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
            schedule: Schedule::Constant,
            validation: 5000,
            train_subset: None,
            augment: None,
            reward_window: 5,
            reward_transform: RewardTransform::Cube,
            bn_recalibration_batches: 10,
            median_stopping: None,
            label_smoothing: 0.0,
            fill_seconds: None,
        }
    }
}

/// The epochs a run of at least `least` epochs should have when `done` epochs took
/// `seconds` of training and the whole run may take `budget` seconds: as many as the mean epoch
/// so far fits (rounded down), never fewer than `least` or than `done`, at most [`MAX_EPOCHS`].
/// Before the first epoch, `least`.
pub fn planned_epochs(least: usize, done: usize, seconds: f64, budget: f64) -> usize {
    if done == 0 || !(seconds.is_finite() && seconds > 0.0 && budget.is_finite()) {
        return least.max(done);
    }
    let fits = (budget * done as f64 / seconds).floor().min(MAX_EPOCHS as f64) as usize;
    fits.max(least).max(done)
}

impl TrainConfig {
    /// The learning rate at `step` of `total` steps (epoch `epoch`).
    pub fn lr_at(&self, step: usize, total: usize, epoch: usize) -> f64 {
        match self.schedule {
            Schedule::Constant => self.learning_rate,
            Schedule::Cosine => {
                0.5 * self.learning_rate * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos())
            }
            Schedule::Step { every, gamma } => self.learning_rate * gamma.powi((epoch / every.max(1)) as i32),
            Schedule::DecayAt { at, gamma } => self.learning_rate * if epoch >= at { gamma } else { 1.0 },
        }
    }

    /// Reject unusable values, naming the field (caps: [`nas_space::limits`]).
    pub fn validate(&self) -> Result<(), String> {
        count("train.epochs", self.epochs, 1, MAX_EPOCHS)?;
        count("train.batch_size", self.batch_size, 1, MAX_BATCH)?;
        positive("train.learning_rate", self.learning_rate, 100.0)?;
        non_negative("train.momentum", self.momentum, 0.999_999)?;
        non_negative("train.weight_decay", self.weight_decay, 1.0)?;
        count("train.validation", self.validation, 1, 10_000_000)?;
        if let Some(n) = self.train_subset {
            count("train.train_subset", n, 1, 100_000_000)?;
        }
        count("train.reward_window", self.reward_window, 1, MAX_EPOCHS)?;
        non_negative("train.label_smoothing", self.label_smoothing, 0.5)?;
        if let Some(s) = self.fill_seconds {
            positive("train.fill_seconds", s, 1e8)?;
        }
        count("train.bn_recalibration_batches", self.bn_recalibration_batches, 0, 100_000)?;
        if let Some(a) = self.augment {
            count("train.augment.crop_padding", a.crop_padding, 0, 64)?;
        }
        match self.schedule {
            Schedule::Constant | Schedule::Cosine => {}
            Schedule::Step { every, gamma } => {
                count("train.schedule.every", every, 1, MAX_EPOCHS)?;
                positive("train.schedule.gamma", gamma, 1.0)?;
            }
            Schedule::DecayAt { gamma, .. } => positive("train.schedule.gamma", gamma, 1.0)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let c = TrainConfig { schedule: Schedule::Cosine, ..Default::default() };
        assert_eq!(c.lr_at(0, 100, 0), 0.1);
        assert!((c.lr_at(50, 100, 0) - 0.05).abs() < 1e-12);
        assert!(c.lr_at(100, 100, 0).abs() < 1e-12);
        let s = TrainConfig { schedule: Schedule::Step { every: 10, gamma: 0.1 }, ..Default::default() };
        assert!((s.lr_at(0, 0, 25) - 0.001).abs() < 1e-12);
        assert_eq!(TrainConfig::default().lr_at(7, 9, 3), 0.1);
        let d = TrainConfig { schedule: Schedule::DecayAt { at: 4, gamma: 0.1 }, ..Default::default() };
        assert_eq!(d.lr_at(0, 0, 3), 0.1);
        assert!((d.lr_at(0, 0, 4) - 0.01).abs() < 1e-12);
        assert!((d.lr_at(0, 0, 9) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn a_filled_run_plans_what_its_mean_epoch_fits_and_never_less_than_asked() {
        // 2 epochs took 97 s of a 3000 s budget: 48.5 s each, 61 fit (61.86, rounded down).
        assert_eq!(planned_epochs(50, 2, 97.0, 3000.0), 61);
        // Later epochs ran slower (60 s each over 30): the plan shrinks to 50, never below.
        assert_eq!(planned_epochs(50, 30, 1800.0, 3000.0), 50);
        assert_eq!(planned_epochs(50, 30, 1500.0, 3000.0), 60);
        assert_eq!(planned_epochs(50, 55, 3300.0, 3000.0), 55, "never fewer than are done");
        assert_eq!(planned_epochs(50, 0, 0.0, 3000.0), 50, "nothing measured yet");
        assert_eq!(planned_epochs(50, 2, f64::NAN, 3000.0), 50);
        assert_eq!(planned_epochs(50, 1, 1e-9, 3000.0), MAX_EPOCHS);
        let c = TrainConfig { fill_seconds: Some(-1.0), ..Default::default() };
        assert!(c.validate().unwrap_err().starts_with("train.fill_seconds"));
    }
}
