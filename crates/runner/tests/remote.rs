//! Remote workers over PostgreSQL: a coordinator queues each batch, several workers claim the
//! trials, and the run equals a local one — every trial completed exactly once. Runs when
//! `NAS_TEST_PG_URL` names a server (`.ci/run` starts one); fails without one when
//! `NAS_REQUIRE_PG=1`.

use std::sync::atomic::AtomicBool;

use nas_evaluator::EvaluatorSpec;
use nas_runner::{Control, DepthSchedule, Search, SearchConfig, WorkerOptions, WorkerSummary, run_worker};
use nas_store::{PgStore, SqliteStore, TrialStatus, TrialStore};
use nas_strategy::ControllerConfig;

/// A database of its own on the test server, named after `tag`.
fn fresh_pg(tag: &str) -> Option<String> {
    let url = match std::env::var("NAS_TEST_PG_URL") {
        Ok(u) => u,
        Err(_) if std::env::var("NAS_REQUIRE_PG").as_deref() == Ok("1") => panic!("NAS_REQUIRE_PG=1 without a server"),
        Err(_) => {
            eprintln!("skipped: set NAS_TEST_PG_URL (see .ci/pg-start)");
            return None;
        }
    };
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let name = format!("nas_remote_{tag}_{}", std::process::id());
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    Some(format!("{}/{name}", url.rsplit_once('/').unwrap().0))
}

/// `n` workers (`w0`, `w1`, …) on threads of `scope`, each exiting after 3 idle seconds.
fn spawn_workers<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    url: &str,
    stop: &'scope AtomicBool,
    n: usize,
) -> Vec<std::thread::ScopedJoinHandle<'scope, WorkerSummary>> {
    (0..n)
        .map(|w| {
            let url = url.to_string();
            scope.spawn(move || {
                let store = PgStore::connect(&url).unwrap();
                let opts = WorkerOptions {
                    name: format!("w{w}"),
                    lease_seconds: 30.0,
                    idle_exit_seconds: Some(3.0),
                    max_trials: None,
                    checkpoint_seconds: 60.0,
                };
                run_worker(&store, &opts, stop, |_| {}).unwrap()
            })
        })
        .collect()
}

#[test]
fn four_workers_give_the_local_result_and_finish_every_trial_once() {
    let Some(url) = fresh_pg("sync") else { return };
    let cfg = SearchConfig {
        samples: 160,
        // Every draw a sample, so the batches are fixed; repeats are still not trained.
        count_repeats: true,
        batch: 8,
        seed: 9,
        depth: DepthSchedule { start: 2, step: 1, every: 40, max: 4 },
        controller: ControllerConfig { learning_rate: 0.01, ..Default::default() },
        evaluator: EvaluatorSpec::Toy,
        ..Default::default()
    };
    let stop = AtomicBool::new(false);
    let (coordinated, workers) = std::thread::scope(|s| {
        let workers = spawn_workers(s, &url, &stop, 4);
        let store = PgStore::connect(&url).unwrap();
        let queue = PgStore::connect(&url).unwrap();
        let mut search = Search::start(&store, cfg.clone(), Some("x".into())).unwrap();
        search.use_remote_workers(&queue, 3);
        let summary = search.run(|_| Control::Continue).unwrap();
        assert!(summary.finished);
        let done: Vec<_> = workers.into_iter().map(|h| h.join().unwrap()).collect();
        (store.trials(1).unwrap(), done)
    });
    assert_eq!(coordinated.len(), 160);
    assert!(coordinated.iter().all(|t| t.status == TrialStatus::Completed));
    let trained = coordinated.iter().filter(|t| t.repeat_of.is_none()).count() as i64;
    assert_eq!(
        workers.iter().map(|w| w.completed).sum::<u64>() as i64,
        trained,
        "each trial completed once: {workers:?}"
    );
    assert_eq!(workers.iter().map(|w| w.rejected).sum::<u64>(), 0);
    assert!(workers.iter().filter(|w| w.completed > 0).count() >= 2, "the work was shared: {workers:?}");
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let row =
        db.query_one("SELECT count(*), max(attempts), min(attempts) FROM work WHERE state = 'done'", &[]).unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)), (trained, 1, 1));

    // The same configuration trained locally draws the same architectures with the same rewards.
    let local = SqliteStore::in_memory().unwrap();
    Search::start(&local, cfg, Some("x".into())).unwrap().run(|_| Control::Continue).unwrap();
    let key = |t: &nas_store::TrialRow| (t.seq, t.arch.clone(), t.reward, t.policy_version);
    let a: Vec<_> = coordinated.iter().map(key).collect();
    let b: Vec<_> = local.trials(1).unwrap().iter().map(key).collect();
    assert_eq!(a, b);
}

