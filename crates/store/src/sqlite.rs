//! [`SqliteStore`]: the embedded default store (rusqlite, bundled SQLite, WAL journal).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::schema::{EXPERIMENT_COLUMNS, MIGRATIONS, TRIAL_COLUMNS, UPDATE_COLUMNS, VERSION};
use crate::{
    Checkpoint, Experiment, NewExperiment, NewTrial, StoreError, TrialResult, TrialRow, TrialStatus, TrialStore,
    UpdateRow,
};

/// Why SQLite refused a file, in the user's words: read-only media and full disks are not "not a
/// database".
fn why_unopenable(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::ReadOnly) => "read-only (the file, its directory or the medium cannot be written; nas keeps a \
                              write-ahead journal beside the store, so even reading needs write access)"
            .into(),
        Some(C::CannotOpen) | Some(C::PermissionDenied) => format!("cannot be opened ({e})"),
        Some(C::DiskFull) => "the disk is full".into(),
        Some(C::DatabaseCorrupt) => format!("damaged ({e}); restore a copy or run `sqlite3 FILE .recover`"),
        _ => format!("not a SQLite database ({e})"),
    }
}

/// A store in one SQLite file (or in memory).
pub struct SqliteStore {
    conn: Connection,
    path: String,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn trial_from_row(r: &Row) -> rusqlite::Result<TrialRow> {
    let status: String = r.get(10)?;
    Ok(TrialRow {
        id: r.get(0)?,
        experiment_id: r.get(1)?,
        seq: r.get::<_, i64>(2)? as u64,
        arch: r.get(3)?,
        arch_json: r.get(4)?,
        tokens_json: r.get(5)?,
        log_prob: r.get(6)?,
        entropy: r.get(7)?,
        policy_version: r.get::<_, i64>(8)? as u64,
        depth: r.get::<_, i64>(9)? as u32,
        status: TrialStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                10,
                rusqlite::types::Type::Text,
                format!("status {status:?}").into(),
            )
        })?,
        reward: r.get(11)?,
        metrics_json: r.get(12)?,
        failure: r.get(13)?,
        created_at: r.get(14)?,
        finished_at: r.get(15)?,
        eval_seconds: r.get(16)?,
        parent_id: r.get(17)?,
        repeat_of: r.get(18)?,
    })
}

fn experiment_from_row(r: &Row) -> rusqlite::Result<Experiment> {
    Ok(Experiment {
        id: r.get(0)?,
        name: r.get(1)?,
        space: r.get(2)?,
        strategy: r.get(3)?,
        seed: r.get::<_, i64>(4)? as u64,
        config_json: r.get(5)?,
        status: r.get(6)?,
        created_at: r.get(7)?,
    })
}

impl SqliteStore {
    /// Open (creating if needed) the store at `path`, migrating its schema forward.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let open_err = |reason: String| StoreError::Open { path: shown.clone(), reason };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| open_err(format!("cannot create directory {}: {e}", parent.display())))?;
        }
        let conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        Self::init(conn, shown)
    }

    /// Open a store that must already exist (for commands that only read).
    pub fn open_existing(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::Open {
                path: path.display().to_string(),
                reason: "no such store (run `nas search --store PATH` first, or pass the right --store)".into(),
            });
        }
        Self::open(path)
    }

    /// A private in-memory store (for experiments and tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, ":memory:".into())
    }

    fn init(conn: Connection, path: String) -> Result<Self, StoreError> {
        let open_err = |reason: String| StoreError::Open { path: path.clone(), reason };
        conn.busy_timeout(Duration::from_secs(30))?;
        // WAL: readers (dashboard, `nas top`) never block the search; NORMAL sync is safe
        // against process crashes.
        let _: String =
            conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(|e| open_err(why_unopenable(&e)))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
        let mut store = SqliteStore { conn, path };
        store.migrate()?;
        Ok(store)
    }

    /// Bring the schema up to date. The version is read inside an IMMEDIATE transaction, so two
    /// processes opening a fresh store at once cannot both create it.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > VERSION {
            return Err(StoreError::TooNew { path, found: version, supported: VERSION });
        }
        if version == 0 {
            let tables: i64 =
                tx.query_row("SELECT count(*) FROM sqlite_master WHERE type='table'", [], |r| r.get(0))?;
            if tables > 0 {
                return Err(StoreError::Open {
                    path,
                    reason: "this SQLite file is not a nas store (it has other tables)".into(),
                });
            }
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Path shown in messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }
}

