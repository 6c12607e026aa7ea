//! The search's last step, `[rescore]`: its best distinct children trained again at a higher
//! fidelity (more epochs, all training images, the retrain's augmentation) and ranked by that
//! validation accuracy. A cheap reward favours children that learn fast — on `fashion-cpu`, ones
//! that downsample to 7×7 in their first layer — so the child a long final run profits from most
//! is not always the search's top one; re-scoring a few is far cheaper than retraining them all.
//!
//! The results are an experiment of their own, `NAME/rescore` (strategy `rescore`, the search's
//! stored configuration, one trial per child with `parent_id` naming the search's trial), so
//! `nas top`, `nas show`, the dashboard and `nas train --trial ID` work on them unchanged, and a
//! killed re-scoring continues on `nas search --resume`: finished children are kept, unfinished
//! ones are trained again.

use std::collections::HashSet;

use nas_evaluator::{EvalContext, EvaluatorSpec};
use nas_space::{Architecture, CnnArch};
use nas_store::{Experiment, NewExperiment, NewTrial, TrialStatus, TrialStore};
use nas_trainer::TrainConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::execute::{Executor, Job, JobQueue, Outcome, Pool};
use crate::search::{experiment_tag, judge};
use crate::{Control, SearchConfig, SearchError};

/// The strategy name of a re-scoring experiment.
pub const RESCORE_STRATEGY: &str = "rescore";

/// Most children one re-scoring trains.
pub const MAX_RESCORE: usize = 256;

/// `[rescore]`: how many of the search's best children to train again, and how long. Off by
/// default (`top_k = 0`); the `fashion-cpu` preset re-scores 4 for 4 epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RescoreConfig {
    /// Distinct completed children to re-score, best reward first. 0 = no re-scoring. Default 0.
    pub top_k: usize,
    /// Epochs of each re-scoring run (the search's schedule, learning rate and batch). Default 4.
    pub epochs: usize,
    /// Training images of each run (class-balanced); absent = every training image outside the
    /// search's validation split (the default).
    pub train_subset: Option<usize>,
    /// Train with the retrain's augmentation (`[retrain] augment`, or the dataset's usual one).
    /// Default true.
    pub augment: bool,
    /// Hand-designed references (CNN strings such as `"3x3-32-mp;3x3-64-mp<0;3x3-64<1"`)
    /// re-scored beside the children at the same fidelity, so the ranking shows whether the
    /// search beat them. They are listed, never recommended. Default none.
    pub baselines: Vec<String>,
}

impl Default for RescoreConfig {
    fn default() -> Self {
        RescoreConfig { top_k: 0, epochs: 4, train_subset: None, augment: true, baselines: Vec::new() }
    }
}

impl RescoreConfig {
    /// Check every field; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        nas_space::limits::count("rescore.top_k", self.top_k, 0, MAX_RESCORE)?;
        nas_space::limits::count("rescore.epochs", self.epochs, 1, 10_000)?;
        if self.train_subset == Some(0) {
            return Err("rescore.train_subset must be at least 1 (or absent for every image)".into());
        }
        nas_space::limits::count("rescore.baselines (entries)", self.baselines.len(), 0, MAX_RESCORE)?;
        self.baseline_archs().map(|_| ())
    }

    /// The baselines as architectures (the first unreadable one names itself).
    pub fn baseline_archs(&self) -> Result<Vec<CnnArch>, String> {
        self.baselines
            .iter()
            .map(|b| {
                let a: CnnArch = b.parse().map_err(|e| format!("rescore.baselines: {b:?}: {e}"))?;
                a.validate().map_err(|e| format!("rescore.baselines: {b:?}: {e}"))?;
                Ok(a)
            })
            .collect()
    }

    /// Whether re-scoring is on.
    pub fn enabled(&self) -> bool {
        self.top_k > 0
    }
}

/// The name of `search`'s re-scoring experiment.
pub fn rescore_name(search: &str) -> String {
    format!("{search}/rescore")
}

/// Whether `e` is a re-scoring experiment (not a search to resume).
pub fn is_rescore(e: &Experiment) -> bool {
    e.strategy == RESCORE_STRATEGY
}

