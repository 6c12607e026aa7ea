//! The store contract, one suite run against every backend: SQLite files always, and
//! PostgreSQL when `NAS_TEST_PG_URL` names a server (`.ci/run` starts one; without it the
//! PostgreSQL half says it skipped, and fails when `NAS_REQUIRE_PG=1`).

use nas_store::{
    Checkpoint, DynStore, NewExperiment, NewTrial, PgStore, SqliteStore, StoreError, TrialResult, TrialStatus,
    TrialStore, UpdateRow, open_store,
};

/// A fresh, empty store of each available backend, as a spec `open_store` understands.
fn fresh_specs(dir: &std::path::Path) -> Vec<String> {
    let mut specs = vec![dir.join("sub/dir/s.db").display().to_string()];
    match std::env::var("NAS_TEST_PG_URL") {
        Ok(url) => specs.push(fresh_pg_database(&url)),
        Err(_) if std::env::var("NAS_REQUIRE_PG").as_deref() == Ok("1") => {
            panic!("NAS_REQUIRE_PG=1 but NAS_TEST_PG_URL is not set")
        }
        Err(_) => eprintln!("PostgreSQL half skipped: set NAS_TEST_PG_URL (see .ci/pg-start)"),
    }
    specs
}

/// Create a new database on the server of `url` and return its URL.
fn fresh_pg_database(url: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("nas_t{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    let mut admin = postgres::Client::connect(url, postgres::NoTls).expect("the test server answers");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

fn exp(name: &str) -> NewExperiment {
    NewExperiment {
        name: name.into(),
        space: "nb201".into(),
        strategy: "random".into(),
        seed: 3,
        config_json: "{}".into(),
    }
}

fn trial(e: i64, seq: u64) -> NewTrial {
    NewTrial {
        experiment_id: e,
        seq,
        arch: format!("arch{seq}"),
        arch_json: "{}".into(),
        tokens_json: "[]".into(),
        log_prob: -1.5,
        entropy: 2.0,
        policy_version: seq / 2,
        depth: 6,
        parent_id: None,
        repeat_of: None,
    }
}

fn done(reward: f64) -> TrialResult {
    TrialResult {
        status: TrialStatus::Completed,
        reward: Some(reward),
        metrics_json: Some("{\"acc\":1}".into()),
        failure: None,
        eval_seconds: 0.1,
    }
}

#[test]
fn experiments_trials_and_top() {
    let dir = tempfile::tempdir().unwrap();
    for spec in fresh_specs(dir.path()) {
        experiments_trials_and_top_on(open_store(&spec, true).unwrap());
    }
}

fn experiments_trials_and_top_on(s: DynStore) {
    let e = s.create_experiment(&exp("a")).unwrap();
    assert!(matches!(s.create_experiment(&exp("a")), Err(StoreError::Exists(_))));
    for seq in 0..5 {
        let id = s.insert_trial(&trial(e.id, seq)).unwrap();
        if seq == 3 {
            s.finish_trial(
                id,
                &TrialResult {
                    status: TrialStatus::Failed,
                    reward: Some(0.0),
                    metrics_json: None,
                    failure: Some("diverged".into()),
                    eval_seconds: 0.0,
                },
            )
            .unwrap();
        } else {
            s.finish_trial(id, &done(seq as f64)).unwrap();
        }
    }
    // A second finish is refused: results are written once.
    let t0 = s.trial_at(e.id, 0).unwrap().unwrap();
    assert!(matches!(s.finish_trial(t0.id, &done(9.0)), Err(StoreError::Conflict(_))));
    // Duplicate seq is refused.
    assert!(matches!(s.insert_trial(&trial(e.id, 2)), Err(StoreError::Conflict(_))));
    let top = s.top(Some(e.id), 2).unwrap();
    assert_eq!(top.iter().map(|t| t.seq).collect::<Vec<_>>(), vec![4, 2]);
    let failed = s.trial_at(e.id, 3).unwrap().unwrap();
    assert_eq!(failed.status, TrialStatus::Failed);
    assert_eq!(failed.failure.as_deref(), Some("diverged"));
    assert_eq!(s.trials(e.id).unwrap().len(), 5);
    // Restart clears the result.
    s.restart_trial(t0.id).unwrap();
    let t0 = s.trial(t0.id).unwrap().unwrap();
    assert_eq!((t0.status, t0.reward), (TrialStatus::Running, None));
    // Another experiment's trials stay apart, but `top(None)` spans both.
    let e2 = s.create_experiment(&exp("b")).unwrap();
    let id = s.insert_trial(&trial(e2.id, 0)).unwrap();
    s.finish_trial(id, &done(100.0)).unwrap();
    assert_eq!(s.top(Some(e.id), 10).unwrap().len(), 3);
    assert_eq!(s.top(None, 1).unwrap()[0].reward, Some(100.0));
    assert_eq!(s.experiments().unwrap().len(), 2);
    // Lineage and repeats are kept; a repeat is not listed by `top`.
    let child = s.insert_trial(&NewTrial { parent_id: Some(id), ..trial(e2.id, 1) }).unwrap();
    s.finish_trial(child, &done(50.0)).unwrap();
    let again = s.insert_trial(&NewTrial { repeat_of: Some(id), ..trial(e2.id, 2) }).unwrap();
    s.finish_trial(again, &done(100.0)).unwrap();
    let rows = s.trials(e2.id).unwrap();
    assert_eq!(
        rows.iter().map(|t| (t.parent_id, t.repeat_of)).collect::<Vec<_>>(),
        vec![(None, None), (Some(id), None), (None, Some(id))]
    );
    assert_eq!(s.top(Some(e2.id), 10).unwrap().iter().map(|t| t.id).collect::<Vec<_>>(), vec![id, child]);
}

#[test]
fn checkpoints_and_updates_persist_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    for spec in fresh_specs(dir.path()) {
        checkpoints_and_updates_persist_across_reopen_on(&spec);
    }
}

fn checkpoints_and_updates_persist_across_reopen_on(spec: &str) {
    {
        let s = open_store(spec, true).unwrap();
        let e = s.create_experiment(&exp("x")).unwrap();
        for v in 1..=3u64 {
            let c = Checkpoint {
                experiment_id: e.id,
                samples: v * 8,
                policy_version: v,
                baseline: Some(0.5),
                state: vec![v as u8; 100],
            };
            let u = UpdateRow {
                experiment_id: e.id,
                policy_version: v,
                samples: v * 8,
                baseline: Some(0.5),
                mean_reward: 0.4,
                loss: 0.1,
                grad_norm: 1.0,
                mean_entropy: 3.0,
                replica: v as u32 % 2,
                sampled_version: v - 1,
                staleness: v % 2,
            };
            s.commit_update(&c, std::slice::from_ref(&u)).unwrap();
        }
    }
    let s = open_store(spec, false).unwrap();
    let e = s.experiment_by_name("x").unwrap().unwrap();
    let c = s.checkpoint(e.id).unwrap().unwrap();
    assert_eq!((c.samples, c.policy_version, c.state), (24, 3, vec![3u8; 100]));
    let ups = s.updates(e.id).unwrap();
    assert_eq!(ups.len(), 3);
    assert_eq!((ups[2].replica, ups[2].sampled_version, ups[2].staleness), (1, 2, 1));
}

#[test]
fn foreign_files_are_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not sqlite at all, just some text that is long enough to matter").unwrap();
    let e = SqliteStore::open(&junk).err().expect("junk must be refused").to_string();
    assert!(e.contains("junk.db") && e.contains("not a SQLite database"), "{e}");

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
    let e = SqliteStore::open(&other).err().unwrap().to_string();
    assert!(e.contains("not a nas store"), "{e}");

    let newer = dir.path().join("newer.db");
    rusqlite::Connection::open(&newer).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
    let e = SqliteStore::open(&newer).err().unwrap().to_string();
    assert!(e.contains("schema version 99"), "{e}");
}

