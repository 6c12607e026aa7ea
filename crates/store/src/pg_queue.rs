//! [`WorkQueue`](crate::WorkQueue) on PostgreSQL: `FOR UPDATE SKIP LOCKED` claims, leases with
//! fencing tokens, and LISTEN/NOTIFY so idle workers sleep until work is queued.

use fallible_iterator::FallibleIterator;

use crate::sql::now;
use crate::{PgStore, StoreError, TrialResult};

/// The channel `enqueue` notifies and idle workers listen on.
const WORK_CHANNEL: &str = "nas_work";

impl crate::WorkQueue for PgStore {
    fn enqueue(&self, experiment_id: i64, trial_ids: &[i64], max_attempts: u32) -> Result<(), StoreError> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        for id in trial_ids {
            // Queuing again (a resumed coordinator) leaves a trial alone: pending stays pending, a
            // worker's lease is kept, and a finished trial stays finished.
            tx.execute(
                "INSERT INTO work (trial_id, experiment_id, state, max_attempts) VALUES ($1, $2, 'pending', $3) \
                 ON CONFLICT (trial_id) DO NOTHING",
                &[id, &experiment_id, &(max_attempts as i64)],
            )?;
        }
        tx.batch_execute(&format!("NOTIFY {WORK_CHANNEL}"))?;
        tx.commit()?;
        Ok(())
    }

    fn claim(&self, owner: &str, lease_seconds: f64) -> Result<Option<crate::Claim>, StoreError> {
        let t = now();
        let row = self.db().query_opt(
            "UPDATE work SET state = 'leased', owner = $1, lease_until = $2::DOUBLE PRECISION + $3::DOUBLE PRECISION, attempts = attempts + 1, \
             token = token + 1 \
             WHERE trial_id = (SELECT trial_id FROM work \
                 WHERE (state = 'pending' OR (state = 'leased' AND lease_until < $2::DOUBLE PRECISION)) AND attempts < max_attempts \
                 ORDER BY trial_id FOR UPDATE SKIP LOCKED LIMIT 1) \
             RETURNING trial_id, experiment_id, token, attempts",
            &[&owner, &t, &lease_seconds],
        )?;
        row.map(|r| {
            Ok(crate::Claim {
                trial_id: r.try_get(0)?,
                experiment_id: r.try_get(1)?,
                token: r.try_get(2)?,
                attempt: r.try_get(3)?,
            })
        })
        .transpose()
    }

    fn heartbeat(&self, c: &crate::Claim, lease_seconds: f64) -> Result<bool, StoreError> {
        let n = self.db().execute(
            "UPDATE work SET lease_until = $3::DOUBLE PRECISION + $4::DOUBLE PRECISION WHERE trial_id = $1 AND token = $2 AND state = 'leased'",
            &[&c.trial_id, &c.token, &now(), &lease_seconds],
        )?;
        Ok(n == 1)
    }

    fn complete(&self, c: &crate::Claim, r: &TrialResult) -> Result<bool, StoreError> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        let n = tx.execute(
            "UPDATE work SET state = 'done', lease_until = NULL WHERE trial_id = $1 AND token = $2 AND state = 'leased'",
            &[&c.trial_id, &c.token],
        )?;
        if n == 0 {
            return Ok(false);
        }
        let n = tx.execute(
            "UPDATE trials SET status = $2, reward = $3, metrics_json = $4, failure = $5, finished_at = $6, \
             eval_seconds = $7 WHERE id = $1 AND status = 'running'",
            &[&c.trial_id, &r.status.as_str(), &r.reward, &r.metrics_json, &r.failure, &now(), &r.eval_seconds],
        )?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute("DELETE FROM child_states WHERE trial_id = $1", &[&c.trial_id])?;
        tx.commit()?;
        Ok(true)
    }

    fn save_child_state(&self, c: &crate::Claim, epoch: u64, state: &[u8]) -> Result<bool, StoreError> {
        // Written only while the claim holds: one statement, so a lost lease cannot interleave.
        let n = self.db().execute(
            "INSERT INTO child_states (trial_id, epoch, state, updated_at) \
             SELECT $1, $3, $4, $5 FROM work WHERE trial_id = $1 AND token = $2 AND state = 'leased' \
             ON CONFLICT (trial_id) DO UPDATE SET epoch = excluded.epoch, state = excluded.state, \
             updated_at = excluded.updated_at",
            &[&c.trial_id, &c.token, &(epoch as i64), &state, &now()],
        )?;
        Ok(n == 1)
    }

    fn child_state(&self, trial_id: i64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let row = self.db().query_opt("SELECT epoch, state FROM child_states WHERE trial_id = $1", &[&trial_id])?;
        row.map(|r| Ok((r.try_get::<_, i64>(0)? as u64, r.try_get(1)?))).transpose()
    }

    fn fail_exhausted(&self) -> Result<u64, StoreError> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        let rows = tx.query(
            "UPDATE work SET state = 'done' WHERE state = 'leased' AND lease_until < $1 AND attempts >= max_attempts \
             RETURNING trial_id, attempts",
            &[&now()],
        )?;
        for r in &rows {
            let (id, attempts): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
            tx.execute(
                "UPDATE trials SET status = 'failed', reward = 0, failure = $2, finished_at = $3, eval_seconds = 0 \
                 WHERE id = $1 AND status = 'running'",
                &[&id, &format!("no worker finished it: its lease expired after {attempts} attempt(s)"), &now()],
            )?;
            tx.execute("DELETE FROM child_states WHERE trial_id = $1", &[&id])?;
        }
        tx.commit()?;
        Ok(rows.len() as u64)
    }

    fn counts(&self, experiment_id: i64) -> Result<crate::QueueCounts, StoreError> {
        let rows = self
            .db()
            .query("SELECT state, count(*) FROM work WHERE experiment_id = $1 GROUP BY state", &[&experiment_id])?;
        let mut c = crate::QueueCounts::default();
        for r in rows {
            let (state, n): (String, i64) = (r.try_get(0)?, r.try_get(1)?);
            match state.as_str() {
                "pending" => c.pending = n as u64,
                "leased" => c.leased = n as u64,
                _ => c.done = n as u64,
            }
        }
        Ok(c)
    }

    fn wait_for_work(&self, timeout_seconds: f64) -> Result<(), StoreError> {
        let mut db = self.db();
        db.batch_execute(&format!("LISTEN {WORK_CHANNEL}"))?;
        let mut n = db.notifications();
        let timeout = std::time::Duration::from_secs_f64(timeout_seconds.max(0.0));
        // One notification (or the timeout) is enough; drain what else arrived.
        let mut it = n.timeout_iter(timeout);
        let _ = it.next()?;
        drop(it);
        while n.iter().next()?.is_some() {}
        Ok(())
    }
}

/// Leadership of one experiment: a PostgreSQL session-level advisory lock held on its own
/// connection for as long as this value lives (and released by the server when the process
/// dies, however it dies).
pub struct Leadership {
    _conn: postgres::Client,
}

/// The advisory-lock key of an experiment name (FNV-1a, stable across builds).
fn leader_key(experiment: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "nas-leader:".bytes().chain(experiment.bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h as i64
}

impl PgStore {
    /// Become the one coordinator of `experiment`. When another process leads it, `on_wait` is
    /// called once and this blocks until that process ends (a standby), then returns.
    pub fn lead(&self, url: &str, experiment: &str, on_wait: impl FnOnce()) -> Result<Leadership, StoreError> {
        let mut conn = crate::pg::pg_config(url, self.shown())?.connect(postgres::NoTls)?;
        let key = leader_key(experiment);
        let got: bool = conn.query_one("SELECT pg_try_advisory_lock($1)", &[&key])?.try_get(0)?;
        if !got {
            on_wait();
            conn.execute("SELECT pg_advisory_lock($1)", &[&key])?;
        }
        Ok(Leadership { _conn: conn })
    }
}
