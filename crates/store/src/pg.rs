//! [`PgStore`]: the same store in PostgreSQL, for searches whose workers run on several
//! machines: the connection, the schema's migrations (SQLite's, read in PostgreSQL's types; the
//! version in table `nas_schema`, applied under an advisory lock so that processes opening a
//! fresh database at once cannot both create it) and the driver side of `sql.rs`, which holds
//! the statements both stores run.

use std::cell::RefCell;
use std::sync::Mutex;

use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row};

use crate::StoreError;
use crate::schema::MIGRATIONS;
use crate::sql::{Arg, Database, EachRow, Exec, bind, cells_by};

/// A migration of [`MIGRATIONS`] (SQLite's words) in PostgreSQL's types: a table's own
/// `id INTEGER PRIMARY KEY` (SQLite's row id) is a `BIGSERIAL`, every other `INTEGER` a
/// `BIGINT`, `REAL` a `DOUBLE PRECISION` and `BLOB` a `BYTEA` — one schema, two dialects.
fn postgres_ddl(sqlite: &str) -> String {
    let mut out = String::with_capacity(sqlite.len() + 64);
    for line in sqlite.lines() {
        let row_id = line.trim_start().starts_with("id ") && line.contains("INTEGER PRIMARY KEY");
        let mut word = String::new();
        for c in line.chars().chain(std::iter::once('\n')) {
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
                continue;
            }
            out.push_str(match word.as_str() {
                "INTEGER" if row_id => "BIGSERIAL",
                "INTEGER" => "BIGINT",
                "REAL" => "DOUBLE PRECISION",
                "BLOB" => "BYTEA",
                w => w,
            });
            word.clear();
            out.push(c);
        }
    }
    out
}

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
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::TooNew { path: self.shown.clone(), found: version, supported });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(&postgres_ddl(sql))?;
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

cells_by!(Row, try_get);

/// [`Exec::execute`] on a client or an open transaction.
fn execute(c: &mut impl GenericClient, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
    Ok(c.execute(sql, &bind!(args, dyn ToSql + Sync))?)
}

/// [`Exec::each`] on a client or an open transaction.
fn each(c: &mut impl GenericClient, sql: &str, args: &[Arg], row: EachRow) -> Result<(), StoreError> {
    for r in c.query(sql, &bind!(args, dyn ToSql + Sync))? {
        row(&r)?;
    }
    Ok(())
}

/// An open transaction as [`Exec`] takes it (by shared reference).
struct Tx<'a>(RefCell<postgres::Transaction<'a>>);

impl Exec for Tx<'_> {
    fn execute(&self, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        execute(&mut *self.0.borrow_mut(), sql, args)
    }

    fn each(&self, sql: &str, args: &[Arg], row: EachRow) -> Result<(), StoreError> {
        each(&mut *self.0.borrow_mut(), sql, args, row)
    }
}

impl Exec for PgStore {
    fn execute(&self, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        execute(&mut *self.db(), sql, args)
    }

    fn each(&self, sql: &str, args: &[Arg], row: EachRow) -> Result<(), StoreError> {
        each(&mut *self.db(), sql, args, row)
    }
}

impl Database for PgStore {
    fn atomically(&self, work: &mut dyn FnMut(&dyn Exec) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let mut db = self.db();
        let tx = Tx(RefCell::new(db.transaction()?));
        work(&tx)?;
        tx.0.into_inner().commit()?;
        Ok(())
    }

    // A PostgreSQL search is led through an advisory lock instead (`pg_queue.rs`).
    fn own(&self, _: i64) -> Result<(), StoreError> {
        Ok(())
    }

    fn disown(&self, _: i64) -> Result<(), StoreError> {
        Ok(())
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

    #[test]
    fn the_sqlite_schema_reads_in_postgres_types() {
        let ddl = "CREATE TABLE t (\n    id    INTEGER PRIMARY KEY,\n    run_id INTEGER PRIMARY KEY REFERENCES r(id),\n    \
                   at REAL NOT NULL, state BLOB, REALM_INTEGER TEXT\n);";
        assert_eq!(
            postgres_ddl(ddl),
            "CREATE TABLE t (\n    id    BIGSERIAL PRIMARY KEY,\n    run_id BIGINT PRIMARY KEY REFERENCES r(id),\n    \
             at DOUBLE PRECISION NOT NULL, state BYTEA, REALM_INTEGER TEXT\n);\n"
        );
        // Every released migration: only the four type names change.
        for m in MIGRATIONS {
            let pg = postgres_ddl(m);
            assert!(!pg.contains(" INTEGER") && !pg.contains(" REAL") && !pg.contains("BLOB"), "{pg}");
            assert_eq!(pg.split_whitespace().count(), m.split_whitespace().count() + m.matches("REAL").count());
        }
    }
}
