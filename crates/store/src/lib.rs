//! The trial store: experiments, every trial, controller checkpoints and update history,
//! behind one [`TrialStore`] trait. [`SqliteStore`] is the embedded default.
//!
//! Every write is one transaction, so killing the process at any moment leaves the store as it
//! was before or after that write, never in between. The schema is versioned (SQLite
//! `user_version`) and migrated forward on open.
//!
//! This crate needs no tensors: it builds without burn.

mod error;
mod schema;
mod sqlite;
mod types;

pub use error::StoreError;
pub use sqlite::SqliteStore;
pub use types::{Checkpoint, Experiment, NewExperiment, NewTrial, TrialResult, TrialRow, TrialStatus, UpdateRow};

/// Where trials and controller state live.
pub trait TrialStore {
    /// Register a new experiment; its name must be unused.
    fn create_experiment(&self, e: &NewExperiment) -> Result<Experiment, StoreError>;
    /// The experiment with this name.
    fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, StoreError>;
    /// The experiment with this id.
    fn experiment(&self, id: i64) -> Result<Option<Experiment>, StoreError>;
    /// All experiments, oldest first.
    fn experiments(&self) -> Result<Vec<Experiment>, StoreError>;
    /// Set an experiment's status (`running`, `done`, `stopped`, `failed`).
    fn set_experiment_status(&self, id: i64, status: &str) -> Result<(), StoreError>;

    /// Record a freshly sampled trial, status `running`.
    fn insert_trial(&self, t: &NewTrial) -> Result<i64, StoreError>;
    /// Mark an existing trial `running` again (re-evaluation after a crash), clearing its result.
    fn restart_trial(&self, id: i64) -> Result<(), StoreError>;
    /// Record a trial's outcome.
    fn finish_trial(&self, id: i64, r: &TrialResult) -> Result<(), StoreError>;
    /// One trial by id.
    fn trial(&self, id: i64) -> Result<Option<TrialRow>, StoreError>;
    /// The trial at sample index `seq` of an experiment.
    fn trial_at(&self, experiment_id: i64, seq: u64) -> Result<Option<TrialRow>, StoreError>;
    /// All trials of an experiment in sample order.
    fn trials(&self, experiment_id: i64) -> Result<Vec<TrialRow>, StoreError>;
    /// The `k` completed trials with the highest reward (of one experiment, or of all).
    fn top(&self, experiment_id: Option<i64>, k: usize) -> Result<Vec<TrialRow>, StoreError>;

    /// Atomically store the strategy state after an update together with the update's record.
    fn commit_update(&self, ckpt: &Checkpoint, update: &UpdateRow) -> Result<(), StoreError>;
    /// The latest checkpoint of an experiment.
    fn checkpoint(&self, experiment_id: i64) -> Result<Option<Checkpoint>, StoreError>;
    /// The update history of an experiment.
    fn updates(&self, experiment_id: i64) -> Result<Vec<UpdateRow>, StoreError>;
}