/// Whether process `pid` runs on this machine (not a zombie); Linux's `/proc`, false elsewhere.
fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// This machine's name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

impl TrialStore for SqliteStore {
    fn own_experiment(&self, experiment_id: i64) -> Result<(), StoreError> {
        let (me, host) = (std::process::id() as i64, hostname());
        let tx = self.conn.unchecked_transaction()?;
        let holder: Option<(i64, String, f64, String)> = tx
            .query_row(
                "SELECT o.pid, o.host, o.since, e.name FROM owners o JOIN experiments e ON e.id = o.experiment_id \
                 WHERE o.experiment_id = ?1",
                [experiment_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        if let Some((pid, their_host, since, name)) = holder
            && pid != me
            && their_host == host
            && alive(pid)
        {
            let ago = (now() - since).max(0.0);
            return Err(StoreError::Conflict(format!(
                "experiment {name:?} in {} is being run by process {pid} on this machine (for {ago:.0} s); wait \
                 for it to finish or stop it (kill -INT {pid}) before resuming",
                self.path
            )));
        }
        tx.execute(
            "INSERT INTO owners (experiment_id, pid, host, since) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (experiment_id) DO UPDATE SET pid = excluded.pid, host = excluded.host, since = excluded.since",
            params![experiment_id, me, host, now()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn disown_experiment(&self, experiment_id: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM owners WHERE experiment_id = ?1 AND pid = ?2",
            params![experiment_id, std::process::id() as i64],
        )?;
        Ok(())
    }

    fn create_experiment(&self, e: &NewExperiment) -> Result<Experiment, StoreError> {
        if self.experiment_by_name(&e.name)?.is_some() {
            return Err(StoreError::Exists(e.name.clone()));
        }
        let at = now();
        self.conn.execute(
            "INSERT INTO experiments (name, space, strategy, seed, config_json, status, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6)",
            params![e.name, e.space, e.strategy, e.seed as i64, e.config_json, at],
        )?;
        let id = self.conn.last_insert_rowid();
        Ok(Experiment {
            id,
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
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE name = ?1"),
                [name],
                experiment_from_row,
            )
            .optional()?)
    }

    fn experiment(&self, id: i64) -> Result<Option<Experiment>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE id = ?1"),
                [id],
                experiment_from_row,
            )
            .optional()?)
    }

    fn experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        let mut st = self.conn.prepare(&format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments ORDER BY id"))?;
        Ok(st.query_map([], experiment_from_row)?.collect::<Result<_, _>>()?)
    }

    fn set_experiment_status(&self, id: i64, status: &str) -> Result<(), StoreError> {
        let n = self.conn.execute("UPDATE experiments SET status = ?2 WHERE id = ?1", params![id, status])?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no experiment with id {id}")));
        }
        Ok(())
    }

