//! [`PgStore`]: the same store in PostgreSQL, for searches whose workers run on several
//! machines. Same tables and columns as SQLite (PostgreSQL types), its own versioned
//! migrations (table `nas_schema`), applied under an advisory lock so that processes opening a
//! fresh database at once cannot both create it.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls, Row};

use crate::schema::{EXPERIMENT_COLUMNS, TRIAL_COLUMNS, UPDATE_COLUMNS};
use crate::{
    Checkpoint, Experiment, NewExperiment, NewTrial, StoreError, TrialResult, TrialRow, TrialStatus, TrialStore,
    UpdateRow,
};

/// PostgreSQL migrations, in the order of [`crate::schema::MIGRATIONS`]: migration `i` takes
/// the database from version `i` to `i + 1`.
const PG_MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE experiments (
        id          BIGSERIAL PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        space       TEXT NOT NULL,
        strategy    TEXT NOT NULL,
        seed        BIGINT NOT NULL,
        config_json TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'running',
        created_at  DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE trials (
        id             BIGSERIAL PRIMARY KEY,
        experiment_id  BIGINT NOT NULL REFERENCES experiments(id),
        seq            BIGINT NOT NULL,
        arch           TEXT NOT NULL,
        arch_json      TEXT NOT NULL,
        tokens_json    TEXT NOT NULL,
        log_prob       DOUBLE PRECISION NOT NULL,
        entropy        DOUBLE PRECISION NOT NULL,
        policy_version BIGINT NOT NULL,
        depth          BIGINT NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('running','completed','failed','aborted')),
        reward         DOUBLE PRECISION,
        metrics_json   TEXT,
        failure        TEXT,
        created_at     DOUBLE PRECISION NOT NULL,
        finished_at    DOUBLE PRECISION,
        eval_seconds   DOUBLE PRECISION,
        UNIQUE (experiment_id, seq)
    );
    CREATE INDEX trials_by_reward ON trials (experiment_id, status, reward DESC);
    CREATE TABLE checkpoints (
        experiment_id  BIGINT PRIMARY KEY REFERENCES experiments(id),
        samples        BIGINT NOT NULL,
        policy_version BIGINT NOT NULL,
        baseline       DOUBLE PRECISION,
        state          BYTEA NOT NULL,
        updated_at     DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE updates (
        experiment_id  BIGINT NOT NULL REFERENCES experiments(id),
        policy_version BIGINT NOT NULL,
        samples        BIGINT NOT NULL,
        baseline       DOUBLE PRECISION,
        mean_reward    DOUBLE PRECISION NOT NULL,
        loss           DOUBLE PRECISION NOT NULL,
        grad_norm      DOUBLE PRECISION NOT NULL,
        mean_entropy   DOUBLE PRECISION NOT NULL,
        at             DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (experiment_id, samples)
    );
"#,
    r#"
    CREATE TABLE work (
        trial_id      BIGINT PRIMARY KEY REFERENCES trials(id),
        experiment_id BIGINT NOT NULL REFERENCES experiments(id),
        state         TEXT NOT NULL CHECK (state IN ('pending','leased','done')),
        owner         TEXT,
        lease_until   DOUBLE PRECISION,
        attempts      BIGINT NOT NULL DEFAULT 0,
        max_attempts  BIGINT NOT NULL,
        token         BIGINT NOT NULL DEFAULT 0,
        last_error    TEXT
    );
    CREATE INDEX work_by_state ON work (state, trial_id);
"#,
    r#"
    ALTER TABLE updates ADD COLUMN replica BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE updates ADD COLUMN sampled_version BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE updates ADD COLUMN staleness BIGINT NOT NULL DEFAULT 0;
    CREATE TABLE child_states (
        trial_id   BIGINT PRIMARY KEY REFERENCES trials(id),
        epoch      BIGINT NOT NULL,
        state      BYTEA NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
"#,
    r#"
    ALTER TABLE trials ADD COLUMN parent_id BIGINT;
    ALTER TABLE trials ADD COLUMN repeat_of BIGINT;
"#,
    // 4 → 5: the owners table SQLite stores use (a PostgreSQL search is led through an advisory
    // lock instead); kept so both schemas stay one.
    r#"
    CREATE TABLE owners (
        experiment_id BIGINT PRIMARY KEY,
        pid           BIGINT NOT NULL,
        host          TEXT NOT NULL,
        since         DOUBLE PRECISION NOT NULL
    );
    "#,
];

/// Advisory-lock key under which migrations run ("nas" schema).
const MIGRATION_LOCK: i64 = 0x6e61_735f_7363_6d61;

/// Whether `spec` names a PostgreSQL database (`postgres://…` or `postgresql://…`).
pub fn is_postgres_url(spec: &str) -> bool {
    spec.starts_with("postgres://") || spec.starts_with("postgresql://")
}

/// A store in a PostgreSQL database.
pub struct PgStore {
    client: Mutex<Client>,
    shown: String,
}

pub(crate) fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A store spec fit to print: a URL's password replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn trial_from_row(r: &Row) -> Result<TrialRow, StoreError> {
    let status: String = r.try_get(10)?;
    Ok(TrialRow {
        id: r.try_get(0)?,
        experiment_id: r.try_get(1)?,
        seq: r.try_get::<_, i64>(2)? as u64,
        arch: r.try_get(3)?,
        arch_json: r.try_get(4)?,
        tokens_json: r.try_get(5)?,
        log_prob: r.try_get(6)?,
        entropy: r.try_get(7)?,
        policy_version: r.try_get::<_, i64>(8)? as u64,
        depth: r.try_get::<_, i64>(9)? as u32,
        status: TrialStatus::parse(&status)
            .ok_or_else(|| StoreError::Conflict(format!("trial has an unknown status {status:?}")))?,
        reward: r.try_get(11)?,
        metrics_json: r.try_get(12)?,
        failure: r.try_get(13)?,
        created_at: r.try_get(14)?,
        finished_at: r.try_get(15)?,
        eval_seconds: r.try_get(16)?,
        parent_id: r.try_get(17)?,
        repeat_of: r.try_get(18)?,
    })
}

