//! `nas bench fidelity`: does the search's cheap reward rank architectures as a long training
//! run does? N architectures drawn uniformly (fixed seed) from a configuration's CNN space are
//! each trained twice — at the search's fidelity (scored on its validation split with batch norm
//! three ways: running statistics, recalibrated, batch statistics) and at a high fidelity (more
//! epochs and images, cosine schedule, the retrain's augmentation; scored on the test set, batch
//! norm recalibrated) — and the two rankings are compared (Spearman, Kendall τ-b, top-k overlap).

use std::ops::ControlFlow;
use std::time::Instant;

use nas_child::{InputShape, Plan};
use nas_data::Splits;
use nas_evaluator::rank::{kendall, spearman, top_k_overlap};
use nas_space::{Architecture, CnnArch, SpaceKind};
use nas_strategy::{Menu, RandomSearch, SeededRng, Strategy};
use nas_trainer::{BnScoring, EvalEvery, PreparedData, Schedule, TrainConfig, fit, score};

use crate::SearchConfig;

/// What `nas bench fidelity` compares. Defaults: 16 architectures, seed 0, the retrain's epochs
/// and subset as the high fidelity, top-4 overlap.
#[derive(Debug, Clone)]
pub struct FidelityOptions {
    pub archs: usize,
    /// Seed of the architecture draws and of every training run.
    pub seed: u64,
    /// Epochs of the high-fidelity run (default `retrain.epochs`).
    pub high_epochs: Option<usize>,
    /// Training images of the high-fidelity run (default `retrain.train_subset`, else all).
    pub high_subset: Option<usize>,
    /// k of the top-k overlap.
    pub top_k: usize,
}

impl Default for FidelityOptions {
    fn default() -> Self {
        FidelityOptions { archs: 16, seed: 0, high_epochs: None, high_subset: None, top_k: 4 }
    }
}

/// One architecture's two scorings.
#[derive(Debug, Clone)]
pub struct FidelityArch {
    pub arch: CnnArch,
    pub flops: u64,
    /// Validation accuracy at the search's fidelity, one per [`FidelityReport::scorings`].
    pub low: Vec<f64>,
    /// Test accuracy after the high-fidelity run.
    pub high: f64,
    pub low_seconds: f64,
    pub high_seconds: f64,
}

/// Where the benchmark is.
#[derive(Debug, Clone, Copy)]
pub enum FidelityStep {
    Low { index: usize },
    High { index: usize },
}

/// The benchmark's results.
#[derive(Debug, Clone)]
pub struct FidelityReport {
    /// How the low-fidelity scores were taken, in the order of [`FidelityArch::low`].
    pub scorings: Vec<BnScoring>,
    pub archs: Vec<FidelityArch>,
    /// The two fidelities in words.
    pub low_setting: String,
    pub high_setting: String,
    pub top_k: usize,
}

/// Agreement of one low-fidelity scoring with the high-fidelity ranking.
#[derive(Debug, Clone, Copy)]
pub struct Agreement {
    pub spearman: Option<f64>,
    pub kendall: Option<f64>,
    pub top_k: f64,
}

impl FidelityReport {
    /// Agreement of scoring `s` with the high fidelity.
    pub fn agreement(&self, s: usize) -> Agreement {
        let low: Vec<f64> = self.archs.iter().map(|a| a.low[s]).collect();
        let high: Vec<f64> = self.archs.iter().map(|a| a.high).collect();
        Agreement {
            spearman: spearman(&low, &high),
            kendall: kendall(&low, &high),
            top_k: top_k_overlap(&low, &high, self.top_k),
        }
    }
}

/// `n` architectures drawn uniformly from `config`'s CNN space (depths uniform over the depth
/// schedule's range), skipping those the child compiler rejects (size caps).
pub fn draw_archs(config: &SearchConfig, input: InputShape, n: usize, seed: u64) -> Result<Vec<CnnArch>, String> {
    if config.space != SpaceKind::Cnn {
        return Err("nas bench fidelity measures CNN spaces (space = \"cnn\")".into());
    }
    let space = config.search_space();
    let mut strategy = RandomSearch::new(&space.token_types(), seed);
    let mut depth_rng = SeededRng::new(seed, 1);
    let (lo, hi) = (config.depth.start.max(1), config.depth.max.max(config.depth.start.max(1)));
    let mut out = Vec::with_capacity(n);
    let mut tries = 0;
    while out.len() < n {
        tries += 1;
        if tries > 100 * n.max(1) {
            return Err(format!(
                "only {} of {n} draws fit the child's size caps ([child] max_params/max_flops)",
                out.len()
            ));
        }
        let depth = lo + depth_rng.index(hi - lo + 1);
        let sample = strategy.sample(&Menu { space: &space, depth, min_depth: depth }).map_err(|e| e.to_string())?;
        let Architecture::Cnn(arch) = space.decode(&sample.actions).map_err(|e| e.to_string())? else {
            unreachable!("a CNN space decodes to CNNs")
        };
        if Plan::new(&arch, input, &config.child).is_ok() {
            out.push(arch);
        }
    }
    Ok(out)
}

