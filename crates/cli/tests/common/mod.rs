//! Helpers shared by the CLI's integration tests: run `nas` as a user would, and reach the
//! PostgreSQL test server when there is one.
#![allow(dead_code)] // each test file uses a different subset

use std::path::Path;
use std::process::{Command, Output};

/// The command `nas ARGS` in `dir`, ignoring any NAS_STORE of the caller (to spawn).
pub fn nas_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nas"));
    c.args(args).current_dir(dir).env_remove("NAS_STORE");
    c
}

/// `nas ARGS` in `dir`, ignoring any NAS_STORE of the caller.
pub fn nas(dir: &Path, args: &[&str]) -> Output {
    nas_cmd(dir, args).output().expect("nas runs")
}

/// Stdout of a `nas` run that must succeed.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = nas(dir, args);
    assert!(out.status.success(), "nas {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Stderr of a `nas` run that must fail with exactly one error line and no panic.
pub fn err(dir: &Path, args: &[&str]) -> String {
    let out = nas(dir, args);
    assert!(!out.status.success(), "nas {args:?} should have failed");
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(!e.contains("panicked"), "{e}");
    // Exactly one error line (clap may add its "try --help" hint after it).
    assert_eq!(e.lines().filter(|l| l.starts_with("error")).count(), 1, "{e}");
    assert!(e.lines().filter(|l| !l.trim().is_empty()).all(|l| !l.starts_with(' ')), "{e}");
    e
}

/// The PostgreSQL test server's URL (`NAS_TEST_PG_URL`), or `None` (the test skips) — unless
/// `NAS_REQUIRE_PG=1`, which makes a missing server a failure.
pub fn pg_server() -> Option<String> {
    match std::env::var("NAS_TEST_PG_URL") {
        Ok(u) => Some(u),
        Err(_) if std::env::var("NAS_REQUIRE_PG").as_deref() == Ok("1") => {
            panic!("NAS_REQUIRE_PG=1 but NAS_TEST_PG_URL is not set")
        }
        Err(_) => {
            eprintln!("skipped: set NAS_TEST_PG_URL (see .ci/pg-start)");
            None
        }
    }
}

/// A new, empty database on the server of `url`; its URL.
pub fn fresh_db(url: &str, tag: &str) -> String {
    let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let db = format!("nas_{tag}_{}", std::process::id());
    admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
    format!("{}/{db}", url.rsplit_once('/').unwrap().0)
}

/// Run the search `args` + `--store STORE` twice in `dir`: straight into `straight.db`, and into
/// `killed.db` killed with SIGKILL once that store holds `n` trials (or after `limit`).
pub fn straight_and_killed(dir: &Path, args: &[&str], n: usize, limit: std::time::Duration) {
    let with = |store: &'static str| args.iter().copied().chain(["--store", store]).collect::<Vec<_>>();
    ok(dir, &with("straight.db"));
    let mut child = nas_cmd(dir, &with("killed.db"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    kill_after_trials(&mut child, &dir.join("killed.db"), n, limit);
}

/// Wait until the store at `path` holds at least `n` trials of its latest experiment (or
/// `limit` has passed), then kill `child` with SIGKILL and reap it.
pub fn kill_after_trials(child: &mut std::process::Child, path: &Path, n: usize, limit: std::time::Duration) {
    use nas_store::TrialStore;
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let stored = nas_store::SqliteStore::open_existing(path)
            .ok()
            .and_then(|s| s.experiments().ok()?.pop().map(|e| s.trials(e.id).unwrap().len()))
            .unwrap_or(0);
        if stored >= n || started.elapsed() > limit {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}