/// The latest experiment that is a search (re-scorings belong to theirs).
pub fn latest_search(store: &dyn TrialStore) -> Result<Option<Experiment>, SearchError> {
    Ok(store.experiments()?.into_iter().rev().find(|e| !is_rescore(e)))
}

/// The search a re-scoring experiment belongs to (None when `e` is not a re-scoring).
pub fn search_of(store: &dyn TrialStore, e: &Experiment) -> Result<Option<Experiment>, SearchError> {
    if !is_rescore(e) {
        return Ok(None);
    }
    let parent = e.name.strip_suffix("/rescore").unwrap_or(&e.name);
    match store.experiment_by_name(parent)? {
        Some(p) if !is_rescore(&p) => Ok(Some(p)),
        _ => Err(SearchError::Resume(format!(
            "{:?} re-scores a search named {parent:?}, which is not in this store",
            e.name
        ))),
    }
}

/// The training settings of a re-scoring run: the search's, with the re-scoring's epochs, images
/// and augmentation; no early stopping (every child runs its full budget).
pub fn rescore_train_config(config: &SearchConfig) -> TrainConfig {
    let r = &config.rescore;
    TrainConfig {
        epochs: r.epochs,
        train_subset: r.train_subset,
        augment: r.augment.then(|| nas_retrain::default_augment(&config.retrain, &config.dataset)),
        median_stopping: None,
        ..config.train.clone()
    }
}

/// One re-scored child.
#[derive(Debug, Clone, PartialEq)]
pub struct Rescored {
    /// Its trial in the re-scoring experiment (what `nas train --trial` takes).
    pub trial_id: i64,
    /// The search's trial it re-scores (None: a baseline of `[rescore] baselines`).
    pub source_trial: Option<i64>,
    pub arch: String,
    /// Validation accuracy in the search.
    pub search_accuracy: Option<f64>,
    /// Validation accuracy after the re-scoring run (None: the run failed).
    pub accuracy: Option<f64>,
    pub reward: f64,
    pub failure: Option<String>,
}

/// Where the re-scoring is.
#[derive(Debug, Clone)]
pub enum RescoreEvent {
    /// Training starts for these many children (the others were re-scored by an earlier run).
    Started { to_train: usize, of: usize, description: String },
    /// One child is done.
    Finished(Rescored),
}

fn accuracy(metrics: &Value) -> Option<f64> {
    metrics.get("val_accuracy").and_then(Value::as_f64)
}

/// Re-score `search`'s best children as `config.rescore` says, training those not yet re-scored
/// on `config.parallelism()` local workers; the result is sorted best first (failed runs last).
pub fn rescore(
    store: &dyn TrialStore,
    search: &Experiment,
    config: &SearchConfig,
    progress: impl FnMut(&RescoreEvent) -> Control,
) -> Result<Vec<Rescored>, SearchError> {
    // The best distinct completed children (a repeat carries its original's result).
    let mut sources: Vec<_> = store
        .trials(search.id)?
        .into_iter()
        .filter(|t| t.status == TrialStatus::Completed && t.repeat_of.is_none())
        .collect();
    sources.sort_by(|a, b| b.reward.unwrap_or(0.0).total_cmp(&a.reward.unwrap_or(0.0)).then(a.id.cmp(&b.id)));
    rescore_sources(store, search, config, sources, progress)
}

/// [`rescore`] with the children ranked by the caller (trial ids, best first) instead of by
/// reward: a one-shot search passes its derived ranking ([`crate::Search::derive`]), whose
/// whole-split scores are better than its 256-image rewards.
pub fn rescore_ranked(
    store: &dyn TrialStore,
    search: &Experiment,
    config: &SearchConfig,
    ranked: &[i64],
    progress: impl FnMut(&RescoreEvent) -> Control,
) -> Result<Vec<Rescored>, SearchError> {
    let sources = ranked
        .iter()
        .map(|&id| match store.trial(id)? {
            Some(t) if t.experiment_id == search.id && t.status == TrialStatus::Completed => Ok(t),
            _ => Err(SearchError::Resume(format!("trial {id} is not a completed child of {:?}", search.name))),
        })
        .collect::<Result<Vec<_>, SearchError>>()?;
    rescore_sources(store, search, config, sources, progress)
}