fn experiment_from_row(r: &Row) -> Result<Experiment, StoreError> {
    Ok(Experiment {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        space: r.try_get(2)?,
        strategy: r.try_get(3)?,
        seed: r.try_get::<_, i64>(4)? as u64,
        config_json: r.try_get(5)?,
        status: r.try_get(6)?,
        created_at: r.try_get(7)?,
    })
}

/// The connection settings of `url`, the password from `PGPASSWORD` when the URL has none.
pub(crate) fn pg_config(url: &str, shown: &str) -> Result<postgres::Config, StoreError> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Open { path: shown.to_string(), reason: format!("not a PostgreSQL URL: {e}") })?;
    if config.get_password().is_none()
        && let Ok(p) = std::env::var("PGPASSWORD")
    {
        config.password(p);
    }
    Ok(config)
}

impl PgStore {
    /// Connect to `url` (`postgres://user[:password]@host[:port]/db`, or `postgresql://`; the
    /// password may also come from `PGPASSWORD`) and migrate the schema forward.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let shown = redact(url);
        let open_err = |reason: String| StoreError::Open { path: shown.clone(), reason };
        let config = pg_config(url, &shown)?;
        let client = config.connect(NoTls).map_err(|e| {
            let cause = std::error::Error::source(&e).map(|c| format!(" ({c})")).unwrap_or_default();
            open_err(format!("cannot connect: {e}{cause}"))
        })?;
        let store = PgStore { client: Mutex::new(client), shown };
        store.migrate()?;
        Ok(store)
    }

    pub(crate) fn db(&self) -> std::sync::MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS nas_schema (version BIGINT NOT NULL)")?;
        let version: i64 = match tx.query_opt("SELECT version FROM nas_schema", &[])? {
            Some(r) => r.try_get(0)?,
            None => {
                let foreign: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() \
                         AND table_name IN ('experiments', 'trials', 'checkpoints', 'updates')",
                        &[],
                    )?
                    .try_get(0)?;
                if foreign > 0 {
                    return Err(StoreError::Open {
                        path: self.shown.clone(),
                        reason: "this database has tables named like nas's but no nas_schema version; use another \
                                 database"
                            .into(),
                    });
                }
                tx.execute("INSERT INTO nas_schema (version) VALUES (0)", &[])?;
                0
            }
        };
        let supported = PG_MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::TooNew { path: self.shown.clone(), found: version, supported });
        }
        for (i, sql) in PG_MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(sql)?;
            tx.execute("UPDATE nas_schema SET version = $1", &[&((i + 1) as i64)])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The URL shown in messages (password hidden).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.db().query_one("SELECT version FROM nas_schema", &[])?.try_get(0)?)
    }
}