#[test]
fn a_store_damaged_in_the_middle_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let spec = path.display().to_string();
    {
        let s = open_store(&spec, true).unwrap();
        let e = s.create_experiment(&exp("big")).unwrap();
        for seq in 0..400 {
            let t = s.insert_trial(&trial(e.id, seq)).unwrap();
            s.finish_trial(t, &done(seq as f64)).unwrap();
        }
    }
    // Overwrite everything after the first pages (the schema stays readable, so the store
    // opens, and the trial rows are garbage).
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() > 8 * page, "the store spans several pages ({} bytes)", bytes.len());
    for (i, b) in bytes[4 * page..].iter_mut().enumerate() {
        *b = (i * 37 % 251) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = match open_store(&spec, false) {
        Err(e) => e,
        Ok(s) => s.trials(1).expect_err("reading garbage rows fails"),
    };
    let text = err.to_string();
    assert!(text.contains(&spec), "the error names the file: {text}");
    assert!(text.contains("damaged") || text.contains("malformed"), "and says it is damaged: {text}");
}

#[test]
fn schema_versions_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(SqliteStore::open(&dir.path().join("v.db")).unwrap().schema_version().unwrap(), 5);
    // A version-2 store (before asynchronous replicas) migrates forward keeping its updates,
    // which read as replica 0, not stale.
    let old = dir.path().join("v2.db");
    {
        let c = rusqlite::Connection::open(&old).unwrap();
        for sql in &nas_store::MIGRATIONS[..2] {
            c.execute_batch(sql).unwrap();
        }
        c.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO experiments VALUES (1, 'old', 'cnn', 'reinforce', 0, '{}', 'done', 0);
             INSERT INTO updates VALUES (1, 1, 8, 0.5, 0.4, 0.1, 1.0, 3.0, 0);",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&old).unwrap();
    assert_eq!(s.schema_version().unwrap(), 5);
    let u = s.updates(1).unwrap();
    assert_eq!((u.len(), u[0].samples, u[0].replica, u[0].staleness), (1, 8, 0, 0));
    if let Ok(url) = std::env::var("NAS_TEST_PG_URL") {
        let url = fresh_pg_database(&url);
        assert_eq!(PgStore::connect(&url).unwrap().schema_version().unwrap(), 5);
        // Opening again migrates nothing and keeps the data.
        let s = PgStore::connect(&url).unwrap();
        s.create_experiment(&exp("kept")).unwrap();
        let again = PgStore::connect(&url).unwrap();
        assert!(again.experiment_by_name("kept").unwrap().is_some());
    }
}