/// Re-score the first `top_k` distinct architectures of `sources`.
fn rescore_sources(
    store: &dyn TrialStore,
    search: &Experiment,
    config: &SearchConfig,
    mut sources: Vec<nas_store::TrialRow>,
    mut progress: impl FnMut(&RescoreEvent) -> Control,
) -> Result<Vec<Rescored>, SearchError> {
    let r = &config.rescore;
    r.validate().map_err(crate::ConfigError::Invalid)?;
    let mut seen = HashSet::new();
    sources.retain(|t| seen.insert(t.arch.clone()));
    sources.truncate(r.top_k);
    let name = rescore_name(&search.name);
    let experiment = match store.experiment_by_name(&name)? {
        Some(e) if is_rescore(&e) => e,
        Some(_) => {
            return Err(SearchError::Resume(format!(
                "an experiment named {name:?} exists and is not a re-scoring; rename the search"
            )));
        }
        None => store.create_experiment(&NewExperiment {
            name,
            space: search.space.clone(),
            strategy: RESCORE_STRATEGY.into(),
            seed: search.seed,
            config_json: search.config_json.clone(),
        })?,
    };
    store.own_experiment(experiment.id)?;
    store.set_experiment_status(experiment.id, "running")?;
    let result = run(store, &experiment, config, &sources, &mut progress);
    let _ = store.disown_experiment(experiment.id);
    result
}

fn run(
    store: &dyn TrialStore,
    experiment: &Experiment,
    config: &SearchConfig,
    sources: &[nas_store::TrialRow],
    progress: &mut impl FnMut(&RescoreEvent) -> Control,
) -> Result<Vec<Rescored>, SearchError> {
    let existing = store.trials(experiment.id)?;
    let mut stopped = false;
    let mut jobs = Vec::new();
    let mut next_seq = existing.iter().map(|t| t.seq + 1).max().unwrap_or(0);
    let entries = entries(config, sources)?;
    for e in &entries {
        // Matched by source (a baseline by its string), so a search resumed with more samples
        // re-scores only its new best.
        let found = existing.iter().find(|t| e.is(t));
        let (id, seq) = match found {
            Some(t) if t.status.is_final() => continue,
            Some(t) => {
                store.restart_trial(t.id)?;
                (t.id, t.seq)
            }
            None => {
                let seq = next_seq;
                next_seq += 1;
                (store.insert_trial(&NewTrial { experiment_id: experiment.id, seq, ..e.trial.clone() })?, seq)
            }
        };
        jobs.push(Job {
            trial_id: id,
            arch: e.arch.clone(),
            ctx: EvalContext { trial_id: id, seq, seed: config.seed },
        });
    }
    if !jobs.is_empty() {
        stopped = train(store, experiment, config, jobs, entries.len(), sources, progress)?;
    }
    let mut out: Vec<Rescored> = store
        .trials(experiment.id)?
        .iter()
        .filter(|t| t.status.is_final() && entries.iter().any(|e| e.is(t)))
        .map(|t| row(t, sources))
        .collect();
    out.sort_by(|a, b| {
        b.accuracy.unwrap_or(-1.0).total_cmp(&a.accuracy.unwrap_or(-1.0)).then(a.trial_id.cmp(&b.trial_id))
    });
    store.set_experiment_status(experiment.id, if stopped { "stopped" } else { "done" })?;
    Ok(out)
}

