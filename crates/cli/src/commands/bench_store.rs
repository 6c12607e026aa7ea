//! `nas bench store`: how many trials per second a store records and completes (insert a
//! sampled trial, then write its result: the two writes every child costs), with one writer and
//! with four at once, on SQLite and — given a URL — PostgreSQL, in one run.

use std::time::Instant;

use anyhow::Result;
use nas_store::{NewExperiment, NewTrial, TrialResult, TrialStatus, TrialStore, open_store};

fn trial(e: i64, seq: u64) -> NewTrial {
    NewTrial {
        experiment_id: e,
        seq,
        arch: "3x3-36;5x5-48<0".into(),
        arch_json: r#"{"space":"cnn","layers":[]}"#.into(),
        tokens_json: "[1,2,3,4,5,6,7,8]".into(),
        log_prob: -3.2,
        entropy: 2.1,
        policy_version: seq / 8,
        depth: 2,
        parent_id: None,
        repeat_of: None,
    }
}

fn result(seq: u64) -> TrialResult {
    TrialResult {
        status: TrialStatus::Completed,
        reward: Some(seq as f64 / 1000.0),
        metrics_json: Some(r#"{"val_accuracy":0.9,"params":12345,"flops":678900}"#.into()),
        failure: None,
        eval_seconds: 1.0,
    }
}

/// Trials per second recorded + completed by `writers` connections to `spec`.
fn rate(spec: &str, writers: u64, per_writer: u64) -> Result<f64> {
    let e = open_store(spec, true)?.create_experiment(&NewExperiment {
        name: format!("bench-{writers}-{}", std::process::id()),
        space: "cnn".into(),
        strategy: "random".into(),
        seed: 0,
        config_json: "{}".into(),
    })?;
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                scope.spawn(move || -> Result<()> {
                    let s = open_store(spec, false)?;
                    for i in 0..per_writer {
                        let seq = w * per_writer + i;
                        let id = s.insert_trial(&trial(e.id, seq))?;
                        s.finish_trial(id, &result(seq))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("writer thread")?;
        }
        Ok(())
    })?;
    Ok((writers * per_writer) as f64 / started.elapsed().as_secs_f64())
}

/// Trials per second `workers` connections claim (under a lease) and complete (fenced) from the
/// PostgreSQL work queue; the trials are inserted and queued before the clock starts.
fn claim_rate(url: &str, workers: u64, trials: u64) -> Result<f64> {
    use nas_store::{PgStore, WorkQueue};
    let s = PgStore::connect(url)?;
    let e = s.create_experiment(&NewExperiment {
        name: format!("bench-queue-{workers}-{}", std::process::id()),
        space: "cnn".into(),
        strategy: "random".into(),
        seed: 0,
        config_json: "{}".into(),
    })?;
    let ids: Vec<i64> = (0..trials).map(|i| s.insert_trial(&trial(e.id, i))).collect::<Result<_, _>>()?;
    s.enqueue(e.id, &ids, 3)?;
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || -> Result<()> {
                    let s = PgStore::connect(url)?;
                    while let Some(c) = s.claim(&format!("bench{w}"), 60.0)? {
                        s.complete(&c, &result(c.trial_id as u64))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("worker thread")?;
        }
        Ok(())
    })?;
    Ok(trials as f64 / started.elapsed().as_secs_f64())
}

pub fn store(trials: u64, pg: Option<String>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let sqlite = dir.path().join("bench.db").display().to_string();
    let mut backends = vec![("sqlite (WAL file)".to_string(), sqlite)];
    match pg {
        Some(url) => backends.push(("postgresql".to_string(), url)),
        None => eprintln!("(PostgreSQL skipped: pass --pg postgres://… to include it)"),
    }
    println!("{:<20} {:>8} {:>16}", "store", "writers", "trials/s");
    for (name, spec) in &backends {
        for writers in [1, 4] {
            let r = rate(spec, writers, trials / writers)?;
            println!("{name:<20} {writers:>8} {r:>16.0}");
        }
    }
    println!("(each trial: one insert when sampled + one conditional update when it completes)");
    if let Some((_, url)) = backends.iter().find(|(n, _)| n == "postgresql") {
        println!("\n{:<20} {:>8} {:>16}", "work queue", "workers", "claims/s");
        for workers in [1, 4] {
            let r = claim_rate(url, workers, trials)?;
            println!("{:<20} {workers:>8} {r:>16.0}", "postgresql");
        }
        println!("(each: claim with FOR UPDATE SKIP LOCKED under a lease, then a fenced completion)");
    }
    Ok(())
}
