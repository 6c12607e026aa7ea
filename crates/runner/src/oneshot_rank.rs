//! `nas bench oneshot`: do the shared weights rank children as training them on their own does?
//! A supernet of a configuration's CNN space is trained by uniformly drawn children (the one-shot
//! evaluator, as a random-search one-shot run trains it); then N other architectures (fixed seed)
//! are scored under the shared weights three ways — the whole validation split with batch
//! statistics (what a one-shot search's final ranking uses), one 256-image minibatch with batch
//! statistics (a search reward), the whole split with batch norm recalibrated on training
//! batches — and each is trained stand-alone (the search fidelity of `fashion-cpu`: a few epochs
//! on a training subset, batch norm recalibrated) and scored on the same validation split. With
//! `[oneshot] reward_flops` both score the child at its equal-cost width.
//! Printed: the rankings' Kendall τ-b, Spearman and top-k overlap.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use nas_child::{ChildConfig, InputShape};
use nas_data::Splits;
use nas_evaluator::rank::{kendall, spearman, top_k_overlap};
use nas_evaluator::{EvalContext, Evaluator};
use nas_space::{Architecture, CnnArch, SearchSpace};
use nas_trainer::{
    BnScoring, EvalEvery, OneShotEvaluator, OneShotSetup, PreparedData, Schedule, TrainConfig, fit, score,
};

use crate::SearchConfig;
use crate::fidelity::draw_archs;

/// What `nas bench oneshot` measures. Defaults: a supernet trained by 3,000 random children, 16
/// architectures, stand-alone training of 2 epochs on 10,000 images, top-4 overlap.
#[derive(Debug, Clone)]
pub struct OneShotRankOptions {
    /// Children (one shared-weight step each) that train the supernet before it ranks.
    pub supernet_children: u64,
    /// Architectures ranked both ways.
    pub archs: usize,
    /// Epochs and training images of each stand-alone run.
    pub epochs: usize,
    pub subset: Option<usize>,
    pub top_k: usize,
    pub seed: u64,
}

impl Default for OneShotRankOptions {
    fn default() -> Self {
        OneShotRankOptions { supernet_children: 3000, archs: 16, epochs: 2, subset: Some(10_000), top_k: 4, seed: 0 }
    }
}

/// Where the benchmark is.
#[derive(Debug, Clone, Copy)]
pub enum OneShotRankStep {
    /// Training the supernet: children done so far.
    Supernet { children: u64 },
    /// Scoring architecture `index` under the shared weights.
    Shared { index: usize },
    /// Training architecture `index` stand-alone.
    StandAlone { index: usize },
}

/// One architecture's scores.
#[derive(Debug, Clone)]
pub struct RankedArch {
    /// As trained stand-alone (under `[oneshot] reward_flops`, at its equal-cost width).
    pub arch: CnnArch,
    pub flops: u64,
    /// Under the shared weights, one per [`OneShotRankReport::scorings`].
    pub shared: Vec<f64>,
    /// Stand-alone validation accuracy.
    pub alone: f64,
    pub alone_seconds: f64,
}

/// The benchmark's results.
#[derive(Debug, Clone)]
pub struct OneShotRankReport {
    /// Names of the shared-weight scorings, in the order of [`RankedArch::shared`].
    pub scorings: Vec<&'static str>,
    pub archs: Vec<RankedArch>,
    /// Seconds spent training the supernet, and its children per second.
    pub supernet_seconds: f64,
    pub supernet_children: u64,
    pub alone_setting: String,
    pub top_k: usize,
}

impl OneShotRankReport {
    /// (Kendall τ-b, Spearman, top-k overlap) of scoring `s` against the stand-alone ranking.
    pub fn agreement(&self, s: usize) -> (Option<f64>, Option<f64>, f64) {
        let a: Vec<f64> = self.archs.iter().map(|r| r.shared[s]).collect();
        let b: Vec<f64> = self.archs.iter().map(|r| r.alone).collect();
        (kendall(&a, &b), spearman(&a, &b), top_k_overlap(&a, &b, self.top_k))
    }
}

