//! The `nas` binary over a PostgreSQL store (`--store postgres://…`): search, kill-free resume,
//! and the read commands. Runs when `NAS_TEST_PG_URL` names a server (`.ci/run` starts one);
//! skipped otherwise, and failing when `NAS_REQUIRE_PG=1` but no server was given.

use std::path::Path;
use std::process::Command;

mod common;
use common::{fresh_db, nas, ok};

fn server() -> Option<String> {
    common::pg_server()
}

#[test]
fn search_resume_and_read_commands_on_postgres_equal_sqlite() {
    let Some(url) = server() else { return };
    let pg = fresh_db(&url, "cli");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 16 samples in two runs (stop at 8, resume to 16) on PostgreSQL; 16 straight on SQLite.
    let toy = ["search", "--evaluator", "toy", "--batch", "4", "--seed", "5", "-q"];
    ok(d, &[&toy[..], &["--samples", "8", "--store", &pg]].concat());
    ok(d, &["search", "--resume", "--samples", "16", "-q", "--store", &pg]);
    ok(d, &[&toy[..], &["--samples", "16", "--store", "s.db"]].concat());
    let top_pg = ok(d, &["top", "-k", "16", "--json", "--store", &pg]);
    let top_sq = ok(d, &["top", "-k", "16", "--json", "--store", "s.db"]);
    let strip = |s: &str| -> Vec<(String, String)> {
        s.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["arch"].to_string(), v["reward"].to_string())
            })
            .collect()
    };
    assert_eq!(strip(&top_pg).len(), 16);
    assert_eq!(strip(&top_pg), strip(&top_sq), "same seed, same trials, whichever store");
    let exps = ok(d, &["experiments", "--store", &pg]);
    assert!(exps.contains("search-1") && exps.contains("done"), "{exps}");
    let out = nas(d, &["top", "--store", "postgres://nas:secret@127.0.0.1:1/none"]);
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success() && e.contains("cannot connect") && !e.contains("secret"), "{e}");
}

fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    spawn_logged(dir, args, std::process::Stdio::null())
}

/// `nas ARGS` in the background, its stderr to `stderr`.
fn spawn_logged(dir: &Path, args: &[&str], stderr: impl Into<std::process::Stdio>) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(args)
        .current_dir(dir)
        .env_remove("NAS_STORE")
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("nas starts")
}

/// A connection to `url`, retried until the database exists (a coordinator creates its tables).
fn connect(url: &str) -> postgres::Client {
    loop {
        if let Ok(c) = postgres::Client::connect(url, postgres::NoTls) {
            return c;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// (seq, architecture, reward) of the 8 best trials of the store's latest experiment.
fn top8(d: &Path, store: &str) -> Vec<(i64, String, String)> {
    ok(d, &["top", "-k", "8", "--json", "--store", store])
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["seq"].as_i64().unwrap(), v["arch"].to_string(), v["reward"].to_string())
        })
        .collect()
}

