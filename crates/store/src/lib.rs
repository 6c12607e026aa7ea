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
mod sql;
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

/// Implement [`TrialStore`] for `$ty` by calling every method on `$inner` (an expression in
/// `$this`, the `&self`) and passing each error through `$map` (an expression in `$err`).
macro_rules! forward_store {
    (impl[$($g:tt)*] $ty:ty, $this:ident => $inner:expr, $err:ident => $map:expr) => {
        impl<$($g)*> TrialStore for $ty {
            fn create_experiment(&self, e: &NewExperiment) -> Result<Experiment, StoreError> {
                let $this = self;
                $inner.create_experiment(e).map_err(|$err| $map)
            }
            fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, StoreError> {
                let $this = self;
                $inner.experiment_by_name(name).map_err(|$err| $map)
            }
            fn experiment(&self, id: i64) -> Result<Option<Experiment>, StoreError> {
                let $this = self;
                $inner.experiment(id).map_err(|$err| $map)
            }
            fn experiments(&self) -> Result<Vec<Experiment>, StoreError> {
                let $this = self;
                $inner.experiments().map_err(|$err| $map)
            }
            fn set_experiment_status(&self, id: i64, status: &str) -> Result<(), StoreError> {
                let $this = self;
                $inner.set_experiment_status(id, status).map_err(|$err| $map)
            }
            fn insert_trial(&self, t: &NewTrial) -> Result<i64, StoreError> {
                let $this = self;
                $inner.insert_trial(t).map_err(|$err| $map)
            }
            fn restart_trial(&self, id: i64) -> Result<(), StoreError> {
                let $this = self;
                $inner.restart_trial(id).map_err(|$err| $map)
            }
            fn finish_trial(&self, id: i64, r: &TrialResult) -> Result<(), StoreError> {
                let $this = self;
                $inner.finish_trial(id, r).map_err(|$err| $map)
            }
            fn trial(&self, id: i64) -> Result<Option<TrialRow>, StoreError> {
                let $this = self;
                $inner.trial(id).map_err(|$err| $map)
            }
            fn trial_at(&self, experiment_id: i64, seq: u64) -> Result<Option<TrialRow>, StoreError> {
                let $this = self;
                $inner.trial_at(experiment_id, seq).map_err(|$err| $map)
            }
            fn trials(&self, experiment_id: i64) -> Result<Vec<TrialRow>, StoreError> {
                let $this = self;
                $inner.trials(experiment_id).map_err(|$err| $map)
            }
            fn top(&self, experiment_id: Option<i64>, k: usize) -> Result<Vec<TrialRow>, StoreError> {
                let $this = self;
                $inner.top(experiment_id, k).map_err(|$err| $map)
            }
            fn commit_update(&self, ckpt: &Checkpoint, updates: &[UpdateRow]) -> Result<(), StoreError> {
                let $this = self;
                $inner.commit_update(ckpt, updates).map_err(|$err| $map)
            }
            fn checkpoint(&self, experiment_id: i64) -> Result<Option<Checkpoint>, StoreError> {
                let $this = self;
                $inner.checkpoint(experiment_id).map_err(|$err| $map)
            }
            fn updates(&self, experiment_id: i64) -> Result<Vec<UpdateRow>, StoreError> {
                let $this = self;
                $inner.updates(experiment_id).map_err(|$err| $map)
            }
            fn own_experiment(&self, experiment_id: i64) -> Result<(), StoreError> {
                let $this = self;
                $inner.own_experiment(experiment_id).map_err(|$err| $map)
            }
            fn disown_experiment(&self, experiment_id: i64) -> Result<(), StoreError> {
                let $this = self;
                $inner.disown_experiment(experiment_id).map_err(|$err| $map)
            }
        }
    };
}

// A boxed store is a store (so `&Box<dyn TrialStore>` goes where `&dyn TrialStore` does).
forward_store!(impl[T: TrialStore + ?Sized] Box<T>, this => (**this), e => e);
// Both databases run the one implementation in `sql.rs`.
forward_store!(impl[] SqliteStore, this => sql::Sql(this), e => e);
forward_store!(impl[] PgStore, this => sql::Sql(this), e => e);

/// A store whose driver errors name it: a database damaged in the middle, a full disk or a lost
/// connection mid-operation reads `store runs.db: database error: …`, not a bare driver message.
/// [`open_store`] returns stores wrapped in this.
pub struct NamedStore<S> {
    inner: S,
    name: String,
}

impl<S: TrialStore> NamedStore<S> {
    /// `inner`, whose errors will name `name` (already redacted: it is printed).
    pub fn new(inner: S, name: String) -> Self {
        NamedStore { inner, name }
    }

    fn name_error(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Db(_) | StoreError::Pg(_) => StoreError::In { store: self.name.clone(), error: Box::new(e) },
            other => other,
        }
    }
}

forward_store!(impl[S: TrialStore] NamedStore<S>, this => this.inner, e => this.name_error(e));

/// A store chosen at run time.
pub type DynStore = Box<dyn TrialStore + Send>;

/// Open the store `spec` names: a `postgres://` / `postgresql://` URL, else a SQLite file
/// (created when `create`, else it must exist).
pub fn open_store(spec: &str, create: bool) -> Result<DynStore, StoreError> {
    if is_postgres_url(spec) {
        return Ok(Box::new(NamedStore::new(PgStore::connect(spec)?, redact(spec))));
    }
    let path = std::path::Path::new(spec);
    let store = if create { SqliteStore::open(path)? } else { SqliteStore::open_existing(path)? };
    Ok(Box::new(NamedStore::new(store, spec.to_string())))
}
