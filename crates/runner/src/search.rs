//! [`Search`]: one experiment's loop of sample → evaluate → update, persisted as it goes.
//!
//! Controller replicas (the paper's K, `replicas`): each idle replica draws a batch of m
//! children from the current policy; the children train (on this thread, on W local worker
//! threads, or on remote `nas worker`s); when a replica's batch has all its rewards, its
//! gradient — against the policy version it sampled with — goes to the parameter server, which
//! applies the mean of every `gradients_per_update` gradients (split over `shards`), and the
//! replica draws again. With one replica this is synchronous REINFORCE; with several, workers
//! never wait for a batch's slowest child, and each update records how stale its gradient was.
//!
//! Crash safety and exact resume: a checkpoint (strategy, the replicas' samples in flight with
//! the weights they were drawn with, gradients waiting) is committed after every change of the
//! controller, together with the records of the updates applied — and before the new children
//! are written as trials. A resumed run restores it, trains the children in flight that have no
//! result yet and reuses those that have one. With one worker (or an instant evaluator) a run is
//! reproducible bit for bit and a resumed run equals an uninterrupted one; with several workers
//! and several replicas, the order results arrive in decides which gradient is applied first.
//!
//! Each local worker has its own evaluator and its own pool of `threads_per_worker` CPU threads
//! (burn's CPU backend runs on the rayon pool it is called from).

use std::collections::HashMap;
use std::time::Instant;

use nas_evaluator::{EvalContext, EvalError, Evaluator, ExperimentTag};
use nas_space::{Action, Architecture, Decision, SearchSpace};
use nas_store::{
    Checkpoint, Experiment, NewExperiment, NewTrial, StoreError, TrialResult, TrialStatus, TrialStore, UpdateRow,
    WorkQueue,
};
use nas_strategy::{Feedback, Gradient, Menu, PolicySnapshot, Sample, Strategy, StrategyError, UpdateStats};
use serde_json::Value;
use thiserror::Error;

use crate::execute::{Executor, Inline, Job, JobQueue, Outcome, Pool, Remote};
use crate::saved::{SavedBatch, SavedSearch, Waiting};
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
    /// A trial has its result: freshly evaluated, found evaluated in the store (`reused`, a
    /// resumed run), or a repeat of an architecture evaluated earlier in the experiment
    /// (`repeat_of`, the trial whose result it takes; not trained, not counted as a sample).
    Trial {
        trial_id: i64,
        seq: u64,
        arch: &'a Architecture,
        status: TrialStatus,
        reward: f64,
        reused: bool,
        repeat_of: Option<i64>,
    },
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
    /// Samples as `samples` counts them: distinct architectures evaluated (every draw with
    /// `count_repeats`).
    pub samples: u64,
    /// Draws that repeated an architecture evaluated earlier (their result was reused).
    pub repeats: u64,
    /// True when every requested sample was drawn and the experiment is `done`.
    pub finished: bool,
    /// True when the search ended early because `repeat_limit` draws in a row were repeats.
    pub exhausted: bool,
    /// (trial id, reward, canonical architecture) of the best completed trial.
    pub best: Option<(i64, f64, String)>,
}

/// A search bound to a store, an evaluator and an experiment.
pub struct Search<'s> {
    store: &'s dyn TrialStore,
    /// One per worker (a single one for instant evaluators).
    evaluators: Vec<Box<dyn Evaluator>>,
    /// CPU threads per worker.
    threads: usize,
    /// Children trained at once on this machine (evaluators).
    workers: usize,
    strategy: Box<dyn Strategy>,
    space: SearchSpace,
    config: SearchConfig,
    experiment: Experiment,
    /// Samples whose gradient the controller has received.
    done: u64,
    /// Samples drawn; the next one has this `seq`.
    drawn: u64,
    /// Canonical string → seq of the first draw of every architecture drawn so far.
    seen: HashMap<String, u64>,
    /// Draws in a row, up to the latest, that repeated an earlier one.
    repeats_in_a_row: u64,
    /// Replicas with a batch in flight, in the order they drew.
    busy: Vec<Batch>,
    /// Gradients received, not applied yet.
    waiting: Vec<Waiting>,
    /// Records of updates applied since the last commit.
    pending_rows: Vec<UpdateRow>,
    best: Option<(i64, f64, String)>,
    /// Seconds this thread spent on the loop's own work (drawing, learning, store writes), not
    /// waiting for children.
    loop_seconds: f64,
    /// Failures in a row before any child of this run completed (see [`FailureStreak`]).
    streak: std::cell::RefCell<FailureStreak>,
    /// When set, children are trained by remote workers (`nas worker`) claiming from this queue.
    remote: Option<(&'s dyn WorkQueue, u32)>,
    /// A repeated draw takes the earlier result (the evaluator's rewards are stationary);
    /// false for one-shot rewards, which move as the shared weights train: every draw is
    /// evaluated and counted.
    reuse_repeats: bool,
}