#[test]
fn postgres_errors_name_the_server_without_the_password() {
    let e = PgStore::connect("postgres://nas:hunter2@127.0.0.1:1/nowhere").err().unwrap().to_string();
    assert!(e.contains("postgres://nas:***@127.0.0.1:1/nowhere") && e.contains("cannot connect"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    let Ok(url) = std::env::var("NAS_TEST_PG_URL") else { return };
    let url = fresh_pg_database(&url);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute("CREATE TABLE trials (x int)").unwrap();
    let e = PgStore::connect(&url).err().unwrap().to_string();
    assert!(e.contains("use another database"), "{e}");
    c.batch_execute("DROP TABLE trials; CREATE TABLE nas_schema (version BIGINT); INSERT INTO nas_schema VALUES (99)")
        .unwrap();
    let e = PgStore::connect(&url).err().unwrap().to_string();
    assert!(e.contains("schema version 99"), "{e}");
}

#[test]
fn concurrent_writers_record_every_trial_once() {
    // Four connections insert and finish trials of one experiment at once.
    let dir = tempfile::tempdir().unwrap();
    for spec in fresh_specs(dir.path()) {
        let e = open_store(&spec, true).unwrap().create_experiment(&exp("many")).unwrap();
        std::thread::scope(|scope| {
            for w in 0..4u64 {
                let spec = spec.clone();
                scope.spawn(move || {
                    let s = open_store(&spec, false).unwrap();
                    for i in 0..25 {
                        let id = s.insert_trial(&trial(e.id, w * 100 + i)).unwrap();
                        s.finish_trial(id, &done(i as f64)).unwrap();
                    }
                });
            }
        });
        let s = open_store(&spec, false).unwrap();
        let all = s.trials(e.id).unwrap();
        assert_eq!(all.len(), 100, "{spec}");
        assert!(all.iter().all(|t| t.status == TrialStatus::Completed));
    }
}

/// A fresh PostgreSQL store, or `None` (skipped) without a test server.
fn fresh_pg() -> Option<(PgStore, String)> {
    let url = match std::env::var("NAS_TEST_PG_URL") {
        Ok(u) => u,
        Err(_) if std::env::var("NAS_REQUIRE_PG").as_deref() == Ok("1") => panic!("NAS_REQUIRE_PG=1 without a server"),
        Err(_) => return None,
    };
    let url = fresh_pg_database(&url);
    Some((PgStore::connect(&url).unwrap(), url))
}

#[test]
fn leases_expire_and_late_results_are_fenced() {
    use nas_store::WorkQueue;
    let Some((s, _)) = fresh_pg() else { return };
    let e = s.create_experiment(&exp("q")).unwrap();
    let ids: Vec<i64> = (0..3).map(|i| s.insert_trial(&trial(e.id, i)).unwrap()).collect();
    s.enqueue(e.id, &ids, 2).unwrap();
    assert_eq!(s.counts(e.id).unwrap().pending, 3);
    // Two workers get two different trials, oldest first.
    let a = s.claim("a", 0.2).unwrap().unwrap();
    let b = s.claim("b", 60.0).unwrap().unwrap();
    assert_eq!((a.trial_id, b.trial_id, a.attempt), (ids[0], ids[1], 1));
    assert!(s.heartbeat(&b, 60.0).unwrap());
    // a saves its child's training state after epoch 1, then after epoch 2 (replacing it).
    assert!(s.save_child_state(&a, 1, b"one").unwrap());
    assert!(s.save_child_state(&a, 2, b"two").unwrap());
    assert_eq!(s.child_state(ids[0]).unwrap(), Some((2, b"two".to_vec())));
    assert_eq!(s.child_state(ids[1]).unwrap(), None);
    // a's lease runs out: the trial is claimable again, by c, as attempt 2, which finds a's state.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let c = s.claim("c", 60.0).unwrap().unwrap();
    assert_eq!((c.trial_id, c.attempt), (ids[0], 2));
    assert!(c.token > a.token);
    assert_eq!(s.child_state(ids[0]).unwrap(), Some((2, b"two".to_vec())));
    // a comes back late: its heartbeat, its state and its result are refused; c's count.
    assert!(!s.save_child_state(&a, 3, b"late").unwrap());
    assert!(s.save_child_state(&c, 3, b"three").unwrap());
    assert_eq!(s.child_state(ids[0]).unwrap(), Some((3, b"three".to_vec())));
    assert!(!s.heartbeat(&a, 60.0).unwrap());
    assert!(!s.complete(&a, &done(0.11)).unwrap());
    assert!(s.complete(&c, &done(0.22)).unwrap());
    assert!(!s.complete(&c, &done(0.33)).unwrap(), "completing twice changes nothing");
    assert_eq!(s.trial(ids[0]).unwrap().unwrap().reward, Some(0.22));
    assert_eq!(s.child_state(ids[0]).unwrap(), None, "completion deletes the saved state");
    assert!(s.complete(&b, &done(0.5)).unwrap());
    // The third trial: both attempts expire, then it is failed with the reason.
    for _ in 0..2 {
        let d = s.claim("d", 0.05).unwrap().unwrap();
        assert_eq!(d.trial_id, ids[2]);
        s.save_child_state(&d, 1, b"x").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(s.claim("d", 1.0).unwrap(), None, "no attempts left");
    assert_eq!(s.fail_exhausted().unwrap(), 1);
    let t = s.trial(ids[2]).unwrap().unwrap();
    assert_eq!(t.status, TrialStatus::Failed);
    assert!(t.failure.unwrap().contains("lease expired after 2 attempt(s)"));
    assert_eq!(s.child_state(ids[2]).unwrap(), None, "failure deletes the saved state");
    let counts = s.counts(e.id).unwrap();
    assert_eq!((counts.pending, counts.leased, counts.done), (0, 0, 3));
}

#[test]
fn many_workers_complete_every_trial_exactly_once() {
    use nas_store::WorkQueue;
    let Some((s, url)) = fresh_pg() else { return };
    let e = s.create_experiment(&exp("many")).unwrap();
    let ids: Vec<i64> = (0..300).map(|i| s.insert_trial(&trial(e.id, i)).unwrap()).collect();
    s.enqueue(e.id, &ids, 3).unwrap();
    let claimed: Vec<Vec<i64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|w| {
                let url = url.clone();
                scope.spawn(move || {
                    let s = PgStore::connect(&url).unwrap();
                    let mut mine = Vec::new();
                    while let Some(c) = s.claim(&format!("w{w}"), 60.0).unwrap() {
                        assert!(s.complete(&c, &done(c.trial_id as f64)).unwrap());
                        mine.push(c.trial_id);
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<i64> = claimed.concat();
    all.sort();
    assert_eq!(all, ids, "every trial claimed once, none twice");
    assert!(claimed.iter().filter(|c| !c.is_empty()).count() > 1, "the work was shared");
    assert!(s.trials(e.id).unwrap().iter().all(|t| t.status == TrialStatus::Completed));
}

#[test]
fn idle_workers_wake_on_notify() {
    use nas_store::WorkQueue;
    let Some((s, url)) = fresh_pg() else { return };
    let e = s.create_experiment(&exp("wake")).unwrap();
    let id = s.insert_trial(&trial(e.id, 0)).unwrap();
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            PgStore::connect(&url).unwrap().enqueue(e.id, &[id], 1).unwrap();
        });
        let idle = PgStore::connect(&url).unwrap();
        idle.wait_for_work(30.0).unwrap();
        assert!(idle.claim("idle", 10.0).unwrap().is_some());
    });
    assert!(started.elapsed().as_secs_f64() < 10.0, "woken by NOTIFY, not by the 30 s timeout");
}