/// The paper's layout on a small scale: four controller replicas, each with a batch queued for
/// four remote workers at once. Every trial is completed exactly once; every gradient is
/// recorded with its replica, the version it was sampled with and its staleness.
#[test]
fn replicas_keep_remote_workers_busy_and_record_staleness() {
    let Some(url) = fresh_pg("async") else { return };
    let cfg = SearchConfig {
        samples: 96,
        count_repeats: true,
        batch: 4,
        replicas: 4,
        shards: 4,
        seed: 3,
        depth: DepthSchedule { start: 2, step: 1, every: 40, max: 4 },
        controller: ControllerConfig { learning_rate: 0.01, ..Default::default() },
        evaluator: EvaluatorSpec::Toy,
        ..Default::default()
    };
    let stop = AtomicBool::new(false);
    let (trials, updates, workers) = std::thread::scope(|s| {
        let workers = spawn_workers(s, &url, &stop, 4);
        let store = PgStore::connect(&url).unwrap();
        let queue = PgStore::connect(&url).unwrap();
        let mut search = Search::start(&store, cfg, Some("async".into())).unwrap();
        search.use_remote_workers(&queue, 3);
        assert!(search.run(|_| Control::Continue).unwrap().finished);
        let done: Vec<_> = workers.into_iter().map(|h| h.join().unwrap()).collect();
        let id = search.experiment().id;
        (store.trials(id).unwrap(), store.updates(id).unwrap(), done)
    });
    assert_eq!(trials.len(), 96);
    assert!(trials.iter().all(|t| t.status == TrialStatus::Completed));
    let trained = trials.iter().filter(|t| t.repeat_of.is_none()).count() as u64;
    assert_eq!(workers.iter().map(|w| w.completed).sum::<u64>(), trained, "each trial completed once: {workers:?}");
    assert_eq!(updates.len(), 24);
    let replicas: std::collections::BTreeSet<u32> = updates.iter().map(|u| u.replica).collect();
    assert_eq!(replicas.len(), 4);
    for (i, u) in updates.iter().enumerate() {
        assert_eq!((u.policy_version, u.samples), (i as u64 + 1, 4 * (i as u64 + 1)));
        assert_eq!(u.sampled_version + u.staleness + 1, u.policy_version);
    }
    assert!(updates.iter().any(|u| u.staleness > 0), "four replicas in flight make stale gradients");
    // The children of each gradient's batch were drawn with the version it names.
    let drawn: std::collections::BTreeSet<u64> = trials.iter().map(|t| t.policy_version).collect();
    assert!(updates.iter().all(|u| drawn.contains(&u.sampled_version)));
}

/// Evolution on remote workers: `replicas` × `batch` children in flight, each result joining the
/// population as it lands; every child is trained once, on some worker.
#[test]
fn evolution_keeps_remote_workers_busy_and_trains_each_child_once() {
    let Some(url) = fresh_pg("evolution") else { return };
    let mut cfg = SearchConfig {
        strategy: nas_strategy::StrategyKind::Evolution,
        samples: 60,
        batch: 2,
        replicas: 2,
        seed: 5,
        depth: DepthSchedule { start: 2, step: 1, every: 20, max: 4 },
        evaluator: EvaluatorSpec::Toy,
        ..Default::default()
    };
    cfg.evolution.population = 8;
    cfg.evolution.tournament = 3;
    let stop = AtomicBool::new(false);
    let (trials, workers) = std::thread::scope(|s| {
        let workers = spawn_workers(s, &url, &stop, 3);
        let store = PgStore::connect(&url).unwrap();
        let queue = PgStore::connect(&url).unwrap();
        let mut search = Search::start(&store, cfg, Some("evo".into())).unwrap();
        search.use_remote_workers(&queue, 3);
        assert!(search.run(|_| Control::Continue).unwrap().finished);
        let done: Vec<_> = workers.into_iter().map(|h| h.join().unwrap()).collect();
        (store.trials(search.experiment().id).unwrap(), done)
    });
    let trained: Vec<_> = trials.iter().filter(|t| t.repeat_of.is_none()).collect();
    assert_eq!(trained.len(), 60);
    assert!(trials.iter().all(|t| t.status == TrialStatus::Completed));
    assert_eq!(workers.iter().map(|w| w.completed).sum::<u64>(), 60, "each child trained once: {workers:?}");
    assert!(trials.iter().filter(|t| t.parent_id.is_some()).count() >= 40, "mutations after the first 8");
}