/// Poll `sql` (one bigint) until `ok` holds, for at most a minute.
fn wait_until(db: &mut postgres::Client, sql: &str, ok: impl Fn(i64) -> bool) -> i64 {
    let started = std::time::Instant::now();
    loop {
        let v: i64 = db.query_opt(sql, &[]).ok().flatten().and_then(|r| r.get::<_, Option<i64>>(0)).unwrap_or(-1);
        if ok(v) {
            return v;
        }
        assert!(started.elapsed().as_secs() < 60, "timed out waiting for {sql}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn wait_ok(mut child: std::process::Child, what: &str) {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} failed: {status}");
            return;
        }
        assert!(started.elapsed().as_secs() < 180, "{what} did not finish");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Worker A saves its child's training state after every epoch and is killed (SIGKILL) once one
/// is saved; B takes the trial over when A's lease expires, resumes after the saved epoch, and
/// every trial's reward equals an uninterrupted local run's.
#[test]
fn a_worker_killed_mid_trial_loses_it_to_another_which_resumes_and_nothing_is_lost_or_doubled() {
    let Some(url) = server() else { return };
    let pg = fresh_db(&url, "kill_worker");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("three.toml"), "[train]\nepochs = 3\n").unwrap();
    let run = ["--config", "three.toml", "--samples", "4", "--batch", "4", "-q"];
    let coordinator = spawn(d, &[&["search", "--store", &pg, "--remote-workers"][..], &run[..]].concat());
    let worker = |name: &str| -> Vec<String> {
        ["worker", "--store", &pg, "--lease-seconds", "2", "--checkpoint-every", "0", "--name", name]
            .iter()
            .map(|a| a.to_string())
            .collect()
    };
    let a_args = worker("A");
    let mut a = spawn(d, &a_args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut db = connect(&pg);
    let victim = wait_until(
        &mut db,
        "SELECT min(w.trial_id) FROM work w JOIN child_states c ON c.trial_id = w.trial_id \
         WHERE w.owner = 'A' AND w.state = 'leased'",
        |v| v > 0,
    );
    a.kill().unwrap(); // SIGKILL, mid-trial, after it saved at least one epoch
    a.wait().unwrap();
    let saved: i64 = db.query_one("SELECT epoch FROM child_states WHERE trial_id = $1", &[&victim]).unwrap().get(0);
    assert!((1..3).contains(&saved), "saved after epoch {saved}");
    let mut b_args = worker("B");
    b_args.extend(["--idle-exit".into(), "20".into()]);
    let log = std::fs::File::create(d.join("b.log")).unwrap();
    let mut b = spawn_logged(d, &b_args.iter().map(String::as_str).collect::<Vec<_>>(), log);
    wait_ok(coordinator, "the coordinator");
    let _ = b.kill();
    let _ = b.wait();
    let rows = db.query("SELECT trial_id, state, owner, attempts FROM work ORDER BY trial_id", &[]).unwrap();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        let (id, state, owner, attempts): (i64, String, String, i64) = (r.get(0), r.get(1), r.get(2), r.get(3));
        assert_eq!(state, "done");
        if id == victim {
            assert_eq!((owner.as_str(), attempts), ("B", 2), "the killed worker's trial was re-run by B");
        }
    }
    let done: i64 = db.query_one("SELECT count(*) FROM trials WHERE status = 'completed'", &[]).unwrap().get(0);
    assert_eq!(done, 4);
    let left: i64 = db.query_one("SELECT count(*) FROM child_states", &[]).unwrap().get(0);
    assert_eq!(left, 0, "completed trials keep no training state");
    let b_log = std::fs::read_to_string(d.join("b.log")).unwrap();
    assert!(
        b_log.contains(&format!("trial {victim}: resuming after epoch {saved}, saved by the previous attempt")),
        "{b_log}"
    );
    // The resumed child ends exactly as if it had never been interrupted.
    ok(d, &[&["search", "--store", "local.db"][..], &run[..]].concat());
    let rewards = |store: &str| -> Vec<(i64, String)> {
        let mut v: Vec<(i64, String)> = top8(d, store).into_iter().map(|t| (t.0, t.2)).collect();
        v.sort();
        v
    };
    assert_eq!(rewards(&pg), rewards("local.db"));
}

#[test]
fn a_coordinator_killed_mid_search_resumes_to_the_uninterrupted_result() {
    let Some(url) = server() else { return };
    let pg = fresh_db(&url, "kill_coord");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut worker = spawn(d, &["worker", "--store", &pg, "--lease-seconds", "5", "--name", "W"]);
    let args = ["search", "--store", &pg, "--remote-workers", "--samples", "8", "--batch", "4", "-q"];
    let mut coordinator = spawn(d, &args);
    let mut db = connect(&pg);
    // Kill it once the first update is committed and the second batch is queued.
    wait_until(&mut db, "SELECT count(*) FROM work", |n| n > 4);
    coordinator.kill().unwrap();
    coordinator.wait().unwrap();
    ok(d, &["search", "--resume", "--store", &pg, "--remote-workers", "-q"]);
    let _ = worker.kill();
    let _ = worker.wait();
    // The same search run locally, uninterrupted.
    ok(d, &["search", "--samples", "8", "--batch", "4", "--store", "local.db", "-q"]);
    let (remote, local) = (top8(d, &pg), top8(d, "local.db"));
    assert_eq!(remote.len(), 8);
    assert_eq!(remote, local);
    let n: i64 = db.query_one("SELECT count(*) FROM work WHERE state = 'done' AND attempts = 1", &[]).unwrap().get(0);
    assert_eq!(n, 8, "no trial was trained twice");
    let samples: i64 = db.query_one("SELECT samples FROM checkpoints", &[]).unwrap().get(0);
    assert_eq!(samples, 8);
}

