//! [`retrain`]: score every grid cell on the validation split, then train the best cell on
//! training + validation images and measure test accuracy once, at the end.

use std::ops::ControlFlow;

use burn::prelude::Device;
use nas_child::{ChildConfig, InputShape, Plan};
use nas_data::{Augment, Splits};
use nas_space::CnnArch;
use nas_trainer::{EpochMetrics, EvalEvery, PreparedData, Schedule, TrainConfig, Trained, accuracy_with_mirror, fit};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{GridCell, RetrainConfig, RetrainSchedule, SavedRun, decay_epoch};

/// What one grid cell scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridResult {
    pub cell: GridCell,
    /// Best validation accuracy of the reward window; absent when training failed.
    pub val_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub epochs: Vec<EpochMetrics>,
}

/// Score every cell with `score` and return the results with the index of the best one (the
/// first of equals; `None` when every cell failed).
pub fn grid_search(
    cells: &[GridCell],
    mut score: impl FnMut(usize, &GridCell) -> Result<(f64, Vec<EpochMetrics>), String>,
) -> (Vec<GridResult>, Option<usize>) {
    let mut results = Vec::with_capacity(cells.len());
    let mut best: Option<(usize, f64)> = None;
    for (i, cell) in cells.iter().enumerate() {
        let r = match score(i, cell) {
            Ok((acc, epochs)) => {
                if best.is_none_or(|(_, b)| acc > b) {
                    best = Some((i, acc));
                }
                GridResult { cell: *cell, val_accuracy: Some(acc), failure: None, epochs }
            }
            Err(why) => GridResult { cell: *cell, val_accuracy: None, failure: Some(why), epochs: Vec::new() },
        };
        results.push(r);
    }
    (results, best.map(|(i, _)| i))
}

/// Where a retrain is.
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    /// Grid cell `index` of `of`.
    Grid { index: usize, of: usize },
    /// The final run.
    Final,
    /// The final run continues after `epochs` epochs from the state saved beside the model
    /// (announced once, before [`Phase::Final`]).
    Resume { epochs: u64 },
}

/// Everything [`retrain`] needs besides the architecture.
pub struct RetrainInputs<'a> {
    /// The dataset's train and test parts (the test part is looked at once, at the very end).
    pub splits: &'a Splits,
    /// One line saying what the data is.
    pub dataset: String,
    /// Augmentation of grid and final runs (`nas_retrain::default_augment`).
    pub augment: Augment,
    /// The search's training settings: the validation split, subset, batch size, momentum and
    /// reward window come from here.
    pub train: &'a TrainConfig,
    pub child: &'a ChildConfig,
    pub retrain: &'a RetrainConfig,
    pub seed: u64,
    /// Where the final run keeps its state after every epoch and continues from when it
    /// matches ([`crate::SavedRun`]); removed when the run ends. `None`: not saved.
    pub saved: Option<&'a std::path::Path>,
}

/// A retrained network and how it was chosen.
pub struct Retrained {
    /// The network trained: the input architecture with `retrain.width` applied.
    pub arch: CnnArch,
    pub trained: Trained,
    pub grid: Vec<GridResult>,
    pub chosen: GridCell,
    /// The settings of the final run.
    pub train: TrainConfig,
    pub child: ChildConfig,
    /// Accuracy on the test part, measured once after the last epoch.
    pub test_accuracy: f64,
    /// The same with flip test-time augmentation (each test image's softmax averaged with its
    /// mirror image's, [`nas_trainer::accuracy_with_mirror`]), when the final run trained on
    /// randomly flipped images; else `None`.
    pub test_accuracy_mirror: Option<f64>,
    /// What the final run trained on (its normalisation is the model's).
    pub data: PreparedData,
    /// Why a saved state found for the final run was not used, if one was not.
    pub saved_refused: Option<String>,
}

/// Why no model came out.
#[derive(Debug, Error)]
pub enum RetrainError {
    #[error("retrain: {0}")]
    Config(String),
    #[error("data: {0}")]
    Data(String),
    /// No grid cell trained (with `--no-grid`, the one cell): how many there were and the first
    /// failure.
    #[error("{}", if *.cells == 1 { format!("training failed: {}", .first) } else { format!("every grid cell ({}) failed; first failure: {}", .cells, .first) })]
    AllFailed { cells: usize, first: String },
    #[error("final run: {0}")]
    Final(nas_trainer::TrainError),
    #[error("final run: removing its saved state: {0}")]
    Saved(String),
}

