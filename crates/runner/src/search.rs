//! [`Search`]: one experiment's loop of sample → evaluate → update, persisted as it goes.
//!
//! Crash safety and exact resume: trials are written when sampled and again when evaluated; the
//! strategy's full state is written after each update, in the same transaction as the update's
//! record. On resume the strategy is restored from that checkpoint and redraws the interrupted
//! batch — the same draws, since its RNG position is part of the state — while trials already
//! evaluated in the store are reused rather than evaluated again.
//!
//! Parallel children: with `workers` > 1 the unevaluated trials of a batch are trained at once,
//! each worker with its own evaluator and its own pool of `threads_per_worker` CPU threads (burn's
//! CPU backend runs on the rayon pool it is called from). Results are written by this thread as
//! they arrive; the update still sees the batch in sample order, so a run's rewards and
//! architectures do not depend on the number of workers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use nas_controller::{Feedback, Sample, Strategy, StrategyError, StrategyState, UpdateStats};
use nas_evaluator::{EvalContext, EvalError, Evaluator};
use nas_space::{Action, Architecture, Decision, SearchSpace};
use nas_store::{
    Checkpoint, Experiment, NewExperiment, NewTrial, StoreError, TrialResult, TrialStatus, TrialStore, UpdateRow,
    WorkQueue,
};
use serde_json::Value;
use thiserror::Error;

use crate::{ConfigError, SearchConfig};

/// Why a search stopped with an error.
#[derive(Debug, Error)]
pub enum SearchError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    #[error("evaluator: {0}")]
    Evaluator(String),
    #[error("{0}")]
    Resume(String),
}

/// What the loop reports to its observer.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A trial has its result (freshly evaluated or reused from the store).
    Trial { trial_id: i64, seq: u64, arch: &'a Architecture, status: TrialStatus, reward: f64, reused: bool },
    /// The strategy was updated.
    Update(&'a UpdateStats),
}

/// The observer's answer: go on or stop after the current trial (state stays resumable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// The outcome of [`Search::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub experiment: String,
    pub samples: u64,
    /// True when every requested sample was drawn and the experiment is `done`.
    pub finished: bool,
    /// (trial id, reward, canonical architecture) of the best completed trial.
    pub best: Option<(i64, f64, String)>,
}

/// A search bound to a store, an evaluator and an experiment.
pub struct Search<'s> {
    store: &'s dyn TrialStore,
    /// One per worker (a single one for instant evaluators).
    evaluators: Vec<Box<dyn Evaluator>>,
    /// CPU threads per worker when there are several.
    threads: usize,
    strategy: Box<dyn Strategy>,
    space: SearchSpace,
    config: SearchConfig,
    experiment: Experiment,
    /// Samples whose update has been committed; the next batch starts at this `seq`.
    done: u64,
    best: Option<(i64, f64, String)>,
    /// When set, children are trained by remote workers (`nas worker`) claiming from this queue.
    remote: Option<Remote<'s>>,
}

/// The queue remote workers claim from, and how often a trial may be claimed.
#[derive(Clone, Copy)]
struct Remote<'s> {
    queue: &'s dyn WorkQueue,
    max_attempts: u32,
}

struct Pending {
    seq: u64,
    decisions: Vec<Decision>,
    sample: Sample,
    arch: Architecture,
    trial_id: i64,
    /// Status and reward once evaluated (or found evaluated in the store).
    outcome: Option<(TrialStatus, f64)>,
}

fn encode_state(s: &StrategyState) -> Vec<u8> {
    postcard::to_stdvec(s).expect("strategy states always serialise")
}