/// Train `jobs` (of `of` networks) with the re-scoring's settings on local workers, storing each
/// result; whether the observer stopped it.
fn train(
    store: &dyn TrialStore,
    experiment: &Experiment,
    config: &SearchConfig,
    jobs: Vec<Job>,
    of: usize,
    sources: &[nas_store::TrialRow],
    progress: &mut impl FnMut(&RescoreEvent) -> Control,
) -> Result<bool, SearchError> {
    // Children train from scratch here, whatever evaluator the search rewarded them with.
    let derived =
        SearchConfig { train: rescore_train_config(config), evaluator: EvaluatorSpec::Train, ..config.clone() };
    let (workers, threads) = derived.parallelism();
    let mut evaluators =
        crate::evaluators::build_evaluators(&derived, &derived.search_space(), workers.min(jobs.len()))?;
    for ev in &mut evaluators {
        ev.attach(&experiment_tag(experiment));
    }
    let started = RescoreEvent::Started { to_train: jobs.len(), of, description: evaluators[0].describe() };
    if progress(&started) == Control::Stop {
        return Ok(true);
    }
    let queue = JobQueue::default();
    std::thread::scope(|scope| {
        let mut pool = Pool::spawn(scope, &queue, &mut evaluators, threads);
        pool.submit(jobs)?;
        let mut stopped = false;
        while let Some((id, outcome)) = pool.next()? {
            let Outcome::Evaluated(result, secs) = outcome else { unreachable!("local workers train here") };
            let (stored, _) = judge(&derived, result, secs).map_err(SearchError::Evaluator)?;
            store.finish_trial(id, &stored)?;
            if let Some(t) = store.trial(id)?
                && progress(&RescoreEvent::Finished(row(&t, sources))) == Control::Stop
            {
                // Children in training finish; the rest are trained on resume.
                stopped = true;
                pool.halt();
            }
        }
        Ok(stopped)
    })
}

/// One network to re-score: the trial to insert (experiment and seq filled in later) and its
/// architecture.
struct Entry {
    trial: NewTrial,
    arch: Architecture,
}

impl Entry {
    /// Whether `t` is this network's re-scoring trial (a child by its source, a baseline by its
    /// string).
    fn is(&self, t: &nas_store::TrialRow) -> bool {
        t.parent_id == self.trial.parent_id && t.arch == self.trial.arch
    }
}

/// The search's best children, then the baselines.
fn entries(config: &SearchConfig, sources: &[nas_store::TrialRow]) -> Result<Vec<Entry>, SearchError> {
    let mut out = Vec::with_capacity(sources.len() + config.rescore.baselines.len());
    for src in sources {
        let arch = Architecture::from_json(&src.arch_json)
            .map_err(|e| SearchError::Resume(format!("trial {}'s architecture: {e}", src.id)))?;
        // The network the search scored is re-scored (and is what `nas train --trial` retrains).
        let arch = as_scored(arch, &src.metrics()).0;
        let trial = NewTrial {
            experiment_id: 0,
            seq: 0,
            arch: arch.to_string(),
            arch_json: arch.to_json(),
            tokens_json: src.tokens_json.clone(),
            log_prob: src.log_prob,
            entropy: src.entropy,
            policy_version: src.policy_version,
            depth: src.depth,
            parent_id: Some(src.id),
            repeat_of: None,
        };
        out.push(Entry { trial, arch });
    }
    for cnn in config.rescore.baseline_archs().map_err(crate::ConfigError::Invalid)? {
        let depth = cnn.depth() as u32;
        let arch = Architecture::Cnn(cnn);
        let trial = NewTrial {
            experiment_id: 0,
            seq: 0,
            arch: arch.to_string(),
            arch_json: arch.to_json(),
            tokens_json: "[]".into(),
            log_prob: 0.0,
            entropy: 0.0,
            policy_version: 0,
            depth,
            parent_id: None,
            repeat_of: None,
        };
        out.push(Entry { trial, arch });
    }
    Ok(out)
}

/// A trial's architecture as its search scored it, and the width that took: under `[oneshot]
/// reward_flops` a one-shot search rewards each child at its equal-cost width (metric
/// `reward_width`), so that network — not the drawn one — is what a re-scoring or a retrain of
/// the trial must train. Other trials come back unchanged, at width 1.
pub fn as_scored(arch: Architecture, metrics: &Value) -> (Architecture, f64) {
    match (arch, metrics.get("reward_width").and_then(Value::as_f64)) {
        (Architecture::Cnn(cnn), Some(w)) if w != 1.0 => (Architecture::Cnn(cnn.widened(w)), w),
        (arch, _) => (arch, 1.0),
    }
}

fn row(t: &nas_store::TrialRow, sources: &[nas_store::TrialRow]) -> Rescored {
    let src = sources.iter().find(|s| Some(s.id) == t.parent_id);
    Rescored {
        trial_id: t.id,
        source_trial: t.parent_id,
        arch: t.arch.clone(),
        search_accuracy: src.and_then(|s| accuracy(&s.metrics())),
        accuracy: accuracy(&t.metrics()),
        reward: t.reward.unwrap_or(0.0),
        failure: t.failure.clone(),
    }
}