/// Train a supernet with random children of `config`'s space, rank `opts.archs` other
/// architectures under it and stand-alone, and report the agreement.
pub fn oneshot_ranking(
    config: &SearchConfig,
    splits: &Splits,
    dataset: &str,
    opts: &OneShotRankOptions,
    mut progress: impl FnMut(OneShotRankStep, Option<&CnnArch>),
) -> Result<OneShotRankReport, String> {
    let SearchSpace::Cnn(space) = config.search_space() else {
        return Err("nas bench oneshot measures CNN spaces (space = \"cnn\")".into());
    };
    let t = &splits.train;
    let input = InputShape { channels: t.channels, height: t.height, width: t.width, classes: t.classes };
    let augment = PreparedData::augment_for(&config.dataset, &config.train);
    let data = Arc::new(PreparedData::from_set(t.clone(), &config.train, config.seed, augment, dataset.into())?);
    let setup = OneShotSetup {
        train: config.train.clone(),
        child: config.child.clone(),
        oneshot: config.oneshot.clone(),
        space,
        first_layers: config.depth.start,
        layers: config.depth.max.max(config.depth.start),
        samples: opts.supernet_children,
        seed: opts.seed,
    };
    let mut ev = OneShotEvaluator::new(data.clone(), setup);
    // The supernet's trainers and the ranked architectures are different draws.
    let trainers = draw_archs(config, input, opts.supernet_children as usize, opts.seed.wrapping_add(1))?;
    let started = Instant::now();
    for (seq, arch) in trainers.into_iter().enumerate() {
        if seq % 50 == 0 {
            progress(OneShotRankStep::Supernet { children: seq as u64 }, None);
        }
        let ctx = EvalContext { trial_id: seq as i64, seq: seq as u64, seed: opts.seed };
        match ev.evaluate(&Architecture::Cnn(arch), &ctx) {
            Ok(_) | Err(nas_evaluator::EvalError::Failed(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let supernet_seconds = started.elapsed().as_secs_f64();
    let archs = draw_archs(config, input, opts.archs, opts.seed.wrapping_add(2))?;
    let alone_cfg = TrainConfig {
        epochs: opts.epochs,
        train_subset: opts.subset,
        schedule: Schedule::Cosine,
        learning_rate: 0.1,
        bn_recalibration_batches: config.train.bn_recalibration_batches.max(10),
        median_stopping: None,
        ..config.train.clone()
    };
    let alone_data = PreparedData::from_set(t.clone(), &alone_cfg, config.seed, augment, dataset.into())?;
    let alone_child = ChildConfig { max_params: None, max_flops: None, ..config.child.clone() };
    let device = &nas_retrain::training_device();
    let recal = BnScoring::Recalibrated { batches: alone_cfg.bn_recalibration_batches };
    let mut rows = Vec::with_capacity(archs.len());
    for (index, arch) in archs.into_iter().enumerate() {
        progress(OneShotRankStep::Shared { index }, Some(&arch));
        let a = Architecture::Cnn(arch.clone());
        let whole = ev.score_all(std::slice::from_ref(&a)).map_err(|e| e.to_string())?[0];
        let minibatch = ev.score_minibatch(&a, index as u64).map_err(|e| e.to_string())?;
        let lifted = ev.extract(&a).map_err(|e| e.to_string())?;
        let recalibrated = score(&lifted, &data, &data.validation, recal, 64, opts.seed, device).0;
        progress(OneShotRankStep::StandAlone { index }, Some(&arch));
        let started = Instant::now();
        let go = |_: &nas_trainer::EpochMetrics| ControlFlow::Continue(());
        // Under `[oneshot] reward_flops` the shared weights scored the child at its equal-cost
        // width; that is the network trained here (the caps were checked on the drawn child).
        let arch = ev.scored_arch(&arch);
        let trained = fit(
            &arch,
            &alone_data,
            &alone_data.validation,
            EvalEvery::End,
            &alone_cfg,
            &alone_child,
            device,
            opts.seed,
            go,
            None,
        )
        .map_err(|e| format!("{arch}: {e}"))?;
        rows.push(RankedArch {
            flops: trained.outcome.flops,
            arch,
            shared: vec![whole, minibatch, recalibrated],
            alone: trained.outcome.val_accuracy,
            alone_seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(OneShotRankReport {
        scorings: vec!["batch-stats", "minibatch", "recal"],
        archs: rows,
        supernet_seconds,
        supernet_children: opts.supernet_children,
        alone_setting: format!(
            "{} epoch(s), cosine from 0.1, {} — scored on the validation split, batch norm recalibrated",
            alone_cfg.epochs, alone_data.description
        ),
        top_k: opts.top_k,
    })
}
