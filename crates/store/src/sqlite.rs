//! [`SqliteStore`]: the embedded default store (rusqlite, bundled SQLite, WAL journal): opening
//! and migrating the file, which process owns an experiment, and the driver side of `sql.rs`,
//! which holds the statements both stores run.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::StoreError;
use crate::schema::{MIGRATIONS, VERSION};
use crate::sql::{Arg, Database, EachRow, Exec, bind, cells_by, now};

/// A shared statement in SQLite's words: its `$N` placeholders as `?N` (the statements hold no
/// other `$`).
fn dialect(sql: &str) -> String {
    sql.replace('$', "?")
}

cells_by!(Row<'_>, get);

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

impl Exec for Connection {
    fn execute(&self, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        Ok(self.prepare_cached(&dialect(sql))?.execute(&bind!(args, dyn ToSql)[..])? as u64)
    }

    fn each(&self, sql: &str, args: &[Arg], row: EachRow) -> Result<(), StoreError> {
        let mut st = self.prepare_cached(&dialect(sql))?;
        let mut rows = st.query(&bind!(args, dyn ToSql)[..])?;
        while let Some(r) = rows.next()? {
            row(r)?;
        }
        Ok(())
    }
}

impl Exec for SqliteStore {
    fn execute(&self, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        Exec::execute(&self.conn, sql, args)
    }

    fn each(&self, sql: &str, args: &[Arg], row: EachRow) -> Result<(), StoreError> {
        Exec::each(&self.conn, sql, args, row)
    }
}

impl Database for SqliteStore {
    fn atomically(&self, work: &mut dyn FnMut(&dyn Exec) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        work(&*tx)?;
        tx.commit()?;
        Ok(())
    }

    fn own(&self, experiment_id: i64) -> Result<(), StoreError> {
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

    fn disown(&self, experiment_id: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM owners WHERE experiment_id = ?1 AND pid = ?2",
            params![experiment_id, std::process::id() as i64],
        )?;
        Ok(())
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