impl<'s> Search<'s> {
    /// Start a new experiment named `name` (or `search-N`).
    pub fn start(
        store: &'s dyn TrialStore,
        mut config: SearchConfig,
        name: Option<String>,
    ) -> Result<Self, SearchError> {
        config.validate()?;
        config.absolutize();
        let space = config.search_space();
        let (workers, threads) = config.parallelism();
        let evaluators = crate::evaluators::build_evaluators(&config, &space, workers)?;
        let strategy = config.strategy.build(&config.controller, &space.token_types(), config.seed)?;
        let name = match name {
            Some(n) => n,
            None => format!("search-{}", store.experiments()?.len() + 1),
        };
        let experiment = store.create_experiment(&NewExperiment {
            name,
            space: space.name().into(),
            strategy: format!("{:?}", config.strategy).to_lowercase(),
            seed: config.seed,
            config_json: serde_json::to_string(&config).expect("configs serialise"),
        })?;
        Ok(Search {
            store,
            evaluators,
            threads,
            strategy,
            space,
            config,
            experiment,
            done: 0,
            best: None,
            remote: None,
        })
    }

    /// Continue the experiment `name` (or the latest one) from its last checkpoint. `samples`
    /// raises the number of samples to draw in total.
    pub fn resume(store: &'s dyn TrialStore, name: Option<&str>, samples: Option<u64>) -> Result<Self, SearchError> {
        let experiment = match name {
            Some(n) => store
                .experiment_by_name(n)?
                .ok_or_else(|| SearchError::Resume(format!("no experiment named {n:?} in this store")))?,
            None => store
                .experiments()?
                .pop()
                .ok_or_else(|| SearchError::Resume("nothing to resume: the store has no experiment".into()))?,
        };
        let mut config: SearchConfig = serde_json::from_str(&experiment.config_json).map_err(|e| {
            SearchError::Resume(format!("experiment {:?} has an unreadable stored config: {e}", experiment.name))
        })?;
        if let Some(n) = samples {
            config.samples = n;
        }
        config.validate()?;
        let space = config.search_space();
        let (workers, threads) = config.parallelism();
        let mut evaluators = crate::evaluators::build_evaluators(&config, &space, workers)?;
        for t in store.trials(experiment.id)? {
            if let (TrialStatus::Completed, Value::Object(m)) = (t.status, t.metrics()) {
                // Shared memory (median stopping) is reached through the first evaluator.
                evaluators[0].observe_completed(&m);
            }
        }
        let (strategy, done) = match store.checkpoint(experiment.id)? {
            Some(c) => {
                let state: StrategyState = postcard::from_bytes(&c.state).map_err(|e| {
                    SearchError::Resume(format!("checkpoint of {:?} is unreadable: {e}", experiment.name))
                })?;
                (state.restore(&space.token_types())?, c.samples)
            }
            None => (config.strategy.build(&config.controller, &space.token_types(), config.seed)?, 0),
        };
        let best = store.top(Some(experiment.id), 1)?.pop().map(|t| (t.id, t.reward.unwrap_or(0.0), t.arch));
        store.set_experiment_status(experiment.id, "running")?;
        Ok(Search { store, evaluators, threads, strategy, space, config, experiment, done, best, remote: None })
    }

    /// Leave training to remote workers (`nas worker`, [`crate::run_worker`]) that claim the
    /// trials of each batch from `queue` (the same database as the store); a trial whose lease
    /// expires `max_attempts` times is failed with the reason. The controller still updates once
    /// per batch, when every child of the batch has its result.
    pub fn use_remote_workers(&mut self, queue: &'s dyn WorkQueue, max_attempts: u32) {
        self.remote = Some(Remote { queue, max_attempts: max_attempts.max(1) });
    }

    /// Use another evaluator (a library user's own, or a test double) for the rest of the run.
    pub fn set_evaluator(&mut self, evaluator: Box<dyn Evaluator>) {
        self.evaluators = vec![evaluator];
    }

    /// The experiment being run.
    pub fn experiment(&self) -> &Experiment {
        &self.experiment
    }

    /// The resolved configuration.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// Samples already drawn and learnt from.
    pub fn samples_done(&self) -> u64 {
        self.done
    }

    /// The evaluator's one-line description.
    pub fn evaluator_description(&self) -> String {
        let one = self.evaluators[0].describe();
        match self.evaluators.len() {
            1 => one,
            n => format!("{one}; {n} children at once, {} thread(s) each", self.threads),
        }
    }

    /// The current reward baseline.
    pub fn baseline(&self) -> Option<f64> {
        self.strategy.baseline()
    }

