//! Where children are trained while the search loop waits: on the loop's own thread
//! ([`Inline`]), on a pool of local worker threads that lives as long as the run ([`Pool`]), or
//! by `nas worker` processes claiming from the store's queue ([`Remote`]). The loop submits
//! jobs as controller replicas draw batches and takes results in whatever order they finish.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use nas_evaluator::{EvalContext, EvalError, Evaluation, Evaluator};
use nas_space::Architecture;
use nas_store::{StoreError, TrialStatus, TrialStore, WorkQueue};

/// A child to train.
pub(crate) struct Job {
    pub trial_id: i64,
    pub arch: Architecture,
    pub ctx: EvalContext,
}

/// A finished job.
pub(crate) enum Outcome {
    /// Trained here: the evaluator's answer and the seconds it took (not yet recorded).
    Evaluated(Result<Evaluation, EvalError>, f64),
    /// Trained by a remote worker, which stored the result: status and reward.
    Stored(TrialStatus, f64),
    /// A remote worker marked the trial aborted (a fatal evaluator error): the reason.
    Aborted(String),
}

/// Trains submitted jobs and hands back results as they finish.
pub(crate) trait Executor {
    fn submit(&mut self, jobs: Vec<Job>) -> Result<(), StoreError>;
    /// The next finished job; `None` once nothing is outstanding.
    fn next(&mut self) -> Result<Option<(i64, Outcome)>, StoreError>;
    /// Start no new job; jobs already training still finish and are returned by `next`.
    fn halt(&mut self);
}

/// Train one child (inside `pool` when there is one). A panic in the evaluator becomes a failed
/// trial naming it, so one bad child neither kills a worker nor leaves the loop waiting.
fn train(ev: &mut dyn Evaluator, job: &Job, pool: Option<&rayon::ThreadPool>) -> Outcome {
    let started = Instant::now();
    let mut run = || guarded(|| ev.evaluate(&job.arch, &job.ctx));
    let out = match pool {
        Some(pool) => pool.install(run),
        None => run(),
    };
    Outcome::Evaluated(out, started.elapsed().as_secs_f64())
}

/// Run an evaluation, turning a panic into a failed evaluation with the panic's message.
pub(crate) fn guarded(eval: impl FnOnce() -> Result<Evaluation, EvalError>) -> Result<Evaluation, EvalError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(eval)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Err(EvalError::Failed(format!("the evaluator panicked: {msg}")))
    })
}

/// One evaluator on the loop's thread (inside a rayon pool of `threads`), jobs in order.
pub(crate) struct Inline<'a> {
    evaluator: &'a mut dyn Evaluator,
    pool: Option<rayon::ThreadPool>,
    queue: VecDeque<Job>,
}

impl<'a> Inline<'a> {
    pub fn new(evaluator: &'a mut dyn Evaluator, threads: usize) -> Self {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok();
        Inline { evaluator, pool, queue: VecDeque::new() }
    }
}

impl Executor for Inline<'_> {
    fn submit(&mut self, jobs: Vec<Job>) -> Result<(), StoreError> {
        self.queue.extend(jobs);
        Ok(())
    }

    fn next(&mut self) -> Result<Option<(i64, Outcome)>, StoreError> {
        let Some(job) = self.queue.pop_front() else { return Ok(None) };
        Ok(Some((job.trial_id, train(&mut *self.evaluator, &job, self.pool.as_ref()))))
    }

    fn halt(&mut self) {
        self.queue.clear();
    }
}

/// Jobs waiting for a local worker thread.
#[derive(Default)]
pub(crate) struct JobQueue {
    state: Mutex<(VecDeque<Job>, bool)>,
    ready: Condvar,
}

impl JobQueue {
    /// The next job, waiting for one; `None` once closed.
    fn take(&self) -> Option<Job> {
        let mut st = self.state.lock().expect("job queue lock");
        loop {
            if st.1 {
                return None;
            }
            if let Some(job) = st.0.pop_front() {
                return Some(job);
            }
            st = self.ready.wait(st).expect("job queue lock");
        }
    }