/// The training settings of `cell` for a run of `epochs` epochs.
pub fn cell_settings(
    cell: &GridCell,
    epochs: usize,
    base: &TrainConfig,
    child: &ChildConfig,
    retrain: &RetrainConfig,
    augment: Augment,
) -> (TrainConfig, ChildConfig) {
    let schedule = match retrain.schedule {
        RetrainSchedule::Cosine => Schedule::Cosine,
        RetrainSchedule::Decay => Schedule::DecayAt { at: decay_epoch(cell.decay_at, epochs), gamma: retrain.gamma },
    };
    let train = TrainConfig {
        epochs,
        learning_rate: cell.learning_rate,
        weight_decay: cell.weight_decay,
        schedule,
        augment: Some(augment),
        median_stopping: None,
        label_smoothing: retrain.label_smoothing,
        // A grid cell runs exactly `epochs`; only the final run fills a budget (`retrain`).
        fill_seconds: None,
        ..base.clone()
    };
    // The search's size caps reject children before they cost anything; a model asked for by
    // name (and widened by `retrain.width`) is trained whatever its size.
    (train, ChildConfig { bn_epsilon: cell.bn_epsilon, max_params: None, max_flops: None, ..child.clone() })
}

/// The filter multiplier `retrain` gives `arch` on `input`: `width`, or under `max_flops` the
/// largest multiple of 1/16 up to `width` whose widened network fits (1/16 when none does).
/// An architecture the compiler rejects keeps `width` (training then reports why).
/// The cap holds for the network as trained, after `filter_multiple` rounds its filter counts up.
pub fn fitted_width(arch: &CnnArch, input: InputShape, child: &ChildConfig, retrain: &RetrainConfig) -> f64 {
    let Some(cap) = retrain.max_flops else { return retrain.width };
    let free = ChildConfig { max_params: None, max_flops: None, ..child.clone() };
    if Plan::new(&retrain.widen(arch, retrain.width), input, &free).is_err() {
        return retrain.width;
    }
    let w = nas_child::Widening { start: retrain.width, cap, max_filters: None, multiple: retrain.filter_multiple };
    nas_child::widest_within(arch, input, child, &w)
}

