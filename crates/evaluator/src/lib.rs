//! The evaluator interface: architecture → reward (plus metrics), or a recorded failure.
//!
//! Evaluators here need no tensors: [`TableEvaluator`] looks rewards up in a CSV (the
//! NAS-Bench-201 table is one) and [`ToyEvaluator`] computes a synthetic objective for demos
//! and tests. The child-network trainer implements the same [`Evaluator`] trait in its own crate.

pub mod command;
mod median;
mod penalty;
pub mod rank;
mod reward;
mod spec;
mod table;
mod toy;

use nas_space::Architecture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

pub use command::{CommandEvaluator, CommandSpec};
pub use median::{MedianStopper, MedianStopping, completed_curve};
pub use penalty::{SizeMetric, SizePenalty};
pub use reward::RewardTransform;
pub use spec::EvaluatorSpec;
pub use table::TableEvaluator;
pub use toy::ToyEvaluator;

/// Identity of the evaluation being asked for, so evaluators can seed themselves per trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalContext {
    /// Trial id in the store.
    pub trial_id: i64,
    /// Index of the sample within its experiment (0-based).
    pub seq: u64,
    /// The experiment's seed.
    pub seed: u64,
}

/// A successful evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The reward the strategy learns from.
    pub reward: f64,
    /// Anything worth keeping with the trial (accuracy, per-epoch curves, timings).
    pub metrics: Map<String, Value>,
}

/// Why an evaluation produced no reward.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EvalError {
    /// The child failed (diverged, too large…): recorded as a failed trial with reward 0, and the
    /// search goes on.
    #[error("{0}")]
    Failed(String),
    /// The evaluator cannot go on (missing table entry, unreadable data): the search stops with
    /// this message and the trial is left to be evaluated again on `--resume`.
    #[error("{0}")]
    Fatal(String),
    /// The evaluation was cut short because the process is stopping (Ctrl-C): nothing is
    /// recorded and the trial is evaluated again on `--resume`.
    #[error("interrupted")]
    Interrupted,
}

/// Where an evaluator keeps a child's training state between epochs, so that a re-run of the
/// trial resumes instead of starting over (remote workers keep it in the store).
pub trait Progress {
    /// The last saved state: (epochs done, bytes).
    fn load(&mut self) -> Option<(u64, Vec<u8>)>;
    /// Whether to save after `epochs` epochs (lets the keeper limit how often it writes).
    fn due(&mut self, epochs: u64) -> bool;
    /// Save the state after `epochs` epochs.
    fn save(&mut self, epochs: u64, state: Vec<u8>);
}

/// Turns an architecture into a reward.
pub trait Evaluator: Send {
    /// One line describing the evaluator (shown when a search starts).
    fn describe(&self) -> String;
    /// Evaluate one architecture.
    fn evaluate(&mut self, arch: &Architecture, ctx: &EvalContext) -> Result<Evaluation, EvalError>;
    /// Evaluate, saving the child's training state to `progress` as it goes and continuing from
    /// the state it already holds (a re-run of a trial whose worker died). Evaluators that have
    /// nothing to resume evaluate from scratch.
    fn evaluate_resumable(
        &mut self,
        arch: &Architecture,
        ctx: &EvalContext,
        _progress: &mut dyn Progress,
    ) -> Result<Evaluation, EvalError> {
        self.evaluate(arch, ctx)
    }
    /// Learn from a trial completed before this evaluator existed (a resumed search replays its
    /// stored trials here), e.g. the curves the median-stopping rule compares against.
    /// Evaluators that keep no such memory ignore it.
    fn observe_completed(&mut self, _metrics: &Map<String, Value>) {}
    /// Whether an architecture's reward stays what it was once measured. True for evaluators
    /// that train each child on its own: the search then reuses the result of a repeated draw.
    /// False for an evaluator whose rewards move as it learns (one-shot: shared weights), whose
    /// every draw is evaluated.
    fn stationary(&self) -> bool {
        true
    }
    /// On resume, after [`Evaluator::attach`]: each completed trial of the experiment, in the
    /// order it was evaluated, for an evaluator whose state follows the sequence of
    /// evaluations (one-shot: shared weights trained by every child) to catch up with what it
    /// saved. Others ignore it.
    fn replay(&mut self, _arch: &Architecture, _ctx: &EvalContext) -> Result<(), EvalError> {
        Ok(())
    }
    /// After a search: score `candidates` again with everything the evaluator has learnt (a
    /// one-shot evaluator: its final shared weights on the whole validation split). None for
    /// evaluators with nothing to add to their rewards.
    fn derive(&mut self, _candidates: &[Architecture]) -> Option<Result<Vec<f64>, EvalError>> {
        None
    }
    /// Learn which experiment the evaluations are for, before the first one. Evaluators that
    /// do not care ignore it.
    fn attach(&mut self, _experiment: &ExperimentTag) {}
    /// Where to report the progress of work done before the first child (a one-shot
    /// evaluator's warm-up of its shared weights), step by step. Evaluators with no such work
    /// ignore it.
    fn watch_warm_up(&mut self, _report: WarmUpReport) {}
}

/// How far an evaluator's warm-up has come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmUpProgress {
    /// Steps done.
    pub steps: u64,
    /// Steps in all.
    pub of: u64,
    /// Passes over the training images so far (fractional).
    pub epochs: f64,
}

/// Receives each [`WarmUpProgress`] of an evaluator's warm-up, e.g. to move a progress bar.
pub type WarmUpReport = Box<dyn FnMut(WarmUpProgress) + Send>;

/// Which experiment evaluations are for: its name, and when it was created — the pair tells
/// apart experiments of one name in different stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentTag {
    pub name: String,
    /// Unix time, seconds (the store's `created_at`).
    pub created_at: f64,
}