    /// The best completed trial so far: (trial id, reward, architecture).
    pub fn best(&self) -> Option<&(i64, f64, String)> {
        self.best.as_ref()
    }

    /// Run until `config.samples` samples are drawn or the observer says stop.
    pub fn run(&mut self, mut observe: impl FnMut(&Event) -> Control) -> Result<Summary, SearchError> {
        let target = self.config.samples;
        while self.done < target {
            let m = (self.config.batch as u64).min(target - self.done);
            let mut batch = Vec::with_capacity(m as usize);
            for k in 0..m {
                batch.push(self.draw(self.done + k)?);
            }
            let mut stop = false;
            for p in batch.iter().filter(|p| p.outcome.is_some()) {
                stop = stop || self.report(&mut observe, p, true)? == Control::Stop;
            }
            if !stop {
                let todo: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].outcome.is_none()).collect();
                stop = self.evaluate_all(&mut batch, &todo, &mut observe)? == Control::Stop;
            }
            if stop {
                self.store.set_experiment_status(self.experiment.id, "stopped")?;
                return Ok(self.summary(false));
            }
            let feedback: Vec<Feedback> = batch
                .iter()
                .map(|p| Feedback {
                    decisions: &p.decisions,
                    actions: &p.sample.actions,
                    reward: p.outcome.map_or(0.0, |o| o.1),
                })
                .collect();
            let stats = self.strategy.update(&feedback)?;
            self.done += m;
            self.store.commit_update(
                &Checkpoint {
                    experiment_id: self.experiment.id,
                    samples: self.done,
                    policy_version: self.strategy.policy_version(),
                    baseline: self.strategy.baseline(),
                    state: encode_state(&self.strategy.state()),
                },
                &UpdateRow {
                    experiment_id: self.experiment.id,
                    policy_version: stats.policy_version,
                    samples: self.done,
                    baseline: self.strategy.baseline(),
                    mean_reward: stats.mean_reward,
                    loss: stats.loss,
                    grad_norm: stats.grad_norm,
                    mean_entropy: stats.mean_entropy,
                },
            )?;
            if observe(&Event::Update(&stats)) == Control::Stop && self.done < target {
                self.store.set_experiment_status(self.experiment.id, "stopped")?;
                return Ok(self.summary(false));
            }
        }
        self.store.set_experiment_status(self.experiment.id, "done")?;
        Ok(self.summary(true))
    }

    fn summary(&self, finished: bool) -> Summary {
        Summary { experiment: self.experiment.name.clone(), samples: self.done, finished, best: self.best.clone() }
    }

    fn report(
        &mut self,
        observe: &mut impl FnMut(&Event) -> Control,
        p: &Pending,
        reused: bool,
    ) -> Result<Control, SearchError> {
        let (status, reward) = p.outcome.expect("reported trials are evaluated");
        if status == TrialStatus::Completed && self.best.as_ref().is_none_or(|b| reward > b.1) {
            self.best = Some((p.trial_id, reward, p.arch.to_string()));
        }
        let trial = Event::Trial { trial_id: p.trial_id, seq: p.seq, arch: &p.arch, status, reward, reused };
        Ok(observe(&trial))
    }

    /// Draw the sample with index `seq`, matching it against what the store already has.
    fn draw(&mut self, seq: u64) -> Result<Pending, SearchError> {
        // Spaces without a depth (cells) record 0: the schedule does not apply to them.
        let depth = if self.space.has_depth() { self.config.depth.depth_at(seq) } else { 0 };
        let decisions = self.space.decisions(depth);
        let sample = self.strategy.sample(&decisions)?;
        let arch = self
            .space
            .decode(&sample.actions)
            .map_err(|e| SearchError::Strategy(StrategyError::Mismatch(e.to_string())))?;
        let canonical = arch.to_string();
        let (trial_id, outcome) = match self.store.trial_at(self.experiment.id, seq)? {
            Some(t) if t.arch != canonical => {
                return Err(SearchError::Resume(format!(
                    "the store holds {} at sample {seq} of {:?} but this run drew {canonical}: the experiment was \
                     written by a different version or configuration",
                    t.arch, self.experiment.name
                )));
            }
            Some(t) if t.status.is_final() => (t.id, Some((t.status, t.reward.unwrap_or(0.0)))),
            Some(t) => {
                self.store.restart_trial(t.id)?;
                (t.id, None)
            }
            None => {
                let id = self.store.insert_trial(&NewTrial {
                    experiment_id: self.experiment.id,
                    seq,
                    arch: canonical,
                    arch_json: serde_json::to_string(&arch).expect("architectures serialise"),
                    tokens_json: serde_json::to_string(&Action::to_ints(&sample.actions)).expect("ints serialise"),
                    log_prob: sample.log_prob,
                    entropy: sample.entropy,
                    policy_version: sample.policy_version,
                    depth: depth as u32,
                })?;
                (id, None)
            }
        };
        Ok(Pending { seq, decisions, sample, arch, trial_id, outcome })
    }

    fn context(&self, p: &Pending) -> EvalContext {
        EvalContext { trial_id: p.trial_id, seq: p.seq, seed: self.config.seed }
    }

    /// Evaluate the trials `todo` of `batch`, reporting each as it finishes. One worker: in
    /// order, on this thread. Several: in parallel (see the module documentation).
    fn evaluate_all(
        &mut self,
        batch: &mut [Pending],
        todo: &[usize],
        observe: &mut impl FnMut(&Event) -> Control,
    ) -> Result<Control, SearchError> {
        if let Some(remote) = self.remote {
            return self.evaluate_remotely(remote, batch, todo, observe);
        }
        if self.evaluators.len() == 1 || todo.len() <= 1 {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(self.threads).build().ok();
            for &i in todo {
                let ctx = self.context(&batch[i]);
                let started = Instant::now();
                let evaluator = &mut self.evaluators[0];
                let out = match &pool {
                    Some(pool) => pool.install(|| evaluator.evaluate(&batch[i].arch, &ctx)),
                    None => evaluator.evaluate(&batch[i].arch, &ctx),
                };
                batch[i].outcome = Some(self.record(&batch[i], out, started.elapsed().as_secs_f64())?);
                if self.report(observe, &batch[i], false)? == Control::Stop {
                    return Ok(Control::Stop);
                }
            }
            return Ok(Control::Continue);
        }
        let jobs: Vec<(usize, Architecture, EvalContext)> =
            todo.iter().map(|&i| (i, batch[i].arch.clone(), self.context(&batch[i]))).collect();
        let mut evaluators = std::mem::take(&mut self.evaluators);
        let threads = self.threads;
        let (next, halt) = (AtomicUsize::new(0), AtomicBool::new(false));
        let outcome = std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel();
            for ev in evaluators.iter_mut() {
                let (tx, jobs, next, halt) = (tx.clone(), &jobs, &next, &halt);
                s.spawn(move || {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok();
                    while !halt.load(Ordering::SeqCst) {
                        let Some((i, arch, ctx)) = jobs.get(next.fetch_add(1, Ordering::SeqCst)) else { break };
                        let started = Instant::now();
                        let out = match &pool {
                            Some(pool) => pool.install(|| ev.evaluate(arch, ctx)),
                            None => ev.evaluate(arch, ctx),
                        };
                        if tx.send((*i, out, started.elapsed().as_secs_f64())).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            // Every result that arrives is recorded, even after a stop or an error, so nothing
            // trained is lost; workers just take no new trial.
            let (mut control, mut error) = (Control::Continue, None);
            for (i, out, secs) in rx {
                let reported = self.record(&batch[i], out, secs).and_then(|o| {
                    batch[i].outcome = Some(o);
                    self.report(observe, &batch[i], false)
                });
                match reported {
                    Ok(Control::Stop) => control = Control::Stop,
                    Ok(Control::Continue) => {}
                    Err(e) => error = error.or(Some(e)),
                }
                if control == Control::Stop || error.is_some() {
                    halt.store(true, Ordering::SeqCst);
                }
            }
            match error {
                Some(e) => Err(e),
                None => Ok(control),
            }
        });
        self.evaluators = evaluators;
        outcome
    }

    /// Queue the trials `todo` for remote workers and report each as its result lands in the
    /// store (polling the store; workers themselves wait on LISTEN/NOTIFY).
    fn evaluate_remotely(
        &mut self,
        remote: Remote<'s>,
        batch: &mut [Pending],
        todo: &[usize],
        observe: &mut impl FnMut(&Event) -> Control,
    ) -> Result<Control, SearchError> {
        let ids: Vec<i64> = todo.iter().map(|&i| batch[i].trial_id).collect();
        remote.queue.enqueue(self.experiment.id, &ids, remote.max_attempts)?;
        let mut waiting: Vec<usize> = todo.to_vec();
        let mut control = Control::Continue;
        while !waiting.is_empty() {
            remote.queue.fail_exhausted()?;
            let mut still = Vec::with_capacity(waiting.len());
            for i in waiting {
                match self.store.trial(batch[i].trial_id)? {
                    Some(t) if t.status.is_final() => {
                        batch[i].outcome = Some((t.status, t.reward.unwrap_or(0.0)));
                        if self.report(observe, &batch[i], false)? == Control::Stop {
                            control = Control::Stop;
                        }
                    }
                    Some(t) if t.status == TrialStatus::Aborted => {
                        self.store.set_experiment_status(self.experiment.id, "failed")?;
                        return Err(SearchError::Evaluator(t.failure.unwrap_or_default()));
                    }
                    _ => still.push(i),
                }
            }
            waiting = still;
            if control == Control::Stop {
                // Trials in flight stay queued; a resumed coordinator waits for them again.
                return Ok(Control::Stop);
            }
            if !waiting.is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        Ok(control)
    }

    /// Record an evaluation's result; a failed child earns reward 0, a fatal error aborts the
    /// trial and fails the experiment.
    fn record(
        &self,
        p: &Pending,
        outcome: Result<nas_evaluator::Evaluation, EvalError>,
        secs: f64,
    ) -> Result<(TrialStatus, f64), SearchError> {
        match judge(&self.config, outcome, secs) {
            Ok((result, reward)) => {
                self.store.finish_trial(p.trial_id, &result)?;
                Ok((result.status, reward))
            }
            Err(msg) => {
                self.store.finish_trial(
                    p.trial_id,
                    &TrialResult {
                        status: TrialStatus::Aborted,
                        reward: None,
                        metrics_json: None,
                        failure: Some(msg.clone()),
                        eval_seconds: secs,
                    },
                )?;
                self.store.set_experiment_status(self.experiment.id, "failed")?;
                Err(SearchError::Evaluator(msg))
            }
        }
    }
}

/// What to store for an evaluation: the trial's result and its reward (a failed child earns 0;
/// a hardware-aware penalty scales the reward, the raw one stays in the metrics), or the message
/// of a fatal error. Shared by the local loop and remote workers.
pub(crate) fn judge(
    config: &SearchConfig,
    outcome: Result<nas_evaluator::Evaluation, EvalError>,
    secs: f64,
) -> Result<(TrialResult, f64), String> {
    Ok(match outcome {
        Ok(mut ev) if ev.reward.is_finite() => {
            let reward = match &config.penalty {
                Some(penalty) => penalty.apply(ev.reward, &mut ev.metrics)?,
                None => ev.reward,
            };
            (
                TrialResult {
                    status: TrialStatus::Completed,
                    reward: Some(reward),
                    metrics_json: Some(Value::Object(ev.metrics).to_string()),
                    failure: None,
                    eval_seconds: secs,
                },
                reward,
            )
        }
        Ok(ev) => (failed(format!("the evaluator returned a non-finite reward ({})", ev.reward), secs), 0.0),
        Err(EvalError::Failed(reason)) => (failed(reason, secs), 0.0),
        Err(EvalError::Fatal(msg)) => return Err(msg),
    })
}

fn failed(reason: String, secs: f64) -> TrialResult {
    TrialResult {
        status: TrialStatus::Failed,
        reward: Some(0.0),
        metrics_json: None,
        failure: Some(reason),
        eval_seconds: secs,
    }
}