impl TrialStore for PgStore {
    fn create_experiment(&self, e: &NewExperiment) -> Result<Experiment, StoreError> {
        let at = now();
        let row = self
            .db()
            .query_opt(
                "INSERT INTO experiments (name, space, strategy, seed, config_json, status, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'running', $6) ON CONFLICT (name) DO NOTHING RETURNING id",
                &[&e.name, &e.space, &e.strategy, &(e.seed as i64), &e.config_json, &at],
            )?
            .ok_or_else(|| StoreError::Exists(e.name.clone()))?;
        Ok(Experiment {
            id: row.try_get(0)?,
            name: e.name.clone(),
            space: e.space.clone(),
            strategy: e.strategy.clone(),
            seed: e.seed,
            config_json: e.config_json.clone(),
            status: "running".into(),
            created_at: at,
        })
    }

    fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, StoreError> {
        let sql = format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE name = $1");
        self.db().query_opt(&sql, &[&name])?.map(|r| experiment_from_row(&r)).transpose()
    }

    fn experiment(&self, id: i64) -> Result<Option<Experiment>, StoreError> {
        let sql = format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE id = $1");
        self.db().query_opt(&sql, &[&id])?.map(|r| experiment_from_row(&r)).transpose()
    }

    fn experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        let sql = format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments ORDER BY id");
        self.db().query(&sql, &[])?.iter().map(experiment_from_row).collect()
    }

    fn set_experiment_status(&self, id: i64, status: &str) -> Result<(), StoreError> {
        let n = self.db().execute("UPDATE experiments SET status = $2 WHERE id = $1", &[&id, &status])?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no experiment with id {id}")));
        }
        Ok(())
    }

    fn insert_trial(&self, t: &NewTrial) -> Result<i64, StoreError> {
        let exists = self.experiment(t.experiment_id)?.is_some();
        let row = if exists {
            self.db().query_opt(
                "INSERT INTO trials (experiment_id, seq, arch, arch_json, tokens_json, log_prob, entropy, \
                 policy_version, depth, status, created_at, parent_id, repeat_of) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'running', $10, $11, $12) \
                 ON CONFLICT (experiment_id, seq) DO NOTHING RETURNING id",
                &[
                    &t.experiment_id,
                    &(t.seq as i64),
                    &t.arch,
                    &t.arch_json,
                    &t.tokens_json,
                    &t.log_prob,
                    &t.entropy,
                    &(t.policy_version as i64),
                    &(t.depth as i64),
                    &now(),
                    &t.parent_id,
                    &t.repeat_of,
                ],
            )?
        } else {
            None
        };
        let row = row.ok_or_else(|| {
            StoreError::Conflict(format!(
                "experiment {} already has a trial at sample {} (or the experiment does not exist)",
                t.experiment_id, t.seq
            ))
        })?;
        Ok(row.try_get(0)?)
    }

    fn restart_trial(&self, id: i64) -> Result<(), StoreError> {
        let n = self.db().execute(
            "UPDATE trials SET status = 'running', reward = NULL, metrics_json = NULL, failure = NULL, \
             finished_at = NULL, eval_seconds = NULL WHERE id = $1",
            &[&id],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no trial with id {id}")));
        }
        Ok(())
    }

    fn finish_trial(&self, id: i64, r: &TrialResult) -> Result<(), StoreError> {
        if r.status == TrialStatus::Running {
            return Err(StoreError::Conflict("a trial cannot finish as running".into()));
        }
        let n = self.db().execute(
            "UPDATE trials SET status = $2, reward = $3, metrics_json = $4, failure = $5, finished_at = $6, \
             eval_seconds = $7 WHERE id = $1 AND status = 'running'",
            &[&id, &r.status.as_str(), &r.reward, &r.metrics_json, &r.failure, &now(), &r.eval_seconds],
        )?;
        if n == 0 {
            return Err(match self.trial(id)? {
                None => StoreError::NotFound(format!("no trial with id {id}")),
                Some(t) => StoreError::Conflict(format!("trial {id} is {}, not running", t.status.as_str())),
            });
        }
        Ok(())
    }

    fn trial(&self, id: i64) -> Result<Option<TrialRow>, StoreError> {
        let sql = format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE id = $1");
        self.db().query_opt(&sql, &[&id])?.map(|r| trial_from_row(&r)).transpose()
    }

    fn trial_at(&self, experiment_id: i64, seq: u64) -> Result<Option<TrialRow>, StoreError> {
        let sql = format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE experiment_id = $1 AND seq = $2");
        self.db().query_opt(&sql, &[&experiment_id, &(seq as i64)])?.map(|r| trial_from_row(&r)).transpose()
    }

    fn trials(&self, experiment_id: i64) -> Result<Vec<TrialRow>, StoreError> {
        let sql = format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE experiment_id = $1 ORDER BY seq");
        self.db().query(&sql, &[&experiment_id])?.iter().map(trial_from_row).collect()
    }

    fn top(&self, experiment_id: Option<i64>, k: usize) -> Result<Vec<TrialRow>, StoreError> {
        let sql = format!(
            "SELECT {TRIAL_COLUMNS} FROM trials WHERE status = 'completed' AND repeat_of IS NULL \
             AND ($1::BIGINT IS NULL OR experiment_id = $1) ORDER BY reward DESC, id ASC LIMIT $2"
        );
        self.db().query(&sql, &[&experiment_id, &(k as i64)])?.iter().map(trial_from_row).collect()
    }

    fn commit_update(&self, c: &Checkpoint, updates: &[UpdateRow]) -> Result<(), StoreError> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        let at = now();
        tx.execute(
            "INSERT INTO checkpoints (experiment_id, samples, policy_version, baseline, state, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (experiment_id) DO UPDATE SET \
             samples = excluded.samples, policy_version = excluded.policy_version, baseline = excluded.baseline, \
             state = excluded.state, updated_at = excluded.updated_at",
            &[&c.experiment_id, &(c.samples as i64), &(c.policy_version as i64), &c.baseline, &c.state, &at],
        )?;
        for u in updates {
            tx.execute(
                &format!(
                    "INSERT INTO updates ({UPDATE_COLUMNS}, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ),
                &[
                    &u.experiment_id,
                    &(u.policy_version as i64),
                    &(u.samples as i64),
                    &u.baseline,
                    &u.mean_reward,
                    &u.loss,
                    &u.grad_norm,
                    &u.mean_entropy,
                    &(u.replica as i64),
                    &(u.sampled_version as i64),
                    &(u.staleness as i64),
                    &at,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn checkpoint(&self, experiment_id: i64) -> Result<Option<Checkpoint>, StoreError> {
        let row = self.db().query_opt(
            "SELECT experiment_id, samples, policy_version, baseline, state FROM checkpoints WHERE experiment_id = $1",
            &[&experiment_id],
        )?;
        row.map(|r| {
            Ok(Checkpoint {
                experiment_id: r.try_get(0)?,
                samples: r.try_get::<_, i64>(1)? as u64,
                policy_version: r.try_get::<_, i64>(2)? as u64,
                baseline: r.try_get(3)?,
                state: r.try_get(4)?,
            })
        })
        .transpose()
    }

    fn updates(&self, experiment_id: i64) -> Result<Vec<UpdateRow>, StoreError> {
        let rows = self.db().query(
            &format!("SELECT {UPDATE_COLUMNS} FROM updates WHERE experiment_id = $1 ORDER BY samples"),
            &[&experiment_id],
        )?;
        rows.iter()
            .map(|r| {
                Ok(UpdateRow {
                    experiment_id: r.try_get(0)?,
                    policy_version: r.try_get::<_, i64>(1)? as u64,
                    samples: r.try_get::<_, i64>(2)? as u64,
                    baseline: r.try_get(3)?,
                    mean_reward: r.try_get(4)?,
                    loss: r.try_get(5)?,
                    grad_norm: r.try_get(6)?,
                    mean_entropy: r.try_get(7)?,
                    replica: r.try_get::<_, i64>(8)? as u32,
                    sampled_version: r.try_get::<_, i64>(9)? as u64,
                    staleness: r.try_get::<_, i64>(10)? as u64,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_and_passwords_hidden() {
        assert!(is_postgres_url("postgres://u@h/db") && is_postgres_url("postgresql://h/db"));
        assert!(!is_postgres_url("nas.db"));
        assert_eq!(redact("postgres://nas:secret@db:5432/nas"), "postgres://nas:***@db:5432/nas");
        assert_eq!(redact("postgresql://nas@db/nas"), "postgresql://nas@db/nas");
    }
}