/// The paper's final step for `arch`. `progress` sees each phase start (epoch `None`) and each
/// epoch end.
pub fn retrain(
    arch: &CnnArch,
    inp: &RetrainInputs,
    device: &Device,
    mut progress: impl FnMut(Phase, Option<&EpochMetrics>),
) -> Result<Retrained, RetrainError> {
    inp.retrain.validate().map_err(RetrainError::Config)?;
    let t = &inp.splits.train;
    let input = InputShape { channels: t.channels, height: t.height, width: t.width, classes: t.classes };
    let widened = inp.retrain.widen(arch, fitted_width(arch, input, inp.child, inp.retrain));
    let arch = &widened;
    let cells = inp.retrain.cells();
    let grid_epochs = inp.retrain.grid_epochs.unwrap_or(inp.train.epochs);
    let grid_data =
        PreparedData::from_set(inp.splits.train.clone(), inp.train, inp.seed, inp.augment, inp.dataset.clone())
            .map_err(RetrainError::Data)?;
    let of = cells.len();
    // One cell leaves nothing to choose: no grid run (`nas train --no-grid`).
    let searched = if of == 1 { &cells[..0] } else { &cells[..] };
    let (grid, best) = grid_search(searched, |index, cell| {
        let phase = Phase::Grid { index, of };
        progress(phase, None);
        let (train, child) = cell_settings(cell, grid_epochs, inp.train, inp.child, inp.retrain, inp.augment);
        let on_epoch = |m: &EpochMetrics| {
            progress(phase, Some(m));
            ControlFlow::Continue(())
        };
        let t = fit(
            arch,
            &grid_data,
            &grid_data.validation,
            EvalEvery::Epoch,
            &train,
            &child,
            device,
            inp.seed,
            on_epoch,
            None,
        )
        .map_err(|e| e.to_string())?;
        Ok((t.outcome.val_accuracy, t.outcome.epochs))
    });
    let chosen = match best {
        Some(best) => grid[best].cell,
        None if of == 1 => cells[0],
        None => {
            let first = grid.first().and_then(|g| g.failure.clone()).unwrap_or_default();
            return Err(RetrainError::AllFailed { cells: of, first });
        }
    };
    let (mut train, child) = cell_settings(&chosen, inp.retrain.epochs, inp.train, inp.child, inp.retrain, inp.augment);
    // Under `fill_budget` the final run re-plans its length from its own epochs' times.
    train.fill_seconds = inp.retrain.fill_seconds();
    let data = PreparedData::whole(
        inp.splits.train.clone(),
        inp.retrain.train_subset,
        inp.seed,
        inp.augment,
        inp.dataset.clone(),
    )
    .map_err(RetrainError::Data)?;
    // What the saved state must have been written for: the network, its settings, seed and data.
    let key = serde_json::to_string(&(arch.to_string(), &train, &child, inp.seed, &data.description))
        .expect("settings serialise");
    let mut saved = inp.saved.map(|path| SavedRun::new(path, key));
    if let Some(epochs) = saved.as_ref().map(SavedRun::epochs).filter(|e| *e > 0) {
        progress(Phase::Resume { epochs }, None);
    }
    progress(Phase::Final, None);
    let on_epoch = |m: &EpochMetrics| {
        progress(Phase::Final, Some(m));
        ControlFlow::Continue(())
    };
    let keeper = saved.as_mut().map(|s| s as &mut dyn nas_trainer::Progress);
    let trained =
        fit(arch, &data, &inp.splits.test, EvalEvery::End, &train, &child, device, inp.seed, on_epoch, keeper)
            .map_err(RetrainError::Final)?;
    let saved_refused = saved.as_ref().and_then(|s| s.refused.clone());
    if let Some(s) = &saved {
        s.clear().map_err(|e| RetrainError::Saved(e.to_string()))?;
    }
    // The epochs it ran (a re-planned run's own count).
    let train = TrainConfig { epochs: trained.outcome.epochs.len(), ..train };
    let test_accuracy = trained.outcome.epochs.last().and_then(|e| e.val_accuracy).unwrap_or(0.0);
    let test_accuracy_mirror = inp.augment.flip.then(|| {
        accuracy_with_mirror(&burn::module::Module::valid(&trained.model), &inp.splits.test, &data.norm, device)
    });
    Ok(Retrained {
        arch: widened,
        trained,
        grid,
        chosen,
        train,
        child,
        test_accuracy,
        test_accuracy_mirror,
        data,
        saved_refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(lr: f64) -> GridCell {
        GridCell { learning_rate: lr, weight_decay: 1e-4, bn_epsilon: 1e-5, decay_at: 0.5 }
    }

    /// Under `max_flops` the width is the widest multiple of 1/16 (up to `width`) that fits:
    /// the next step up would not; without a cap, or when `width` fits, `width` itself.
    #[test]
    fn max_flops_lowers_the_width_to_the_widest_network_that_fits() {
        let arch: CnnArch = "3x3-32-mp;3x3-64-mp<0;3x3-64<1".parse().unwrap();
        let input = InputShape { channels: 1, height: 28, width: 28, classes: 10 };
        let child = ChildConfig { max_flops: Some(1), ..ChildConfig::default() };
        let flops = |w: f64| Plan::new(&arch.widened(w), input, &ChildConfig::default()).unwrap().flops;
        let at = |width: f64, max_flops: Option<u64>| {
            fitted_width(&arch, input, &child, &RetrainConfig { width, max_flops, ..RetrainConfig::default() })
        };
        assert_eq!(at(2.0, None), 2.0);
        assert_eq!(at(2.0, Some(flops(2.0))), 2.0, "the search's own cap does not apply");
        let cap = (flops(1.5) + flops(1.5625)) / 2;
        let w = at(2.0, Some(cap));
        assert_eq!(w, 1.5);
        assert!(flops(w) <= cap && flops(w + 1.0 / 16.0) > cap);
        assert_eq!(at(1.3, Some(flops(1.3))), 1.3, "a width that fits is kept even off the 1/16 grid");
        assert_eq!(at(2.0, Some(1)), 1.0 / 16.0, "nothing fits: the narrowest");
        // Rounded up to 8 filters, the network as trained stays under the cap: × 1.5 (48, 96,
        // 96) is already aligned, × 1.5625 (50 → 56, 100 → 104) is over a cap between the two.
        let lanes = |width: f64, cap: u64| {
            let r = RetrainConfig { width, max_flops: Some(cap), filter_multiple: 8, ..RetrainConfig::default() };
            let w = fitted_width(&arch, input, &child, &r);
            let f = |w: f64| Plan::new(&r.widen(&arch, w), input, &ChildConfig::default()).unwrap().flops;
            assert!(f(w) <= cap, "× {w}: {} > {cap}", f(w));
            w
        };
        let aligned = Plan::new(&arch.widened_to(1.5625, 8), input, &ChildConfig::default()).unwrap().flops;
        assert_eq!(lanes(2.0, (flops(1.5625) + aligned) / 2), 1.5, "× 1.5625 fits unrounded, not rounded");
        assert_eq!(lanes(2.0, flops(2.0)), 2.0);
    }

    #[test]
    fn grid_search_picks_the_best_validation_cell_and_keeps_failures() {
        let cells = [cell(0.01), cell(0.1), cell(1.0), cell(0.5)];
        // A synthetic response surface: accuracy peaks at lr 0.5; lr 1.0 "diverges".
        let (results, best) = grid_search(&cells, |_, c| {
            if c.learning_rate >= 1.0 {
                return Err("diverged".into());
            }
            Ok((1.0 - (c.learning_rate - 0.5).abs(), Vec::new()))
        });
        assert_eq!(best, Some(3));
        assert_eq!(results[2].failure.as_deref(), Some("diverged"));
        assert_eq!(results[2].val_accuracy, None);
        assert_eq!(results[0].val_accuracy, Some(0.51));
        let (_, none) = grid_search(&cells, |_, _| Err("no".into()));
        assert_eq!(none, None);
        let (_, tie) = grid_search(&cells, |_, _| Ok((0.7, Vec::new())));
        assert_eq!(tie, Some(0), "the first of equal cells wins");
    }
}
