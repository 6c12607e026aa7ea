//! [`run_worker`]: the loop behind `nas worker`. Claims a queued trial under a lease, renews the
//! lease every third of its length while the child trains, and completes the trial only if it
//! still holds the lease (a late result from a worker presumed dead is refused). Idle, it waits
//! on the database's notifications instead of polling; started before any coordinator, it just
//! waits. Each experiment's evaluator is built once from the experiment's stored configuration.
//! Long children save their training state in the store every `checkpoint_seconds`; the next
//! attempt at a trial (this worker died) resumes from it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nas_evaluator::{EvalContext, Evaluator, Progress};
use nas_space::Architecture;
use nas_store::{Claim, TrialStore, WorkQueue};

use crate::search::judge;
use crate::{SearchConfig, SearchError};

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Shown as the owner of its leases (default: host name and process id).
    pub name: String,
    /// Lease length; heartbeats renew it every third. Default 60 s.
    pub lease_seconds: f64,
    /// Exit after this long without work (None: wait forever).
    pub idle_exit_seconds: Option<f64>,
    /// Exit after this many trials (None: no limit).
    pub max_trials: Option<u64>,
    /// Save the child's training state to the store at the first epoch end this long after the
    /// last save, so a re-run after this worker dies resumes there. Default 60 s.
    pub checkpoint_seconds: f64,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        WorkerOptions {
            name: format!("{}:{}", if host.is_empty() { "worker" } else { &host }, std::process::id()),
            lease_seconds: 60.0,
            idle_exit_seconds: None,
            max_trials: None,
            checkpoint_seconds: 60.0,
        }
    }
}

/// What a worker reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    Claimed {
        trial_id: i64,
        arch: String,
        attempt: i64,
        /// Epochs an earlier attempt trained and saved; training continues after them.
        resumed_after: Option<u64>,
    },
    /// The result was stored.
    Completed {
        trial_id: i64,
        reward: f64,
        seconds: f64,
    },
    /// The lease was lost before completion (the trial went to another worker): result dropped.
    Rejected {
        trial_id: i64,
    },
    Idle,
}

/// Trials this worker completed and rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerSummary {
    pub completed: u64,
    pub rejected: u64,
}

/// Claim and train trials from `store` until `stop` is set, the idle limit passes or
/// `max_trials` are done.
pub fn run_worker<S: TrialStore + WorkQueue + Sync>(
    store: &S,
    opts: &WorkerOptions,
    stop: &AtomicBool,
    mut on_event: impl FnMut(&WorkerEvent),
) -> Result<WorkerSummary, SearchError> {
    let mut evaluators: HashMap<i64, (SearchConfig, Box<dyn Evaluator>)> = HashMap::new();
    let mut summary = WorkerSummary::default();
    let mut idle_since = Instant::now();
    while !stop.load(Ordering::SeqCst) && opts.max_trials.is_none_or(|m| summary.completed + summary.rejected < m) {
        store.fail_exhausted()?;
        let Some(claim) = store.claim(&opts.name, opts.lease_seconds)? else {
            if opts.idle_exit_seconds.is_some_and(|s| idle_since.elapsed().as_secs_f64() >= s) {
                break;
            }
            on_event(&WorkerEvent::Idle);
            let left = opts.idle_exit_seconds.map_or(5.0, |s| (s - idle_since.elapsed().as_secs_f64()).clamp(0.0, 5.0));
            store.wait_for_work(left)?;
            continue;
        };
        let accepted = train_one(store, &claim, opts, &mut evaluators, &mut on_event)?;
        if accepted {
            summary.completed += 1;
        } else {
            summary.rejected += 1;
        }
        idle_since = Instant::now();
    }
    Ok(summary)
}

