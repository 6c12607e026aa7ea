//! The trial store: experiments, every trial, controller checkpoints and update history,
//! behind one [`TrialStore`] trait. [`SqliteStore`] is the embedded default; [`PgStore`] keeps
//! the same tables in PostgreSQL for searches spread over machines. [`open_store`] picks one
//! from a `--store` argument (a file path, or a `postgres://` URL).
//!
//! Every write is one transaction, so killing the process at any moment leaves the store as it
//! was before or after that write, never in between. The schema is versioned (SQLite
//! `user_version`) and migrated forward on open.
//!
//! This crate needs no tensors: it builds without burn.

mod error;
mod pg;
mod pg_queue;
mod queue;
mod schema;
mod sqlite;
mod types;

pub use error::StoreError;
pub use pg::{PgStore, is_postgres_url, redact};
pub use pg_queue::Leadership;
pub use queue::{Claim, QueueCounts, WorkQueue};
pub use schema::{MIGRATIONS, VERSION as SCHEMA_VERSION};
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
    /// The `k` completed trials with the highest reward (of one experiment, or of all); repeats
    /// of an architecture evaluated earlier are not listed.
    fn top(&self, experiment_id: Option<i64>, k: usize) -> Result<Vec<TrialRow>, StoreError>;

    /// Atomically store the search state together with the records of the gradients applied
    /// since the last checkpoint (none when only new children were drawn).
    fn commit_update(&self, ckpt: &Checkpoint, updates: &[UpdateRow]) -> Result<(), StoreError>;
    /// The latest checkpoint of an experiment.
    fn checkpoint(&self, experiment_id: i64) -> Result<Option<Checkpoint>, StoreError>;
    /// The update history of an experiment.
    fn updates(&self, experiment_id: i64) -> Result<Vec<UpdateRow>, StoreError>;

    /// Make this process the one that runs the experiment: a [`StoreError::Conflict`] naming the
    /// holder when another live process on this machine runs it. (SQLite; a PostgreSQL search
    /// is led through an advisory lock instead, so this default takes nothing.)
    fn own_experiment(&self, experiment_id: i64) -> Result<(), StoreError> {
        let _ = experiment_id;
        Ok(())
    }
    /// Give the experiment up (a no-op unless this process holds it).
    fn disown_experiment(&self, experiment_id: i64) -> Result<(), StoreError> {
        let _ = experiment_id;
        Ok(())
    }
}

/// A boxed store is a store (so `&Box<dyn TrialStore>` goes where `&dyn TrialStore` does).
impl<T: TrialStore + ?Sized> TrialStore for Box<T> {
    fn create_experiment(&self, e: &NewExperiment) -> Result<Experiment, StoreError> {
        (**self).create_experiment(e)
    }
    fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, StoreError> {
        (**self).experiment_by_name(name)
    }
    fn experiment(&self, id: i64) -> Result<Option<Experiment>, StoreError> {
        (**self).experiment(id)
    }
    fn experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        (**self).experiments()
    }
    fn set_experiment_status(&self, id: i64, status: &str) -> Result<(), StoreError> {
        (**self).set_experiment_status(id, status)
    }
    fn insert_trial(&self, t: &NewTrial) -> Result<i64, StoreError> {
        (**self).insert_trial(t)
    }
    fn restart_trial(&self, id: i64) -> Result<(), StoreError> {
        (**self).restart_trial(id)
    }
    fn finish_trial(&self, id: i64, r: &TrialResult) -> Result<(), StoreError> {
        (**self).finish_trial(id, r)
    }
    fn trial(&self, id: i64) -> Result<Option<TrialRow>, StoreError> {
        (**self).trial(id)
    }
    fn trial_at(&self, experiment_id: i64, seq: u64) -> Result<Option<TrialRow>, StoreError> {
        (**self).trial_at(experiment_id, seq)
    }
    fn trials(&self, experiment_id: i64) -> Result<Vec<TrialRow>, StoreError> {
        (**self).trials(experiment_id)
    }
    fn top(&self, experiment_id: Option<i64>, k: usize) -> Result<Vec<TrialRow>, StoreError> {
        (**self).top(experiment_id, k)
    }
    fn commit_update(&self, ckpt: &Checkpoint, updates: &[UpdateRow]) -> Result<(), StoreError> {
        (**self).commit_update(ckpt, updates)
    }
    fn checkpoint(&self, experiment_id: i64) -> Result<Option<Checkpoint>, StoreError> {
        (**self).checkpoint(experiment_id)
    }
    fn updates(&self, experiment_id: i64) -> Result<Vec<UpdateRow>, StoreError> {
        (**self).updates(experiment_id)
    }
    fn own_experiment(&self, experiment_id: i64) -> Result<(), StoreError> {
        (**self).own_experiment(experiment_id)
    }
    fn disown_experiment(&self, experiment_id: i64) -> Result<(), StoreError> {
        (**self).disown_experiment(experiment_id)
    }
}

/// A store chosen at run time.
pub type DynStore = Box<dyn TrialStore + Send>;

/// Open the store `spec` names: a `postgres://` / `postgresql://` URL, else a SQLite file
/// (created when `create`, else it must exist).
pub fn open_store(spec: &str, create: bool) -> Result<DynStore, StoreError> {
    if is_postgres_url(spec) {
        return Ok(Box::new(PgStore::connect(spec)?));
    }
    let path = std::path::Path::new(spec);
    Ok(Box::new(if create { SqliteStore::open(path)? } else { SqliteStore::open_existing(path)? }))
}
