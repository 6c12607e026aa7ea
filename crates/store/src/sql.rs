//! One implementation of [`TrialStore`] for both databases: every statement is written once (in
//! PostgreSQL's `$N` placeholders; SQLite reads them as `?N`), every row is decoded once, and a
//! driver supplies only the two small traits below — [`Exec`] (run a statement, walk its rows)
//! and [`Database`] (a transaction; SQLite's experiment ownership). [`Sql`] is the store over
//! any such driver; [`crate::SqliteStore`] and [`crate::PgStore`] forward to it.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::schema::{EXPERIMENT_COLUMNS, TRIAL_COLUMNS, UPDATE_COLUMNS};
use crate::{
    Checkpoint, Experiment, NewExperiment, NewTrial, StoreError, TrialResult, TrialRow, TrialStatus, TrialStore,
    UpdateRow,
};

/// Unix time in seconds, as the tables store it.
pub(crate) fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A statement's argument, in the few types the tables use.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Real(f64),
    OptReal(Option<f64>),
    Text(&'a str),
    OptText(Option<&'a str>),
    Bytes(&'a [u8]),
}

/// The columns of one result row, by position.
pub(crate) trait Cells {
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn real(&self, i: usize) -> Result<f64, StoreError>;
    fn opt_real(&self, i: usize) -> Result<Option<f64>, StoreError>;
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError>;
}

/// What [`Exec::each`] hands every result row to.
pub(crate) type EachRow<'a> = &'a mut dyn FnMut(&dyn Cells) -> Result<(), StoreError>;

/// A connection (or an open transaction) that runs statements written with `$N` placeholders.
pub(crate) trait Exec {
    /// Run a statement; the number of rows it changed.
    fn execute(&self, sql: &str, args: &[Arg]) -> Result<u64, StoreError>;
    /// Run a query and hand each result row to `row`, in order.
    fn each(&self, sql: &str, args: &[Arg], row: EachRow) -> Result<(), StoreError>;
}

/// A database the tables live in.
pub(crate) trait Database: Exec {
    /// Run `work` in one transaction: committed when it returns `Ok`, rolled back otherwise.
    fn atomically(&self, work: &mut dyn FnMut(&dyn Exec) -> Result<(), StoreError>) -> Result<(), StoreError>;
    /// [`TrialStore::own_experiment`].
    fn own(&self, experiment_id: i64) -> Result<(), StoreError>;
    /// [`TrialStore::disown_experiment`].
    fn disown(&self, experiment_id: i64) -> Result<(), StoreError>;
}

/// Implement [`Cells`] for a driver's row type whose typed getter is `$get` (`Result<T, E>` with
/// `E` into [`StoreError`]).
macro_rules! cells_by {
    ($row:ty, $get:ident) => {
        impl $crate::sql::Cells for $row {
            fn int(&self, i: usize) -> Result<i64, $crate::StoreError> {
                Ok(self.$get(i)?)
            }
            fn opt_int(&self, i: usize) -> Result<Option<i64>, $crate::StoreError> {
                Ok(self.$get(i)?)
            }
            fn real(&self, i: usize) -> Result<f64, $crate::StoreError> {
                Ok(self.$get(i)?)
            }
            fn opt_real(&self, i: usize) -> Result<Option<f64>, $crate::StoreError> {
                Ok(self.$get(i)?)
            }
            fn text(&self, i: usize) -> Result<String, $crate::StoreError> {
                Ok(self.$get(i)?)
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>, $crate::StoreError> {
                Ok(self.$get(i)?)
            }
            fn bytes(&self, i: usize) -> Result<Vec<u8>, $crate::StoreError> {
                Ok(self.$get(i)?)
            }
        }
    };
}
pub(crate) use cells_by;

/// The arguments `$args` as references to a driver's parameter trait object `$param`.
macro_rules! bind {
    ($args:expr, $param:ty) => {
        $args
            .iter()
            .map(|a| -> &$param {
                use $crate::sql::Arg;
                match a {
                    Arg::Int(v) => v,
                    Arg::OptInt(v) => v,
                    Arg::Real(v) => v,
                    Arg::OptReal(v) => v,
                    Arg::Text(v) => v,
                    Arg::OptText(v) => v,
                    Arg::Bytes(v) => v,
                }
            })
            .collect::<Vec<_>>()
    };
}
pub(crate) use bind;

/// Every row of a query, decoded.
pub(crate) fn query<T>(
    db: &(impl Exec + ?Sized),
    sql: &str,
    args: &[Arg],
    decode: fn(&dyn Cells) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    db.each(sql, args, &mut |r| {
        out.push(decode(r)?);
        Ok(())
    })?;
    Ok(out)
}

/// The first row of a query, decoded (None: no row).
pub(crate) fn query_opt<T>(
    db: &(impl Exec + ?Sized),
    sql: &str,
    args: &[Arg],
    decode: fn(&dyn Cells) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    Ok(query(db, sql, args, decode)?.into_iter().next())
}

fn trial_from_row(r: &dyn Cells) -> Result<TrialRow, StoreError> {
    let status = r.text(10)?;
    Ok(TrialRow {
        id: r.int(0)?,
        experiment_id: r.int(1)?,
        seq: r.int(2)? as u64,
        arch: r.text(3)?,
        arch_json: r.text(4)?,
        tokens_json: r.text(5)?,
        log_prob: r.real(6)?,
        entropy: r.real(7)?,
        policy_version: r.int(8)? as u64,
        depth: r.int(9)? as u32,
        status: TrialStatus::parse(&status)
            .ok_or_else(|| StoreError::Conflict(format!("trial has an unknown status {status:?}")))?,
        reward: r.opt_real(11)?,
        metrics_json: r.opt_text(12)?,
        failure: r.opt_text(13)?,
        created_at: r.real(14)?,
        finished_at: r.opt_real(15)?,
        eval_seconds: r.opt_real(16)?,
        parent_id: r.opt_int(17)?,
        repeat_of: r.opt_int(18)?,
    })
}

fn experiment_from_row(r: &dyn Cells) -> Result<Experiment, StoreError> {
    Ok(Experiment {
        id: r.int(0)?,
        name: r.text(1)?,
        space: r.text(2)?,
        strategy: r.text(3)?,
        seed: r.int(4)? as u64,
        config_json: r.text(5)?,
        status: r.text(6)?,
        created_at: r.real(7)?,
    })
}

fn checkpoint_from_row(r: &dyn Cells) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        experiment_id: r.int(0)?,
        samples: r.int(1)? as u64,
        policy_version: r.int(2)? as u64,
        baseline: r.opt_real(3)?,
        state: r.bytes(4)?,
    })
}

