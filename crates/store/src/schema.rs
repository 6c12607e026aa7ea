//! The schema, as an ordered list of migrations. Migration `i` takes the store from schema
//! version `i` to `i + 1`; never edit a released migration, append a new one. Written in
//! SQLite's types; a PostgreSQL store runs the same list with its types swapped in
//! (`pg.rs`, `postgres_ddl`), so both schemas stay one.

/// All migrations in order.
pub const MIGRATIONS: &[&str] = &[
    // 0 → 1: the initial schema.
    r#"
    CREATE TABLE experiments (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        space       TEXT NOT NULL,
        strategy    TEXT NOT NULL,
        seed        INTEGER NOT NULL,
        config_json TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'running',
        created_at  REAL NOT NULL
    );
    CREATE TABLE trials (
        id             INTEGER PRIMARY KEY,
        experiment_id  INTEGER NOT NULL REFERENCES experiments(id),
        seq            INTEGER NOT NULL,
        arch           TEXT NOT NULL,
        arch_json      TEXT NOT NULL,
        tokens_json    TEXT NOT NULL,
        log_prob       REAL NOT NULL,
        entropy        REAL NOT NULL,
        policy_version INTEGER NOT NULL,
        depth          INTEGER NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('running','completed','failed','aborted')),
        reward         REAL,
        metrics_json   TEXT,
        failure        TEXT,
        created_at     REAL NOT NULL,
        finished_at    REAL,
        eval_seconds   REAL,
        UNIQUE (experiment_id, seq)
    );
    CREATE INDEX trials_by_reward ON trials (experiment_id, status, reward DESC);
    CREATE TABLE checkpoints (
        experiment_id  INTEGER PRIMARY KEY REFERENCES experiments(id),
        samples        INTEGER NOT NULL,
        policy_version INTEGER NOT NULL,
        baseline       REAL,
        state          BLOB NOT NULL,
        updated_at     REAL NOT NULL
    );
    CREATE TABLE updates (
        experiment_id  INTEGER NOT NULL REFERENCES experiments(id),
        policy_version INTEGER NOT NULL,
        samples        INTEGER NOT NULL,
        baseline       REAL,
        mean_reward    REAL NOT NULL,
        loss           REAL NOT NULL,
        grad_norm      REAL NOT NULL,
        mean_entropy   REAL NOT NULL,
        at             REAL NOT NULL,
        PRIMARY KEY (experiment_id, samples)
    );
    "#,
    // 1 → 2: the work queue remote workers claim trials from (PostgreSQL stores use it; SQLite
    // keeps the same table so both schemas stay one).
    r#"
    CREATE TABLE work (
        trial_id      INTEGER PRIMARY KEY REFERENCES trials(id),
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        state         TEXT NOT NULL CHECK (state IN ('pending','leased','done')),
        owner         TEXT,
        lease_until   REAL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        max_attempts  INTEGER NOT NULL,
        token         INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT
    );
    CREATE INDEX work_by_state ON work (state, trial_id);
    "#,
    // 2 → 3: asynchronous controller replicas: which replica sent each gradient, the policy
    // version it sampled with and how stale the gradient was when applied; and the training
    // state of children in flight, saved by remote workers so a re-run resumes.
    r#"
    ALTER TABLE updates ADD COLUMN replica INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE updates ADD COLUMN sampled_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE updates ADD COLUMN staleness INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE child_states (
        trial_id   INTEGER PRIMARY KEY REFERENCES trials(id),
        epoch      INTEGER NOT NULL,
        state      BLOB NOT NULL,
        updated_at REAL NOT NULL
    );
    "#,
    // 3 → 4: where a trial came from: the trial it was mutated from (evolution, local search)
    // and, for a repeat of an architecture evaluated earlier in the experiment, the trial whose
    // result it reuses (not trained again; not counted as a sample, not listed by `top`).
    r#"
    ALTER TABLE trials ADD COLUMN parent_id INTEGER;
    ALTER TABLE trials ADD COLUMN repeat_of INTEGER;
    "#,
    // 4 → 5: which process runs an experiment (SQLite stores: a second `--resume` of a running
    // experiment is refused at once, naming the holder).
    r#"
    CREATE TABLE owners (
        experiment_id INTEGER PRIMARY KEY,
        pid           INTEGER NOT NULL,
        host          TEXT NOT NULL,
        since         REAL NOT NULL
    );
    "#,
];

/// Columns of `updates`, in the order both stores' row readers expect.
pub(crate) const UPDATE_COLUMNS: &str = "experiment_id, policy_version, samples, baseline, mean_reward, loss, \
     grad_norm, mean_entropy, replica, sampled_version, staleness";

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Columns of `trials`, in the order both stores' row readers expect.
pub(crate) const TRIAL_COLUMNS: &str = "id, experiment_id, seq, arch, arch_json, tokens_json, log_prob, entropy, \
     policy_version, depth, status, reward, metrics_json, failure, created_at, finished_at, eval_seconds, \
     parent_id, repeat_of";

/// Columns of `experiments`, in the order both stores' row readers expect.
pub(crate) const EXPERIMENT_COLUMNS: &str = "id, name, space, strategy, seed, config_json, status, created_at";