/// Train every drawn architecture at both fidelities on `splits` and report the agreement.
pub fn fidelity(
    config: &SearchConfig,
    splits: &Splits,
    dataset: &str,
    opts: &FidelityOptions,
    mut progress: impl FnMut(FidelityStep, &CnnArch),
) -> Result<FidelityReport, String> {
    config.validate().map_err(|e| e.to_string())?;
    let device = &nas_retrain::training_device();
    let t = &splits.train;
    let input = InputShape { channels: t.channels, height: t.height, width: t.width, classes: t.classes };
    let archs = draw_archs(config, input, opts.archs, opts.seed)?;
    let recal = match config.train.bn_recalibration_batches {
        0 => 10,
        n => n,
    };
    let scorings = vec![BnScoring::Running, BnScoring::Recalibrated { batches: recal }, BnScoring::BatchStatistics];
    // The search's fidelity, trained once and scored every way.
    let low_cfg = TrainConfig { bn_recalibration_batches: 0, median_stopping: None, ..config.train.clone() };
    let low_augment = PreparedData::augment_for(&config.dataset, &low_cfg);
    let low_data = PreparedData::from_set(splits.train.clone(), &low_cfg, opts.seed, low_augment, dataset.to_string())?;
    let augment = nas_retrain::default_augment(&config.retrain, &config.dataset);
    let high_cfg = TrainConfig {
        epochs: opts.high_epochs.unwrap_or(config.retrain.epochs),
        train_subset: opts.high_subset.or(config.retrain.train_subset),
        schedule: Schedule::Cosine,
        augment: Some(augment),
        bn_recalibration_batches: recal,
        median_stopping: None,
        ..config.train.clone()
    };
    let high_data = PreparedData::from_set(splits.train.clone(), &high_cfg, opts.seed, augment, dataset.to_string())?;
    let go = |_: &nas_trainer::EpochMetrics| ControlFlow::Continue(());
    let mut rows = Vec::with_capacity(archs.len());
    for (index, arch) in archs.into_iter().enumerate() {
        progress(FidelityStep::Low { index }, &arch);
        let started = Instant::now();
        let t = fit(
            &arch,
            &low_data,
            &low_data.validation,
            EvalEvery::End,
            &low_cfg,
            &config.child,
            device,
            opts.seed,
            go,
            None,
        )
        .map_err(|e| format!("{arch}: {e}"))?;
        let low: Vec<f64> = scorings
            .iter()
            .map(|&s| score(&t.model, &low_data, &low_data.validation, s, low_cfg.batch_size, opts.seed, device).0)
            .collect();
        let low_seconds = started.elapsed().as_secs_f64();
        progress(FidelityStep::High { index }, &arch);
        let started = Instant::now();
        let h =
            fit(&arch, &high_data, &splits.test, EvalEvery::End, &high_cfg, &config.child, device, opts.seed, go, None)
                .map_err(|e| format!("{arch}: {e}"))?;
        let high = h.outcome.val_accuracy;
        rows.push(FidelityArch {
            flops: h.outcome.flops,
            arch,
            low,
            high,
            low_seconds,
            high_seconds: started.elapsed().as_secs_f64(),
        });
    }
    let describe = |c: &TrainConfig, d: &PreparedData, scored: &str| {
        format!("{} epoch(s), {:?} schedule, {} — scored on {scored}", c.epochs, c.schedule, d.description)
    };
    Ok(FidelityReport {
        scorings,
        archs: rows,
        low_setting: describe(&low_cfg, &low_data, "the validation split"),
        high_setting: describe(
            &high_cfg,
            &high_data,
            &format!("{} test images, batch norm recalibrated", splits.test.len()),
        ),
        top_k: opts.top_k,
    })
}