/// What a configuration builds: the space, one evaluator per worker and a fresh strategy.
struct Parts {
    space: SearchSpace,
    evaluators: Vec<Box<dyn Evaluator>>,
    threads: usize,
    strategy: Box<dyn Strategy>,
}

impl Parts {
    fn build(config: &SearchConfig) -> Result<Self, SearchError> {
        let space = config.search_space();
        let (workers, threads) = config.parallelism();
        let evaluators = crate::evaluators::build_evaluators(config, &space, workers)?;
        let strategy = config.strategy.build(&config.strategy_settings(), &space.token_types(), config.seed)?;
        Ok(Parts { space, evaluators, threads, strategy })
    }
}

/// One replica's batch in flight.
struct Batch {
    replica: u32,
    snapshot: PolicySnapshot,
    items: Vec<Pending>,
    /// Trials written to the store (after the checkpoint naming them).
    admitted: bool,
}

struct Pending {
    seq: u64,
    /// Layers (0 for spaces without a depth schedule).
    depth: usize,
    decisions: Vec<Decision>,
    sample: Sample,
    arch: Architecture,
    /// Set once the trial is in the store.
    trial_id: i64,
    /// Status and reward once evaluated (or found evaluated in the store).
    outcome: Option<(TrialStatus, f64)>,
    /// Seq of the earlier draw of the same architecture, when this one repeats it.
    repeat_of: Option<u64>,
    /// The trial of that earlier draw (set when admitted); a repeat without an outcome waits
    /// for it to finish.
    original: Option<i64>,
    /// Evaluated by this run (not found evaluated in the store).
    trained_here: bool,
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
        // The evaluators are built first: a dataset that cannot load creates no experiment.
        let parts = Parts::build(&config)?;
        let name = match name {
            Some(n) => n,
            None => format!("search-{}", store.experiments()?.len() + 1),
        };
        let experiment = store.create_experiment(&NewExperiment {
            name,
            space: parts.space.name().into(),
            strategy: config.strategy.name().into(),
            seed: config.seed,
            config_json: serde_json::to_string(&config).expect("configs serialise"),
        })?;
        store.own_experiment(experiment.id)?;
        Ok(Search::assemble(store, config, experiment, parts))
    }

    /// A search of `experiment` at its beginning (`resume` then restores its checkpoint).
    fn assemble(store: &'s dyn TrialStore, config: SearchConfig, experiment: Experiment, mut parts: Parts) -> Self {
        for ev in &mut parts.evaluators {
            ev.attach(&experiment_tag(&experiment));
        }
        let reuse_repeats = parts.evaluators.iter().all(|e| e.stationary());
        Search {
            store,
            workers: parts.evaluators.len(),
            evaluators: parts.evaluators,
            threads: parts.threads,
            strategy: parts.strategy,
            space: parts.space,
            config,
            experiment,
            done: 0,
            drawn: 0,
            seen: HashMap::new(),
            repeats_in_a_row: 0,
            busy: Vec::new(),
            waiting: Vec::new(),
            pending_rows: Vec::new(),
            best: None,
            loop_seconds: 0.0,
            streak: Default::default(),
            remote: None,
            reuse_repeats,
        }
    }

    /// Continue the experiment `name` (or the latest one) from its last checkpoint. `samples`
    /// raises the number of samples to draw in total.
    pub fn resume(store: &'s dyn TrialStore, name: Option<&str>, samples: Option<u64>) -> Result<Self, SearchError> {
        let experiment = match name {
            Some(n) => store
                .experiment_by_name(n)?
                .ok_or_else(|| SearchError::Resume(format!("no experiment named {n:?} in this store")))?,
            None => crate::rescore::latest_search(store)?
                .ok_or_else(|| SearchError::Resume("nothing to resume: the store has no experiment".into()))?,
        };
        // Resuming a re-scoring continues its search (which then re-scores what is missing).
        let experiment = match crate::rescore::search_of(store, &experiment)? {
            Some(search) => search,
            None => experiment,
        };
        // Refused at once while another process runs it (SQLite; PostgreSQL leads by lock).
        store.own_experiment(experiment.id)?;
        let mut config: SearchConfig = serde_json::from_str(&experiment.config_json).map_err(|e| {
            SearchError::Resume(format!("experiment {:?} has an unreadable stored config: {e}", experiment.name))
        })?;
        if let Some(n) = samples {
            config.samples = n;
        }
        config.validate()?;
        let mut parts = Parts::build(&config)?;
        for t in store.trials(experiment.id)? {
            if let (TrialStatus::Completed, Value::Object(m)) = (t.status, t.metrics()) {
                // Shared memory (median stopping) is reached through the first evaluator.
                parts.evaluators[0].observe_completed(&m);
            }
        }
        let best = store.top(Some(experiment.id), 1)?.pop().map(|t| (t.id, t.reward.unwrap_or(0.0), t.arch));
        let mut search = Search::assemble(store, config, experiment, parts);
        search.best = best;
        search.replay_evaluations()?;
        if let Some(c) = store.checkpoint(search.experiment.id)? {
            let unreadable = |e: String| {
                SearchError::Resume(format!("checkpoint of {:?} is unreadable: {e}", search.experiment.name))
            };
            let saved = SavedSearch::decode(&c.state).map_err(unreadable)?;
            search.strategy = saved.strategy.restore(&search.space.token_types())?;
            let current = search.strategy.snapshot();
            for b in saved.busy {
                let snapshot = match b.params {
                    Some(p) => PolicySnapshot { version: b.version, params: Some(p) },
                    None if b.version == current.version => current.clone(),
                    None => return Err(unreadable(format!("the weights of policy version {} are missing", b.version))),
                };
                let items =
                    b.samples.into_iter().map(|(seq, sample)| search.pending(seq, sample)).collect::<Result<_, _>>()?;
                search.busy.push(Batch { replica: b.replica, snapshot, items, admitted: false });
            }
            search.done = c.samples;
            search.drawn = saved.drawn;
            search.waiting = saved.waiting;
        }
        search.replay_draws()?;
        store.set_experiment_status(search.experiment.id, "running")?;
        Ok(search)
    }

    /// Leave training to remote workers (`nas worker`, [`crate::run_worker`]) that claim the
    /// trials from `queue` (the same database as the store); a trial whose lease expires
    /// `max_attempts` times is failed with the reason.
    pub fn use_remote_workers(&mut self, queue: &'s dyn WorkQueue, max_attempts: u32) {
        self.remote = Some((queue, max_attempts.max(1)));
    }

    /// Report the progress of the evaluators' warm-up (a one-shot search's uniform training of
    /// its shared weights, before the first child) to `report`, step by step.
    pub fn watch_warm_up(&mut self, report: impl FnMut(nas_evaluator::WarmUpProgress) + Send + Clone + 'static) {
        for e in &mut self.evaluators {
            e.watch_warm_up(Box::new(report.clone()));
        }
    }

    /// Use another evaluator (a library user's own, or a test double) for the rest of the run.
    pub fn set_evaluator(&mut self, mut evaluator: Box<dyn Evaluator>) {
        evaluator.attach(&experiment_tag(&self.experiment));
        self.evaluators = vec![evaluator];
        self.workers = 1;
    }

    /// The experiment being run.
    pub fn experiment(&self) -> &Experiment {
        &self.experiment
    }

    /// The resolved configuration.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// Samples the controller has learnt from.
    pub fn samples_done(&self) -> u64 {
        self.done
    }

    /// Seconds the loop itself has worked in [`Search::run`] (drawing children, gradients and
    /// updates, store writes) rather than waited for children (or trained one, with a single
    /// worker on this thread).
    pub fn loop_seconds(&self) -> f64 {
        self.loop_seconds
    }

    /// Children of this experiment with a final result in the store, counted as `samples`
    /// counts them (repeats only with `count_repeats`).
    pub fn children_finished(&self) -> Result<u64, SearchError> {
        let counts =
            |t: &&nas_store::TrialRow| t.status.is_final() && (self.config.count_repeats || t.repeat_of.is_none());
        Ok(self.store.trials(self.experiment.id)?.iter().filter(counts).count() as u64)
    }

    /// The evaluator's one-line description.
    pub fn evaluator_description(&self) -> String {
        let one = self.evaluators[0].describe();
        let workers = match self.evaluators.len() {
            1 => one,
            n => format!("{one}; {n} children at once, {} thread(s) each", self.threads),
        };
        match self.config.replicas {
            1 => workers,
            k => format!("{workers}; {k} controller replicas"),
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

    /// Run until `config.samples` samples are drawn and learnt from, or the observer says stop.
    pub fn run(&mut self, mut observe: impl FnMut(&Event) -> Control) -> Result<Summary, SearchError> {
        if let Some((queue, max_attempts)) = self.remote {
            let mut ex = Remote {
                store: self.store,
                queue,
                experiment_id: self.experiment.id,
                max_attempts,
                waiting: Vec::new(),
                halted: Default::default(),
            };
            return self.run_with(&mut ex, &mut observe);
        }
        let mut evaluators = std::mem::take(&mut self.evaluators);
        let threads = self.threads;
        let out = if evaluators.len() == 1 {
            let mut ex = Inline::new(evaluators[0].as_mut(), threads);
            self.run_with(&mut ex, &mut observe)
        } else {
            let queue = JobQueue::default();
            std::thread::scope(|s| {
                let mut ex = Pool::spawn(s, &queue, &mut evaluators, threads);
                self.run_with(&mut ex, &mut observe)
            })
        };
        self.evaluators = evaluators;
        out
    }

    fn run_with(
        &mut self,
        ex: &mut dyn Executor,
        observe: &mut impl FnMut(&Event) -> Control,
    ) -> Result<Summary, SearchError> {
        let mut since = Instant::now();
        loop {
            // Replicas whose batch has every reward send their gradient, oldest batch first.
            let mut applied = Vec::new();
            while let Some(pos) = self.busy.iter().position(|b| b.items.iter().all(|p| p.outcome.is_some())) {
                let batch = self.busy.remove(pos);
                applied.extend(self.learn(batch)?);
            }
            // Idle replicas draw.
            let mut fresh = Vec::new();
            while self.busy.len() < self.replicas_in_use() && self.wants_more() {
                if !self.draw_batch()? {
                    break;
                }
                fresh.push(self.busy.len() - 1);
            }
            if self.busy.is_empty() && !self.waiting.is_empty() {
                applied.extend(self.apply_waiting()?);
            }
            if !applied.is_empty() || !fresh.is_empty() {
                self.commit()?;
            }
            // Children named by the checkpoint become trials; those already evaluated (a resumed
            // run) are reported, the rest are trained.
            let mut stop = false;
            for i in 0..self.busy.len() {
                if self.busy[i].admitted {
                    continue;
                }
                let jobs = self.admit(i)?;
                for k in 0..self.busy[i].items.len() {
                    if self.busy[i].items[k].outcome.is_some() {
                        stop |= self.report(observe, i, k) == Control::Stop;
                    }
                }
                ex.submit(jobs)?;
            }
            for st in &applied {
                stop |= observe(&Event::Update(st)) == Control::Stop;
            }
            if self.busy.is_empty() {
                break;
            }
            if stop {
                return self.stop(ex, observe, None);
            }
            if self.busy.iter().any(|b| b.items.iter().all(|p| p.outcome.is_some())) {
                continue;
            }
            self.loop_seconds += since.elapsed().as_secs_f64();
            let next = ex.next()?;
            since = Instant::now();
            let Some((trial_id, outcome)) = next else {
                return Err(SearchError::Evaluator("the workers stopped before every child was trained".into()));
            };
            match self.finish(trial_id, outcome, observe) {
                Ok(Control::Continue) => {}
                Ok(Control::Stop) => return self.stop(ex, observe, None),
                Err(e) => return self.stop(ex, observe, Some(e)),
            }
        }
        self.store.set_experiment_status(self.experiment.id, "done")?;
        self.loop_seconds += since.elapsed().as_secs_f64();
        Ok(self.summary(true))
    }

    /// Stop taking new children; record those still training (nothing trained is lost), then
    /// end as stopped or with `error`.
    fn stop(
        &mut self,
        ex: &mut dyn Executor,
        observe: &mut impl FnMut(&Event) -> Control,
        mut error: Option<SearchError>,
    ) -> Result<Summary, SearchError> {
        ex.halt();
        while let Some((trial_id, outcome)) = ex.next()? {
            if let Err(e) = self.finish(trial_id, outcome, observe) {
                error = error.or(Some(e));
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        self.store.set_experiment_status(self.experiment.id, "stopped")?;
        Ok(self.summary(false))
    }

    /// Record one finished child and report it.
    fn finish(
        &mut self,
        trial_id: i64,
        outcome: Outcome,
        observe: &mut impl FnMut(&Event) -> Control,
    ) -> Result<Control, SearchError> {
        let (b, i) = self
            .busy
            .iter()
            .enumerate()
            .find_map(|(b, batch)| batch.items.iter().position(|p| p.trial_id == trial_id).map(|i| (b, i)))
            .ok_or_else(|| {
                SearchError::Resume(format!("a result arrived for trial {trial_id}, which is not in flight"))
            })?;
        let result = match outcome {
            // The process is stopping: the trial stays `running`, to be trained again on resume.
            Outcome::Evaluated(Err(EvalError::Interrupted), _) => return Ok(Control::Stop),
            Outcome::Evaluated(out, secs) => self.record(trial_id, out, secs)?,
            Outcome::Stored(status, reward) => (status, reward),
            Outcome::Aborted(reason) => {
                self.store.set_experiment_status(self.experiment.id, "failed")?;
                return Err(SearchError::Evaluator(reason));
            }
        };
        self.busy[b].items[i].outcome = Some(result);
        self.busy[b].items[i].trained_here = true;
        let mut control = self.report(observe, b, i);
        // Repeats in flight that wait for this trial take its result.
        let waiting: Vec<(usize, usize)> = self
            .busy
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| {
                batch
                    .items
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.outcome.is_none() && p.original == Some(trial_id))
                    .map(move |(i, _)| (b, i))
            })
            .collect();
        if !waiting.is_empty() {
            let original = self
                .store
                .trial(trial_id)?
                .ok_or_else(|| SearchError::Resume(format!("trial {trial_id} vanished from the store")))?;
            for (b, i) in waiting {
                let p = &self.busy[b].items[i];
                let outcome = self.copy_result(p.trial_id, &original)?;
                let p = &mut self.busy[b].items[i];
                p.outcome = Some(outcome);
                p.trained_here = true;
                if self.report(observe, b, i) == Control::Stop {
                    control = Control::Stop;
                }
            }
        }
        Ok(control)
    }

    /// A replica's batch has its rewards: its gradient goes to the server, which applies it (with
    /// others) once `gradients_per_update` have arrived.
    fn learn(&mut self, batch: Batch) -> Result<Vec<UpdateStats>, SearchError> {
        let feedback: Vec<Feedback> = batch
            .items
            .iter()
            .map(|p| Feedback {
                seq: p.seq,
                decisions: &p.decisions,
                actions: &p.sample.actions,
                reward: p.outcome.map_or(0.0, |o| o.1),
            })
            .collect();
        let gradient = self.strategy.gradient(&feedback, &batch.snapshot)?;
        self.done += batch.items.len() as u64;
        self.waiting.push(Waiting { replica: batch.replica, gradient, samples: self.done });
        if self.waiting.len() >= self.gradients_per_update() {
            return self.apply_waiting();
        }
        Ok(Vec::new())
    }

    fn apply_waiting(&mut self) -> Result<Vec<UpdateStats>, SearchError> {
        let waiting = std::mem::take(&mut self.waiting);
        let grads: Vec<Gradient> = waiting.iter().map(|w| w.gradient.clone()).collect();
        let stats = self.strategy.apply(&grads, self.config.shards)?;
        self.pending_rows.extend(waiting.iter().zip(&stats).map(|(w, st)| UpdateRow {
            experiment_id: self.experiment.id,
            policy_version: st.policy_version,
            samples: w.samples,
            baseline: Some(st.baseline).filter(|_| self.strategy.baseline().is_some()),
            mean_reward: st.mean_reward,
            loss: st.loss,
            grad_norm: st.grad_norm,
            mean_entropy: st.mean_entropy,
            replica: w.replica,
            sampled_version: st.sampled_version,
            staleness: st.staleness,
        }));
        Ok(stats)
    }

    /// Commit the search state with the records of the updates applied since the last commit.
    fn commit(&mut self) -> Result<(), SearchError> {
        let current = self.strategy.snapshot();
        let saved = SavedSearch {
            strategy: self.strategy.state(),
            drawn: self.drawn,
            busy: self
                .busy
                .iter()
                .map(|b| SavedBatch {
                    replica: b.replica,
                    version: b.snapshot.version,
                    params: if b.snapshot.version == current.version { None } else { b.snapshot.params.clone() },
                    samples: b.items.iter().map(|p| (p.seq, p.sample.clone())).collect(),
                })
                .collect(),
            waiting: self.waiting.clone(),
        };
        let rows = std::mem::take(&mut self.pending_rows);
        self.store.commit_update(
            &Checkpoint {
                experiment_id: self.experiment.id,
                samples: self.done,
                policy_version: self.strategy.policy_version(),
                baseline: self.strategy.baseline(),
                state: saved.encode(),
            },
            &rows,
        )?;
        Ok(())
    }

    fn summary(&self, finished: bool) -> Summary {
        Summary {
            experiment: self.experiment.name.clone(),
            samples: self.counted(),
            repeats: self.drawn - self.seen.len() as u64,
            finished,
            exhausted: self.exhausted(),
            best: self.best.clone(),
        }
    }

    /// Samples as `samples` counts them: distinct architectures drawn (every draw with
    /// `count_repeats`).
    fn counted(&self) -> u64 {
        if self.config.count_repeats || !self.reuse_repeats { self.drawn } else { self.seen.len() as u64 }
    }

    /// Whether `repeat_limit` draws in a row were repeats: the strategy finds nothing new.
    fn exhausted(&self) -> bool {
        self.repeats_in_a_row >= self.config.repeat_limit
    }

    /// Whether another sample should be drawn.
    fn wants_more(&self) -> bool {
        self.counted() < self.config.samples && !self.exhausted()
    }

    /// Children per batch: one for asynchronous strategies, which learn from each as it arrives.
    fn batch_size(&self) -> usize {
        if self.strategy.asynchronous() { 1 } else { self.config.batch }
    }

    /// Batches in flight at once: the controller replicas, or for asynchronous strategies the
    /// children in flight (`in_flight`: one per local worker by default).
    fn replicas_in_use(&self) -> usize {
        if !self.strategy.asynchronous() {
            return self.config.replicas;
        }
        match (self.config.in_flight, self.remote.is_some()) {
            (0, true) => self.config.replicas * self.config.batch,
            (0, false) => self.workers,
            (n, _) => n,
        }
    }

    /// Gradients collected before one update (1 for asynchronous strategies).
    fn gradients_per_update(&self) -> usize {
        if self.strategy.asynchronous() { 1 } else { self.config.gradients_per_update }
    }

    /// Note a draw of `canonical` at `seq`: the seq of its earlier draw when it is a repeat.
    fn note_draw(&mut self, seq: u64, canonical: String) -> Option<u64> {
        if !self.reuse_repeats {
            self.seen.entry(canonical).or_insert(seq);
            return None;
        }
        match self.seen.get(&canonical) {
            Some(&first) if first < seq => {
                self.repeats_in_a_row += 1;
                Some(first)
            }
            _ => {
                self.seen.insert(canonical, seq);
                self.repeats_in_a_row = 0;
                None
            }
        }
    }

    /// On resume: walk every draw so far in order (stored trials and the batches in flight) to
    /// rebuild which architectures were seen, and which children in flight are repeats.
    fn replay_draws(&mut self) -> Result<(), SearchError> {
        let mut draws: Vec<(u64, String)> =
            self.store.trials(self.experiment.id)?.into_iter().map(|t| (t.seq, t.arch)).collect();
        for b in &self.busy {
            draws.extend(b.items.iter().map(|p| (p.seq, p.arch.to_string())));
        }
        draws.sort_by_key(|d| d.0);
        draws.dedup_by_key(|d| d.0);
        let mut repeat_of = HashMap::new();
        for (seq, canonical) in draws {
            if let Some(first) = self.note_draw(seq, canonical) {
                repeat_of.insert(seq, first);
            }
        }
        for p in self.busy.iter_mut().flat_map(|b| b.items.iter_mut()) {
            p.repeat_of = repeat_of.get(&p.seq).copied();
        }
        Ok(())
    }

    /// On resume: hand the evaluator every completed trial in the order evaluated, for one whose
    /// state follows the sequence of evaluations to catch up (see [`Evaluator::replay`]).
    fn replay_evaluations(&mut self) -> Result<(), SearchError> {
        if self.reuse_repeats {
            return Ok(());
        }
        let mut trials = self.store.trials(self.experiment.id)?;
        trials.retain(|t| t.status == TrialStatus::Completed);
        trials.sort_by_key(|t| t.seq);
        for t in trials {
            let arch = self.space.parse(&t.arch).map_err(|e| SearchError::Resume(format!("trial {}: {e}", t.id)))?;
            let ctx = EvalContext { trial_id: t.id, seq: t.seq, seed: self.config.seed };
            self.evaluators[0].replay(&arch, &ctx).map_err(|e| SearchError::Evaluator(e.to_string()))?;
        }
        Ok(())
    }

    /// After the search: the `candidates` best distinct completed children by reward, scored
    /// again by the evaluator with all it has learnt ([`Evaluator::derive`]), best first, as
    /// (trial, new score). None when the evaluator has nothing to add (it trains each child
    /// on its own).
    pub fn derive(&mut self, candidates: usize) -> Result<Option<Vec<(nas_store::TrialRow, f64)>>, SearchError> {
        let mut rows = self.store.trials(self.experiment.id)?;
        rows.retain(|t| t.status == TrialStatus::Completed);
        rows.sort_by(|a, b| b.reward.unwrap_or(0.0).total_cmp(&a.reward.unwrap_or(0.0)).then(a.seq.cmp(&b.seq)));
        let mut seen = std::collections::HashSet::new();
        rows.retain(|t| seen.insert(t.arch.clone()));
        rows.truncate(candidates);
        let archs = rows
            .iter()
            .map(|t| self.space.parse(&t.arch).map_err(|e| SearchError::Resume(format!("trial {}: {e}", t.id))))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(scores) = self.evaluators[0].derive(&archs) else { return Ok(None) };
        let scores = scores.map_err(|e| SearchError::Evaluator(e.to_string()))?;
        let mut scored: Vec<(nas_store::TrialRow, f64)> = rows.into_iter().zip(scores).collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.seq.cmp(&b.0.seq)));
        Ok(Some(scored))
    }

    /// Report child `i` of busy batch `b`, which has its result: `reused` unless it was trained in
    /// this run (found evaluated in the store when admitted).
    fn report(&mut self, observe: &mut impl FnMut(&Event) -> Control, b: usize, i: usize) -> Control {
        let p = &self.busy[b].items[i];
        let (status, reward) = p.outcome.expect("reported trials are evaluated");
        if status == TrialStatus::Completed && self.best.as_ref().is_none_or(|x| reward > x.1) {
            self.best = Some((p.trial_id, reward, p.arch.to_string()));
        }
        let reused = !p.trained_here;
        let repeat_of = p.original;
        observe(&Event::Trial { trial_id: p.trial_id, seq: p.seq, arch: &p.arch, status, reward, reused, repeat_of })
    }

    /// The decisions and architecture of the sample with index `seq`.
    fn pending(&self, seq: u64, sample: Sample) -> Result<Pending, SearchError> {
        // Spaces without a depth (cells) record 0: the schedule does not apply to them.
        // Strategies that change depth (evolution) choose it: read it off the actions.
        let depth = self.space.depth_of(&sample.actions);
        let decisions = self.space.decisions(depth);
        let arch = self
            .space
            .decode(&sample.actions)
            .map_err(|e| SearchError::Strategy(StrategyError::Mismatch(e.to_string())))?;
        Ok(Pending {
            seq,
            depth,
            decisions,
            sample,
            arch,
            trial_id: 0,
            outcome: None,
            repeat_of: None,
            original: None,
            trained_here: false,
        })
    }

    /// The lowest-numbered idle replica draws the next batch from the current policy, stopping
    /// early once enough samples are drawn. False when nothing was drawn.
    fn draw_batch(&mut self) -> Result<bool, SearchError> {
        let replica = (0..).find(|r| self.busy.iter().all(|b| b.replica != *r)).expect("a free replica number");
        let snapshot = self.strategy.snapshot();
        let mut items = Vec::with_capacity(self.batch_size());
        while items.len() < self.batch_size() && self.wants_more() {
            let seq = self.drawn;
            let sample = self.strategy.sample(&menu(&self.space, &self.config, seq))?;
            let mut p = self.pending(seq, sample)?;
            p.repeat_of = self.note_draw(seq, p.arch.to_string());
            items.push(p);
            self.drawn += 1;
        }
        if items.is_empty() {
            return Ok(false);
        }
        self.busy.push(Batch { replica, snapshot, items, admitted: false });
        Ok(true)
    }

    /// Write the children of busy batch `b` as trials (matching what the store already has) and
    /// return the jobs of those without a result. A repeat of an architecture evaluated earlier
    /// is no job: it takes the earlier trial's result, now or when that one finishes.
    fn admit(&mut self, b: usize) -> Result<Vec<Job>, SearchError> {
        let mut jobs = Vec::new();
        let (exp, name, seed) = (self.experiment.id, self.experiment.name.clone(), self.config.seed);
        for k in 0..self.busy[b].items.len() {
            let p = &self.busy[b].items[k];
            let canonical = p.arch.to_string();
            let original = match p.repeat_of {
                Some(first) => Some(self.store.trial_at(exp, first)?.ok_or_else(|| {
                    SearchError::Resume(format!("sample {} repeats sample {first}, which is not in the store", p.seq))
                })?),
                None => None,
            };
            let parent_id = match p.sample.parent {
                Some(seq) => self.store.trial_at(exp, seq)?.map(|t| t.id),
                None => None,
            };
            let p = &mut self.busy[b].items[k];
            match self.store.trial_at(exp, p.seq)? {
                Some(t) if t.arch != canonical => {
                    return Err(SearchError::Resume(format!(
                        "the store holds {} at sample {} of {name:?} but this run drew {canonical}: the experiment \
                         was written by a different version or configuration",
                        t.arch, p.seq
                    )));
                }
                Some(t) if t.status.is_final() => {
                    p.trial_id = t.id;
                    p.outcome = Some((t.status, t.reward.unwrap_or(0.0)));
                }
                Some(t) => {
                    if original.is_none() {
                        self.store.restart_trial(t.id)?;
                    }
                    p.trial_id = t.id;
                }
                None => {
                    p.trial_id = self.store.insert_trial(&NewTrial {
                        experiment_id: exp,
                        seq: p.seq,
                        arch: canonical,
                        arch_json: serde_json::to_string(&p.arch).expect("architectures serialise"),
                        tokens_json: serde_json::to_string(&Action::to_ints(&p.sample.actions))
                            .expect("ints serialise"),
                        log_prob: p.sample.log_prob,
                        entropy: p.sample.entropy,
                        policy_version: p.sample.policy_version,
                        depth: p.depth as u32,
                        parent_id,
                        repeat_of: original.as_ref().map(|o| o.id),
                    })?;
                }
            }
            p.original = original.as_ref().map(|o| o.id);
            if p.outcome.is_some() {
                continue;
            }
            match original {
                Some(o) if o.status.is_final() => {
                    let trial_id = p.trial_id;
                    let outcome = self.copy_result(trial_id, &o)?;
                    self.busy[b].items[k].outcome = Some(outcome);
                }
                Some(_) => {}
                None => jobs.push(Job {
                    trial_id: p.trial_id,
                    arch: p.arch.clone(),
                    ctx: EvalContext { trial_id: p.trial_id, seq: p.seq, seed },
                }),
            }
        }
        self.busy[b].admitted = true;
        Ok(jobs)
    }

    /// Give the repeat `trial_id` the result of `original` (not evaluated again).
    fn copy_result(&self, trial_id: i64, original: &nas_store::TrialRow) -> Result<(TrialStatus, f64), SearchError> {
        self.store.finish_trial(
            trial_id,
            &TrialResult {
                status: original.status,
                reward: original.reward,
                metrics_json: original.metrics_json.clone(),
                failure: original.failure.clone(),
                eval_seconds: 0.0,
            },
        )?;
        Ok((original.status, original.reward.unwrap_or(0.0)))
    }

    /// Record an evaluation's result; a failed child earns reward 0, a fatal error aborts the
    /// trial and fails the experiment.
    fn record(
        &self,
        trial_id: i64,
        outcome: Result<nas_evaluator::Evaluation, EvalError>,
        secs: f64,
    ) -> Result<(TrialStatus, f64), SearchError> {
        match judge(&self.config, outcome, secs) {
            Ok((result, reward)) => {
                self.store.finish_trial(trial_id, &result)?;
                if let Some(msg) = self.streak.borrow_mut().observe(&result) {
                    self.store.set_experiment_status(self.experiment.id, "failed")?;
                    return Err(SearchError::Evaluator(msg));
                }
                Ok((result.status, reward))
            }
            Err(msg) => {
                self.store.finish_trial(
                    trial_id,
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

impl Drop for Search<'_> {
    fn drop(&mut self) {
        // The experiment is free for the next `--resume` (a killed process leaves its row, which
        // the next claim sees is dead).
        let _ = self.store.disown_experiment(self.experiment.id);
    }
}

/// Children that fail the same way, one after the other, before any has completed are failing
/// because of the configuration (a data or training setting every child shares), not because of
/// their architectures: the search stops with that error instead of storing a string of failed
/// trials. Once a child of the run completes, failures are the architectures' own.
#[derive(Debug, Default)]
pub(crate) struct FailureStreak {
    completed: bool,
    reason: Option<String>,
    count: usize,
}

impl FailureStreak {
    /// Identical failures in a row that stop the search.
    pub(crate) const LIMIT: usize = 3;

    /// Note a stored result; the error to stop with once the streak is long enough.
    pub(crate) fn observe(&mut self, result: &TrialResult) -> Option<String> {
        if self.completed || result.status != TrialStatus::Failed {
            self.completed |= result.status == TrialStatus::Completed;
            return None;
        }
        let reason = result.failure.clone().unwrap_or_default();
        if self.reason.as_ref() == Some(&reason) {
            self.count += 1;
        } else {
            (self.reason, self.count) = (Some(reason.clone()), 1);
        }
        (self.count >= Self::LIMIT).then(|| {
            format!(
                "the first {} children all failed with the same error, so the configuration is at fault, not \
                 the architectures: {reason}",
                self.count
            )
        })
    }
}

/// What the strategy may draw for sample `seq`: the schedule's depth, and at least
/// `depth.start` layers for strategies that change depth.
/// What an evaluator learns of the experiment it serves.
pub(crate) fn experiment_tag(e: &Experiment) -> ExperimentTag {
    ExperimentTag { name: e.name.clone(), created_at: e.created_at }
}

fn menu<'a>(space: &'a SearchSpace, config: &SearchConfig, seq: u64) -> Menu<'a> {
    let depth = if space.has_depth() { config.depth.depth_at(seq) } else { 0 };
    Menu { space, depth, min_depth: config.depth.start.min(depth) }
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
        Err(EvalError::Interrupted) => return Err("interrupted before it finished".into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: TrialStatus, failure: Option<&str>) -> TrialResult {
        TrialResult {
            status,
            reward: Some(0.0),
            metrics_json: None,
            failure: failure.map(String::from),
            eval_seconds: 0.0,
        }
    }

    #[test]
    fn identical_failures_before_any_success_stop_the_search() {
        let mut s = FailureStreak::default();
        let boom = result(TrialStatus::Failed, Some("the evaluator panicked: bad epsilon"));
        assert_eq!(s.observe(&boom), None);
        assert_eq!(s.observe(&result(TrialStatus::Failed, Some("too large: 5 > 4"))), None);
        assert_eq!(s.observe(&boom), None, "a different reason restarts the count");
        assert_eq!(s.observe(&boom), None);
        let msg = s.observe(&boom).expect("three in a row stop");
        assert!(msg.contains("configuration") && msg.contains("bad epsilon"), "{msg}");

        let mut after_success = FailureStreak::default();
        assert_eq!(after_success.observe(&result(TrialStatus::Completed, None)), None);
        for _ in 0..10 {
            assert_eq!(after_success.observe(&boom), None, "after a success, failures are the architectures'");
        }
    }
}