    /// Close the queue, dropping waiting jobs; returns how many were dropped.
    fn close(&self) -> usize {
        let mut st = self.state.lock().expect("job queue lock");
        st.1 = true;
        let dropped = st.0.len();
        st.0.clear();
        self.ready.notify_all();
        dropped
    }
}

/// W local workers, each with its own evaluator and rayon pool of `threads`, started once per
/// run: a worker that finishes a child takes the next one at once, whichever replica drew it.
pub(crate) struct Pool<'q> {
    queue: &'q JobQueue,
    results: mpsc::Receiver<(i64, Outcome)>,
    outstanding: usize,
}

impl<'q> Pool<'q> {
    /// Spawn one worker per evaluator in `scope`.
    pub fn spawn<'scope, 'env: 'scope>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        queue: &'env JobQueue,
        evaluators: &'env mut [Box<dyn Evaluator>],
        threads: usize,
    ) -> Pool<'env> {
        let (tx, results) = mpsc::channel();
        for ev in evaluators.iter_mut() {
            let tx = tx.clone();
            scope.spawn(move || {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok();
                while let Some(job) = queue.take() {
                    if tx.send((job.trial_id, train(ev.as_mut(), &job, pool.as_ref()))).is_err() {
                        break;
                    }
                }
            });
        }
        Pool { queue, results, outstanding: 0 }
    }
}

impl Executor for Pool<'_> {
    fn submit(&mut self, jobs: Vec<Job>) -> Result<(), StoreError> {
        let mut st = self.queue.state.lock().expect("job queue lock");
        if st.1 {
            return Ok(());
        }
        self.outstanding += jobs.len();
        st.0.extend(jobs);
        self.queue.ready.notify_all();
        Ok(())
    }

    fn next(&mut self) -> Result<Option<(i64, Outcome)>, StoreError> {
        if self.outstanding == 0 {
            return Ok(None);
        }
        match self.results.recv() {
            Ok(r) => {
                self.outstanding -= 1;
                Ok(Some(r))
            }
            // Every worker is gone (a panic in an evaluator): nothing more will come.
            Err(_) => {
                self.outstanding = 0;
                Ok(None)
            }
        }
    }

    fn halt(&mut self) {
        self.outstanding -= self.queue.close();
    }
}

impl Drop for Pool<'_> {
    /// Let the workers exit so the run's thread scope can end.
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// Remote workers (`nas worker`) claim the jobs from the store's work queue; results are read
/// back from the store (workers themselves wait on LISTEN/NOTIFY; this polls every 100 ms).
pub(crate) struct Remote<'s> {
    pub store: &'s dyn TrialStore,
    pub queue: &'s dyn WorkQueue,
    pub experiment_id: i64,
    pub max_attempts: u32,
    pub waiting: Vec<i64>,
    pub halted: AtomicBool,
}

impl Executor for Remote<'_> {
    fn submit(&mut self, jobs: Vec<Job>) -> Result<(), StoreError> {
        let ids: Vec<i64> = jobs.iter().map(|j| j.trial_id).collect();
        // Insert-if-absent: a resumed coordinator keeps the leases of trials in flight.
        self.queue.enqueue(self.experiment_id, &ids, self.max_attempts)?;
        self.waiting.extend(ids);
        Ok(())
    }

    fn next(&mut self) -> Result<Option<(i64, Outcome)>, StoreError> {
        // Halted: trials in flight stay queued; a resumed coordinator waits for them again.
        while !self.waiting.is_empty() && !self.halted.load(Ordering::SeqCst) {
            self.queue.fail_exhausted()?;
            for (k, &id) in self.waiting.iter().enumerate() {
                let found = match self.store.trial(id)? {
                    Some(t) if t.status.is_final() => Some(Outcome::Stored(t.status, t.reward.unwrap_or(0.0))),
                    Some(t) if t.status == TrialStatus::Aborted => {
                        Some(Outcome::Aborted(t.failure.unwrap_or_default()))
                    }
                    _ => None,
                };
                if let Some(out) = found {
                    self.waiting.remove(k);
                    return Ok(Some((id, out)));
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(None)
    }

    fn halt(&mut self) {
        self.halted.store(true, Ordering::SeqCst);
    }
}
