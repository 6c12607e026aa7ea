//! The store contract, exercised on SQLite files.

use nas_store::{
    Checkpoint, NewExperiment, NewTrial, SqliteStore, StoreError, TrialResult, TrialStatus, TrialStore, UpdateRow,
};

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
    let s = SqliteStore::open(&dir.path().join("sub/dir/s.db")).unwrap();
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
}

#[test]
fn checkpoints_and_updates_persist_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    {
        let s = SqliteStore::open(&path).unwrap();
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
            };
            s.commit_update(&c, &u).unwrap();
        }
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), 1);
    let e = s.experiment_by_name("x").unwrap().unwrap();
    let c = s.checkpoint(e.id).unwrap().unwrap();
    assert_eq!((c.samples, c.policy_version, c.state), (24, 3, vec![3u8; 100]));
    assert_eq!(s.updates(e.id).unwrap().len(), 3);
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