fn train_one<S: TrialStore + WorkQueue + Sync>(
    store: &S,
    claim: &Claim,
    opts: &WorkerOptions,
    evaluators: &mut HashMap<i64, (SearchConfig, Box<dyn Evaluator>)>,
    on_event: &mut impl FnMut(&WorkerEvent),
) -> Result<bool, SearchError> {
    let trial = store
        .trial(claim.trial_id)?
        .ok_or_else(|| SearchError::Resume(format!("queued trial {} is not in the store", claim.trial_id)))?;
    if let std::collections::hash_map::Entry::Vacant(slot) = evaluators.entry(claim.experiment_id) {
        let exp = store
            .experiment(claim.experiment_id)?
            .ok_or_else(|| SearchError::Resume(format!("trial {} has no experiment", claim.trial_id)))?;
        let config: SearchConfig = serde_json::from_str(&exp.config_json)
            .map_err(|e| SearchError::Resume(format!("experiment {:?}: unreadable stored config: {e}", exp.name)))?;
        let mut evaluator = crate::build_evaluator(&config, &config.search_space())?;
        evaluator.attach(&crate::search::experiment_tag(&exp));
        slot.insert((config, evaluator));
    }
    let (config, evaluator) = evaluators.get_mut(&claim.experiment_id).expect("inserted above");
    let saved = store.child_state(trial.id)?;
    let resumed_after = saved.as_ref().map(|s| s.0);
    on_event(&WorkerEvent::Claimed {
        trial_id: trial.id,
        arch: trial.arch.clone(),
        attempt: claim.attempt,
        resumed_after,
    });
    let arch = Architecture::from_json(&trial.arch_json)
        .map_err(|e| SearchError::Resume(format!("trial {}: unreadable architecture: {e}", trial.id)))?;
    let ctx = EvalContext { trial_id: trial.id, seq: trial.seq, seed: config.seed };
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let outcome = std::thread::scope(|s| {
        // Heartbeats every lease/3 while the child trains.
        s.spawn(|| {
            let beat = Duration::from_secs_f64(opts.lease_seconds / 3.0);
            let mut last = Instant::now();
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20).min(beat));
                if last.elapsed() >= beat {
                    last = Instant::now();
                    if !store.heartbeat(claim, opts.lease_seconds).unwrap_or(false) {
                        break;
                    }
                }
            }
        });
        let mut progress = StoreProgress {
            store,
            claim,
            saved,
            every: Duration::from_secs_f64(opts.checkpoint_seconds.max(0.0)),
            last: Instant::now(),
        };
        let out = crate::execute::guarded(|| evaluator.evaluate_resumable(&arch, &ctx, &mut progress));
        done.store(true, Ordering::SeqCst);
        out
    });
    let secs = started.elapsed().as_secs_f64();
    if matches!(outcome, Err(nas_evaluator::EvalError::Interrupted)) {
        // This worker is stopping: the claim is left to expire and another worker (or this one,
        // restarted) runs the trial again.
        on_event(&WorkerEvent::Rejected { trial_id: trial.id });
        return Ok(false);
    }
    let (result, reward) = match judge(config, outcome, secs) {
        Ok(r) => r,
        // The evaluator cannot run here (missing table entry, unreadable data): a failed trial
        // with the reason, so the search goes on instead of waiting forever.
        Err(msg) => (
            nas_store::TrialResult {
                status: nas_store::TrialStatus::Failed,
                reward: Some(0.0),
                metrics_json: None,
                failure: Some(format!("worker {}: {msg}", opts.name)),
                eval_seconds: secs,
            },
            0.0,
        ),
    };
    let accepted = store.complete(claim, &result)?;
    on_event(&if accepted {
        WorkerEvent::Completed { trial_id: trial.id, reward, seconds: secs }
    } else {
        WorkerEvent::Rejected { trial_id: trial.id }
    });
    Ok(accepted)
}

/// A claimed child's training state, kept in the store under the claim.
struct StoreProgress<'a, S> {
    store: &'a S,
    claim: &'a Claim,
    /// What an earlier attempt saved, handed out once.
    saved: Option<(u64, Vec<u8>)>,
    every: Duration,
    last: Instant,
}

impl<S: WorkQueue> Progress for StoreProgress<'_, S> {
    fn load(&mut self) -> Option<(u64, Vec<u8>)> {
        self.saved.take()
    }

    fn due(&mut self, _epochs: u64) -> bool {
        self.last.elapsed() >= self.every
    }

    fn save(&mut self, epochs: u64, state: Vec<u8>) {
        self.last = Instant::now();
        // A lost claim refuses the write; a failed write costs only the resume point.
        if let Err(e) = self.store.save_child_state(self.claim, epochs, &state) {
            tracing::warn!("trial {}: training state after epoch {epochs} not saved: {e}", self.claim.trial_id);
        }
    }
}