    fn insert_trial(&self, t: &NewTrial) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO trials (experiment_id, seq, arch, arch_json, tokens_json, log_prob, entropy, \
                 policy_version, depth, status, created_at, parent_id, repeat_of) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'running', ?10, ?11, ?12)",
                params![
                    t.experiment_id,
                    t.seq as i64,
                    t.arch,
                    t.arch_json,
                    t.tokens_json,
                    t.log_prob,
                    t.entropy,
                    t.policy_version as i64,
                    t.depth as i64,
                    now(),
                    t.parent_id,
                    t.repeat_of
                ],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    StoreError::Conflict(format!(
                        "experiment {} already has a trial at sample {} (or the experiment does not exist)",
                        t.experiment_id, t.seq
                    ))
                }
                other => other.into(),
            })?;
        Ok(self.conn.last_insert_rowid())
    }

    fn restart_trial(&self, id: i64) -> Result<(), StoreError> {
        let n = self.conn.execute(
            "UPDATE trials SET status = 'running', reward = NULL, metrics_json = NULL, failure = NULL, \
             finished_at = NULL, eval_seconds = NULL WHERE id = ?1",
            [id],
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
        let n = self.conn.execute(
            "UPDATE trials SET status = ?2, reward = ?3, metrics_json = ?4, failure = ?5, finished_at = ?6, \
             eval_seconds = ?7 WHERE id = ?1 AND status = 'running'",
            params![id, r.status.as_str(), r.reward, r.metrics_json, r.failure, now(), r.eval_seconds],
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
        Ok(self
            .conn
            .query_row(&format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE id = ?1"), [id], trial_from_row)
            .optional()?)
    }

    fn trial_at(&self, experiment_id: i64, seq: u64) -> Result<Option<TrialRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE experiment_id = ?1 AND seq = ?2"),
                params![experiment_id, seq as i64],
                trial_from_row,
            )
            .optional()?)
    }

    fn trials(&self, experiment_id: i64) -> Result<Vec<TrialRow>, StoreError> {
        let mut st =
            self.conn.prepare(&format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE experiment_id = ?1 ORDER BY seq"))?;
        Ok(st.query_map([experiment_id], trial_from_row)?.collect::<Result<_, _>>()?)
    }

    fn top(&self, experiment_id: Option<i64>, k: usize) -> Result<Vec<TrialRow>, StoreError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {TRIAL_COLUMNS} FROM trials WHERE status = 'completed' AND repeat_of IS NULL \
             AND (?1 IS NULL OR experiment_id = ?1) ORDER BY reward DESC, id ASC LIMIT ?2"
        ))?;
        Ok(st.query_map(params![experiment_id, k as i64], trial_from_row)?.collect::<Result<_, _>>()?)
    }

    fn commit_update(&self, c: &Checkpoint, updates: &[UpdateRow]) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let at = now();
        tx.execute(
            "INSERT INTO checkpoints (experiment_id, samples, policy_version, baseline, state, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (experiment_id) DO UPDATE SET \
             samples = excluded.samples, policy_version = excluded.policy_version, baseline = excluded.baseline, \
             state = excluded.state, updated_at = excluded.updated_at",
            params![c.experiment_id, c.samples as i64, c.policy_version as i64, c.baseline, c.state, at],
        )?;
        for u in updates {
            tx.execute(
                &format!("INSERT INTO updates ({UPDATE_COLUMNS}, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
                params![
                    u.experiment_id,
                    u.policy_version as i64,
                    u.samples as i64,
                    u.baseline,
                    u.mean_reward,
                    u.loss,
                    u.grad_norm,
                    u.mean_entropy,
                    u.replica as i64,
                    u.sampled_version as i64,
                    u.staleness as i64,
                    at
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn checkpoint(&self, experiment_id: i64) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT experiment_id, samples, policy_version, baseline, state FROM checkpoints WHERE experiment_id = ?1",
                [experiment_id],
                |r| {
                    Ok(Checkpoint {
                        experiment_id: r.get(0)?,
                        samples: r.get::<_, i64>(1)? as u64,
                        policy_version: r.get::<_, i64>(2)? as u64,
                        baseline: r.get(3)?,
                        state: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    fn updates(&self, experiment_id: i64) -> Result<Vec<UpdateRow>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {UPDATE_COLUMNS} FROM updates WHERE experiment_id = ?1 ORDER BY samples"))?;
        Ok(st
            .query_map([experiment_id], |r| {
                Ok(UpdateRow {
                    experiment_id: r.get(0)?,
                    policy_version: r.get::<_, i64>(1)? as u64,
                    samples: r.get::<_, i64>(2)? as u64,
                    baseline: r.get(3)?,
                    mean_reward: r.get(4)?,
                    loss: r.get(5)?,
                    grad_norm: r.get(6)?,
                    mean_entropy: r.get(7)?,
                    replica: r.get::<_, i64>(8)? as u32,
                    sampled_version: r.get::<_, i64>(9)? as u64,
                    staleness: r.get::<_, i64>(10)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_failures_say_what_is_wrong() {
        let err = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        assert!(why_unopenable(&err(rusqlite::ffi::SQLITE_READONLY)).starts_with("read-only"));
        assert_eq!(why_unopenable(&err(rusqlite::ffi::SQLITE_FULL)), "the disk is full");
        assert!(why_unopenable(&err(rusqlite::ffi::SQLITE_CORRUPT)).starts_with("damaged"));
        assert!(why_unopenable(&err(rusqlite::ffi::SQLITE_NOTADB)).starts_with("not a SQLite database"));
        // A real file that is not a database.
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![7u8; 4096]).unwrap();
        let e = SqliteStore::open(&junk).err().unwrap().to_string();
        assert!(e.contains("junk.db") && e.contains("not a SQLite database"), "{e}");
    }
}