#[test]
fn a_standby_coordinator_takes_over_when_the_leader_dies() {
    let Some(url) = server() else { return };
    let pg = fresh_db(&url, "standby");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut worker = spawn(d, &["worker", "--store", &pg, "--lease-seconds", "5", "--name", "W"]);
    let mut leader = spawn(
        d,
        &["search", "--store", &pg, "--remote-workers", "--samples", "8", "--batch", "4", "--name", "exp", "-q"],
    );
    let mut db = connect(&pg);
    wait_until(&mut db, "SELECT count(*) FROM work", |n| n > 0);
    let standby = spawn(d, &["search", "--resume", "--name", "exp", "--store", &pg, "--remote-workers", "-q"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut standby = standby;
    assert!(standby.try_wait().unwrap().is_none(), "the standby waits while the leader lives");
    leader.kill().unwrap();
    leader.wait().unwrap();
    wait_ok(standby, "the standby");
    let _ = worker.kill();
    let _ = worker.wait();
    ok(d, &["search", "--samples", "8", "--batch", "4", "--store", "local.db", "-q"]);
    assert_eq!(top8(d, &pg), top8(d, "local.db"), "the standby finished the leader's search as it would have");
    let n: i64 = db.query_one("SELECT count(*) FROM work WHERE state = 'done'", &[]).unwrap().get(0);
    assert_eq!(n, 8);
}

/// `--evaluator command:CMD` over the queue: the coordinator only proposes, a `nas worker` in
/// another directory (standing for another machine) runs the user's command in its own trial
/// directories, and the rewards, metrics and epoch reports it printed reach the shared store.
#[test]
fn a_remote_worker_runs_the_users_command() {
    let Some(url) = server() else { return };
    let pg = fresh_db(&url, "command_worker");
    let (coord, remote) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let script = remote.path().join("train.sh");
    std::fs::write(
        &script,
        "echo '{\"epoch\": 1, \"val_accuracy\": 0.25}'\n\
         echo \"{\\\"reward\\\": 0.$NAS_TRIAL_ID, \\\"ran_in\\\": \\\"$(pwd)\\\"}\"\n",
    )
    .unwrap();
    let eval = format!("command:sh {}", script.display());
    let mut worker = spawn(remote.path(), &["worker", "--store", &pg, "--lease-seconds", "5", "--name", "W"]);
    let args = ["search", "--space", "nb201", "--strategy", "random", "--evaluator", &eval, "--samples", "4"];
    ok(coord.path(), &[&args[..], &["--batch", "2", "--remote-workers", "--store", &pg, "-q"]].concat());
    let _ = worker.kill();
    let _ = worker.wait();
    let top = ok(coord.path(), &["top", "-k", "4", "--json", "--store", &pg]);
    let rows: Vec<serde_json::Value> = top.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 4, "{top}");
    let mut db = connect(&pg);
    for r in db.query("SELECT id, reward, metrics_json, status FROM trials", &[]).unwrap() {
        let (id, reward, metrics, status): (i64, f64, String, String) = (r.get(0), r.get(1), r.get(2), r.get(3));
        assert_eq!(status, "completed");
        assert_eq!(reward, format!("0.{id}").parse::<f64>().unwrap(), "the command's reward, exactly");
        let m: serde_json::Value = serde_json::from_str(&metrics).unwrap();
        let ran_in = m["ran_in"].as_str().unwrap();
        assert!(ran_in.starts_with(&*remote.path().canonicalize().unwrap().to_string_lossy()), "{ran_in}");
        assert_eq!(m["epochs"][0]["val_accuracy"], 0.25, "{m}");
    }
    assert!(!coord.path().join("nas-trials").exists(), "the coordinator ran no command");
}