fn update_from_row(r: &dyn Cells) -> Result<UpdateRow, StoreError> {
    Ok(UpdateRow {
        experiment_id: r.int(0)?,
        policy_version: r.int(1)? as u64,
        samples: r.int(2)? as u64,
        baseline: r.opt_real(3)?,
        mean_reward: r.real(4)?,
        loss: r.real(5)?,
        grad_norm: r.real(6)?,
        mean_entropy: r.real(7)?,
        replica: r.int(8)? as u32,
        sampled_version: r.int(9)? as u64,
        staleness: r.int(10)? as u64,
    })
}

fn id_from_row(r: &dyn Cells) -> Result<i64, StoreError> {
    r.int(0)
}

/// The store over a driver: `Sql(&db)` is a [`TrialStore`] whenever `db` is a [`Database`].
pub(crate) struct Sql<'a, D: ?Sized>(pub &'a D);

impl<D: Database + ?Sized> TrialStore for Sql<'_, D> {
    fn create_experiment(&self, e: &NewExperiment) -> Result<Experiment, StoreError> {
        let at = now();
        let id = query_opt(
            self.0,
            "INSERT INTO experiments (name, space, strategy, seed, config_json, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'running', $6) ON CONFLICT (name) DO NOTHING RETURNING id",
            &[
                Arg::Text(&e.name),
                Arg::Text(&e.space),
                Arg::Text(&e.strategy),
                Arg::Int(e.seed as i64),
                Arg::Text(&e.config_json),
                Arg::Real(at),
            ],
            id_from_row,
        )?
        .ok_or_else(|| StoreError::Exists(e.name.clone()))?;
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
        let sql = format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE name = $1");
        query_opt(self.0, &sql, &[Arg::Text(name)], experiment_from_row)
    }

    fn experiment(&self, id: i64) -> Result<Option<Experiment>, StoreError> {
        let sql = format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE id = $1");
        query_opt(self.0, &sql, &[Arg::Int(id)], experiment_from_row)
    }

    fn experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        query(self.0, &format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments ORDER BY id"), &[], experiment_from_row)
    }

    fn set_experiment_status(&self, id: i64, status: &str) -> Result<(), StoreError> {
        let n =
            self.0.execute("UPDATE experiments SET status = $2 WHERE id = $1", &[Arg::Int(id), Arg::Text(status)])?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no experiment with id {id}")));
        }
        Ok(())
    }

    fn insert_trial(&self, t: &NewTrial) -> Result<i64, StoreError> {
        // Experiments are never deleted, so one that exists now still does at the insert.
        let id = match self.experiment(t.experiment_id)? {
            None => None,
            Some(_) => query_opt(
                self.0,
                "INSERT INTO trials (experiment_id, seq, arch, arch_json, tokens_json, log_prob, entropy, \
                 policy_version, depth, status, created_at, parent_id, repeat_of) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'running', $10, $11, $12) \
                 ON CONFLICT (experiment_id, seq) DO NOTHING RETURNING id",
                &[
                    Arg::Int(t.experiment_id),
                    Arg::Int(t.seq as i64),
                    Arg::Text(&t.arch),
                    Arg::Text(&t.arch_json),
                    Arg::Text(&t.tokens_json),
                    Arg::Real(t.log_prob),
                    Arg::Real(t.entropy),
                    Arg::Int(t.policy_version as i64),
                    Arg::Int(t.depth as i64),
                    Arg::Real(now()),
                    Arg::OptInt(t.parent_id),
                    Arg::OptInt(t.repeat_of),
                ],
                id_from_row,
            )?,
        };
        id.ok_or_else(|| {
            StoreError::Conflict(format!(
                "experiment {} already has a trial at sample {} (or the experiment does not exist)",
                t.experiment_id, t.seq
            ))
        })
    }

    fn restart_trial(&self, id: i64) -> Result<(), StoreError> {
        let n = self.0.execute(
            "UPDATE trials SET status = 'running', reward = NULL, metrics_json = NULL, failure = NULL, \
             finished_at = NULL, eval_seconds = NULL WHERE id = $1",
            &[Arg::Int(id)],
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
        let n = self.0.execute(
            "UPDATE trials SET status = $2, reward = $3, metrics_json = $4, failure = $5, finished_at = $6, \
             eval_seconds = $7 WHERE id = $1 AND status = 'running'",
            &[
                Arg::Int(id),
                Arg::Text(r.status.as_str()),
                Arg::OptReal(r.reward),
                Arg::OptText(r.metrics_json.as_deref()),
                Arg::OptText(r.failure.as_deref()),
                Arg::Real(now()),
                Arg::Real(r.eval_seconds),
            ],
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
        query_opt(self.0, &sql, &[Arg::Int(id)], trial_from_row)
    }

    fn trial_at(&self, experiment_id: i64, seq: u64) -> Result<Option<TrialRow>, StoreError> {
        let sql = format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE experiment_id = $1 AND seq = $2");
        query_opt(self.0, &sql, &[Arg::Int(experiment_id), Arg::Int(seq as i64)], trial_from_row)
    }

    fn trials(&self, experiment_id: i64) -> Result<Vec<TrialRow>, StoreError> {
        let sql = format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE experiment_id = $1 ORDER BY seq");
        query(self.0, &sql, &[Arg::Int(experiment_id)], trial_from_row)
    }

    fn top(&self, experiment_id: Option<i64>, k: usize) -> Result<Vec<TrialRow>, StoreError> {
        let sql = format!(
            "SELECT {TRIAL_COLUMNS} FROM trials WHERE status = 'completed' AND repeat_of IS NULL \
             AND (CAST($1 AS BIGINT) IS NULL OR experiment_id = $1) ORDER BY reward DESC, id ASC LIMIT $2"
        );
        query(self.0, &sql, &[Arg::OptInt(experiment_id), Arg::Int(k as i64)], trial_from_row)
    }

    fn commit_update(&self, c: &Checkpoint, updates: &[UpdateRow]) -> Result<(), StoreError> {
        let at = now();
        let insert_update = format!(
            "INSERT INTO updates ({UPDATE_COLUMNS}, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        self.0.atomically(&mut |tx| {
            tx.execute(
                "INSERT INTO checkpoints (experiment_id, samples, policy_version, baseline, state, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (experiment_id) DO UPDATE SET \
                 samples = excluded.samples, policy_version = excluded.policy_version, \
                 baseline = excluded.baseline, state = excluded.state, updated_at = excluded.updated_at",
                &[
                    Arg::Int(c.experiment_id),
                    Arg::Int(c.samples as i64),
                    Arg::Int(c.policy_version as i64),
                    Arg::OptReal(c.baseline),
                    Arg::Bytes(&c.state),
                    Arg::Real(at),
                ],
            )?;
            for u in updates {
                tx.execute(
                    &insert_update,
                    &[
                        Arg::Int(u.experiment_id),
                        Arg::Int(u.policy_version as i64),
                        Arg::Int(u.samples as i64),
                        Arg::OptReal(u.baseline),
                        Arg::Real(u.mean_reward),
                        Arg::Real(u.loss),
                        Arg::Real(u.grad_norm),
                        Arg::Real(u.mean_entropy),
                        Arg::Int(u.replica as i64),
                        Arg::Int(u.sampled_version as i64),
                        Arg::Int(u.staleness as i64),
                        Arg::Real(at),
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn checkpoint(&self, experiment_id: i64) -> Result<Option<Checkpoint>, StoreError> {
        query_opt(
            self.0,
            "SELECT experiment_id, samples, policy_version, baseline, state FROM checkpoints WHERE experiment_id = $1",
            &[Arg::Int(experiment_id)],
            checkpoint_from_row,
        )
    }

    fn updates(&self, experiment_id: i64) -> Result<Vec<UpdateRow>, StoreError> {
        let sql = format!("SELECT {UPDATE_COLUMNS} FROM updates WHERE experiment_id = $1 ORDER BY samples");
        query(self.0, &sql, &[Arg::Int(experiment_id)], update_from_row)
    }

    fn own_experiment(&self, experiment_id: i64) -> Result<(), StoreError> {
        self.0.own(experiment_id)
    }

    fn disown_experiment(&self, experiment_id: i64) -> Result<(), StoreError> {
        self.0.disown(experiment_id)
    }
}
