//! The search loop end to end on the toy and table evaluators: learning, determinism, exact
//! resume after interruptions at any point, and failure handling.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nas_evaluator::{EvalContext, EvalError, Evaluation, Evaluator, EvaluatorSpec, ToyEvaluator};
use nas_runner::{Control, DepthSchedule, Event, Search, SearchConfig};
use nas_space::{Architecture, SpaceKind};
use nas_store::{SqliteStore, TrialStatus, TrialStore};
use nas_strategy::{ControllerConfig, StrategyKind};

fn config(samples: u64) -> SearchConfig {
    SearchConfig {
        samples,
        batch: 4,
        seed: 42,
        depth: DepthSchedule { start: 2, step: 1, every: 10, max: 4 },
        controller: ControllerConfig { learning_rate: 0.01, ..Default::default() },
        evaluator: EvaluatorSpec::Toy,
        ..Default::default()
    }
}

/// `config` counting every draw (repeats too), so batch and update counts are fixed.
fn config_all(samples: u64) -> SearchConfig {
    SearchConfig { count_repeats: true, ..config(samples) }
}

/// Per trial: seq, architecture, reward, log-probability bits, policy version.
type TrialPrint = (u64, String, Option<f64>, u64, u64);

/// Everything that must be identical between two runs.
fn fingerprint(store: &SqliteStore, name: &str) -> (Vec<TrialPrint>, Vec<u8>) {
    let e = store.experiment_by_name(name).unwrap().unwrap();
    let trials = store
        .trials(e.id)
        .unwrap()
        .into_iter()
        .map(|t| (t.seq, t.arch, t.reward, t.log_prob.to_bits(), t.policy_version))
        .collect();
    (trials, store.checkpoint(e.id).unwrap().unwrap().state)
}

/// NAS-Bench-201 space rewarded by the table at `csv`.
fn nb201_table(csv: std::path::PathBuf, samples: u64) -> SearchConfig {
    SearchConfig {
        space: SpaceKind::Nb201,
        evaluator: EvaluatorSpec::Table {
            path: csv,
            column: "accuracy".into(),
            transform: Default::default(),
            scale: 1.0,
        },
        ..config(samples)
    }
}

fn straight(cfg: SearchConfig) -> SqliteStore {
    let store = SqliteStore::in_memory().unwrap();
    Search::start(&store, cfg, Some("x".into())).unwrap().run(|_| Control::Continue).unwrap();
    store
}

#[test]
fn same_seed_same_run_bit_for_bit() {
    let a = straight(config(30));
    let b = straight(config(30));
    assert_eq!(fingerprint(&a, "x"), fingerprint(&b, "x"));
    let c = straight(SearchConfig { seed: 43, ..config(30) });
    assert_ne!(fingerprint(&a, "x").0, fingerprint(&c, "x").0);
}

#[test]
fn resume_after_stopping_anywhere_equals_a_straight_run() {
    resume_anywhere(config(30));
}

/// Three controller replicas, gradients applied in pairs over 3 shards: a checkpoint holds
/// batches in flight drawn from older policies and a gradient waiting; resuming from any point
/// still gives the uninterrupted run.
#[test]
fn resume_with_replicas_in_flight_equals_a_straight_run() {
    resume_anywhere(SearchConfig { replicas: 3, gradients_per_update: 2, shards: 3, ..config(30) });
}

fn resume_anywhere(cfg: SearchConfig) {
    let config = |_| cfg.clone();
    let reference = fingerprint(&straight(config(30)), "x");
    // Stop after trial k (mid-batch or on a batch boundary), then after k+7, then finish.
    for k in [1u64, 3, 4, 6, 13] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            let mut seen = 0;
            let mut s = Search::start(&store, config(30), Some("x".into())).unwrap();
            let sum = s
                .run(|e| {
                    if let Event::Trial { .. } = e {
                        seen += 1;
                    }
                    if seen >= k { Control::Stop } else { Control::Continue }
                })
                .unwrap();
            assert!(!sum.finished);
        }
        for extra in [7u64, 1000] {
            let store = SqliteStore::open(&path).unwrap();
            let mut s = Search::resume(&store, Some("x"), None).unwrap();
            let mut seen = 0;
            s.run(|e| {
                if let Event::Trial { reused: false, .. } = e {
                    seen += 1;
                }
                if seen >= extra { Control::Stop } else { Control::Continue }
            })
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(fingerprint(&store, "x"), reference, "stopped after {k}");
        assert_eq!(store.experiment_by_name("x").unwrap().unwrap().status, "done");
    }
}

/// With K replicas each batch's gradient is taken against the policy it was drawn with and
/// recorded with its replica, that version and its staleness; the controller still learns.
#[test]
fn replicas_record_stale_gradients_and_still_learn() {
    let store = straight(SearchConfig { replicas: 3, ..config_all(240) });
    let e = store.experiment_by_name("x").unwrap().unwrap();
    let ups = store.updates(e.id).unwrap();
    assert_eq!(ups.len(), 60);
    // One worker, results in order: replicas 0,1,2 take turns; after the first round a gradient
    // is two updates old — or older once batches of repeats (results reused at once) overtake
    // one whose children still train.
    let stale: Vec<u64> = ups.iter().map(|u| u.staleness).collect();
    assert_eq!(&stale[..5], &[0, 1, 2, 2, 2]);
    assert_eq!(ups.iter().map(|u| u.replica).take(6).collect::<Vec<_>>(), vec![0, 1, 2, 0, 1, 2]);
    for (i, u) in ups.iter().enumerate() {
        assert_eq!(u.policy_version, i as u64 + 1);
        assert_eq!(u.sampled_version + u.staleness + 1, u.policy_version, "update {i}");
        assert_eq!(u.samples, 4 * (i as u64 + 1));
    }
    // Trials carry the version they were drawn with: batch k of the updates table drew its 4
    // children with `sampled_version`.
    let trials = store.trials(e.id).unwrap();
    let versions: std::collections::BTreeSet<u64> = trials.iter().map(|t| t.policy_version).collect();
    // Every update but the last two is sampled from, but those a batch of repeats overtook.
    assert!((50..=58).contains(&versions.len()), "{}", versions.len());
    let mean = |xs: &[nas_store::TrialRow]| xs.iter().map(|t| t.reward.unwrap()).sum::<f64>() / xs.len() as f64;
    assert!(mean(&trials[200..]) > mean(&trials[..40]) + 0.1, "{} → {}", mean(&trials[..40]), mean(&trials[200..]));
}

/// Counts calls; fails (fatally) at one sample index the first time it is reached.
struct Flaky {
    calls: Arc<AtomicUsize>,
    fatal_at: Option<u64>,
    diverge_at: Option<u64>,
    panic_at: Option<u64>,
}

impl Evaluator for Flaky {
    fn describe(&self) -> String {
        "flaky".into()
    }
    fn evaluate(&mut self, arch: &Architecture, ctx: &EvalContext) -> Result<Evaluation, EvalError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fatal_at == Some(ctx.seq) {
            return Err(EvalError::Fatal("disk on fire".into()));
        }
        if self.diverge_at == Some(ctx.seq) {
            return Err(EvalError::Failed("loss is NaN at epoch 2".into()));
        }
        if self.panic_at == Some(ctx.seq) {
            panic!("index out of bounds in a kernel");
        }
        ToyEvaluator.evaluate(arch, ctx)
    }
}

#[test]
fn fatal_errors_abort_and_resume_reevaluates_only_what_is_missing() {
    let reference = fingerprint(&straight(config(20)), "x");
    let store = SqliteStore::in_memory().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut s = Search::start(&store, config(20), Some("x".into())).unwrap();
    s.set_evaluator(Box::new(Flaky { calls: calls.clone(), fatal_at: Some(10), diverge_at: None, panic_at: None }));
    let err = s.run(|_| Control::Continue).unwrap_err().to_string();
    assert!(err.contains("disk on fire"), "{err}");
    let e = store.experiment_by_name("x").unwrap().unwrap();
    assert_eq!(e.status, "failed");
    assert_eq!(store.trial_at(e.id, 10).unwrap().unwrap().status, TrialStatus::Aborted);
    assert_eq!(calls.load(Ordering::SeqCst), 11);

    let calls2 = Arc::new(AtomicUsize::new(0));
    let mut s = Search::resume(&store, None, None).unwrap();
    s.set_evaluator(Box::new(Flaky { calls: calls2.clone(), fatal_at: None, diverge_at: None, panic_at: None }));
    s.run(|_| Control::Continue).unwrap();
    // Samples 8 and 9 were evaluated before the crash and are reused; 10..20 are new.
    assert_eq!(calls2.load(Ordering::SeqCst), 10);
    assert_eq!(fingerprint(&store, "x"), reference);
}

#[test]
fn a_diverging_or_panicking_child_is_a_failed_trial_with_reward_zero() {
    let store = SqliteStore::in_memory().unwrap();
    let mut s = Search::start(&store, config(8), Some("x".into())).unwrap();
    s.set_evaluator(Box::new(Flaky { calls: Arc::default(), fatal_at: None, diverge_at: Some(2), panic_at: Some(5) }));
    let sum = s.run(|_| Control::Continue).unwrap();
    assert!(sum.finished);
    let e = store.experiment_by_name("x").unwrap().unwrap();
    let t = store.trial_at(e.id, 2).unwrap().unwrap();
    assert_eq!((t.status, t.reward), (TrialStatus::Failed, Some(0.0)));
    assert!(t.failure.unwrap().contains("NaN"));
    // A panicking evaluator is a failed trial too, not a crashed search.
    let t = store.trial_at(e.id, 5).unwrap().unwrap();
    assert_eq!((t.status, t.reward), (TrialStatus::Failed, Some(0.0)));
    assert!(t.failure.unwrap().contains("panicked: index out of bounds"));
    assert_eq!(store.trials(e.id).unwrap().len(), 8);
}

#[test]
fn reinforce_beats_random_on_the_toy_objective() {
    let mean_of_last = |strategy| {
        let store = straight(SearchConfig { strategy, samples: 400, batch: 8, ..config(0) });
        let e = store.experiment_by_name("x").unwrap().unwrap();
        let t = store.trials(e.id).unwrap();
        t[300..].iter().map(|t| t.reward.unwrap()).sum::<f64>() / 100.0
    };
    let rl = mean_of_last(StrategyKind::Reinforce);
    let rs = mean_of_last(StrategyKind::Random);
    assert!(rl > 0.5 && rs < 0.15, "reinforce {rl}, random {rs}");
}

#[test]
fn table_search_records_table_rewards_and_depth_follows_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    let mut text = String::from("arch,accuracy\n");
    for i in 0..15625u32 {
        let ops: Vec<String> = (0..6).map(|e| ((i / 5u32.pow(e)) % 5).to_string()).collect();
        text += &format!("{},{}\n", ops.join("-"), i as f64 / 100.0);
    }
    std::fs::write(&csv, text).unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let cfg = nb201_table(csv, 12);
    Search::start(&store, cfg, Some("t".into())).unwrap().run(|_| Control::Continue).unwrap();
    let e = store.experiment_by_name("t").unwrap().unwrap();
    for t in store.trials(e.id).unwrap() {
        let idx: u32 = t.arch.split('-').enumerate().map(|(e, d)| d.parse::<u32>().unwrap() * 5u32.pow(e as u32)).sum();
        assert_eq!(t.reward, Some(idx as f64 / 100.0));
    }
    // CNN depth: 2 layers for samples 0..10, 3 for 10..20, capped at 4.
    let store = straight(config(40));
    let e = store.experiment_by_name("x").unwrap().unwrap();
    let depths: Vec<u32> = store.trials(e.id).unwrap().iter().map(|t| t.depth).collect();
    assert_eq!((depths[0], depths[9], depths[10], depths[25], depths[39]), (2, 2, 3, 4, 4));
    let t = &store.trials(e.id).unwrap()[39];
    assert_eq!(t.arch.split(';').count(), 4);
}

#[test]
fn missing_table_entries_stop_the_search_naming_the_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "arch,accuracy\n0-0-0-0-0-0,1\n").unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let cfg = nb201_table(csv, 12);
    let err = Search::start(&store, cfg, None).unwrap().run(|_| Control::Continue).unwrap_err().to_string();
    assert!(err.contains("is not in the table"), "{err}");
}

/// The tiny preset (real CNN children on the shipped subset) with this many samples and batch.
fn tiny(samples: u64, batch: usize) -> SearchConfig {
    let preset = nas_runner::preset("tiny").unwrap();
    SearchConfig { samples, batch, ..SearchConfig::from_layers(Some(("tiny", preset)), None).unwrap() }
}

/// Real CNN children on the shipped subset: two workers on one thread each give exactly the
/// trials, rewards and controller state of one worker, and record every trial once.
#[test]
fn parallel_workers_give_the_sequential_result() {
    let base = tiny(6, 3);
    let one = straight(SearchConfig { workers: 1, threads_per_worker: 1, ..base.clone() });
    let two = straight(SearchConfig { workers: 2, threads_per_worker: 1, ..base.clone() });
    let (a, b) = (fingerprint(&one, "x"), fingerprint(&two, "x"));
    assert_eq!(a.0.len(), 6);
    assert!(a.0.iter().all(|t| t.2.is_some_and(|r| r > 0.0)), "every child trained: {:?}", a.0);
    assert_eq!(a.0, b.0, "trials");
    assert!(a.1 == b.1, "controller states differ");
    // Two replicas on two workers: results arrive in any order, yet every child is trained once
    // and every gradient is recorded with its replica and staleness.
    let async2 = straight(SearchConfig { workers: 2, threads_per_worker: 1, replicas: 2, ..tiny(9, 3) });
    let e = async2.experiment_by_name("x").unwrap().unwrap();
    let trials = async2.trials(e.id).unwrap();
    assert_eq!(trials.iter().map(|t| t.seq).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>());
    assert!(trials.iter().all(|t| t.status == TrialStatus::Completed && t.eval_seconds.is_some()));
    let ups = async2.updates(e.id).unwrap();
    assert_eq!(ups.len(), 3);
    // The other replica drew before the first update, so a later update applies a stale gradient
    // (which one depends on which batch finishes first).
    assert!(ups.iter().skip(1).any(|u| u.staleness >= 1), "no stale gradient: {ups:?}");
}

/// A size penalty scales each stored reward by (params / target)^exponent and keeps the raw
/// reward and the factor in the metrics; the architectures drawn are unchanged at first.
#[test]
fn size_penalty_changes_rewards_as_specified() {
    let base = tiny(2, 2);
    let penalty = nas_evaluator::SizePenalty {
        metric: nas_evaluator::SizeMetric::Params,
        target: 500.0,
        exponent: -0.5,
        only_above: false,
    };
    let plain = straight(base.clone());
    let penalised = straight(SearchConfig { penalty: Some(penalty), ..base });
    let (a, b) = (plain.trials(1).unwrap(), penalised.trials(1).unwrap());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.arch, y.arch);
        let m: serde_json::Value = serde_json::from_str(y.metrics_json.as_deref().unwrap()).unwrap();
        let params = m["params"].as_f64().unwrap();
        let factor = (params / 500.0).powf(-0.5);
        assert_eq!(m["raw_reward"].as_f64(), x.reward);
        assert!((m["size_factor"].as_f64().unwrap() - factor).abs() < 1e-12);
        assert!((y.reward.unwrap() - x.reward.unwrap() * factor).abs() < 1e-12);
    }
    // Table evaluators report no sizes: refused at validation.
    let bad = SearchConfig {
        penalty: Some(nas_evaluator::SizePenalty {
            metric: nas_evaluator::SizeMetric::Params,
            target: 1.0,
            exponent: -0.07,
            only_above: false,
        }),
        ..config(4)
    };
    assert!(bad.validate().unwrap_err().to_string().contains("penalty"));
}

/// One worker trains the children in order, so the rule can be replayed from the stored curves:
/// a child stops after epoch 2 exactly when its accuracy there is below the median of the
/// children completed before it. Whether any of 8 children falls below depends on how the
/// first two happen to train (bits differ between CPUs), so a few seeds are tried until one
/// stops a child; the replay must hold for every seed tried.
#[test]
fn median_stopping_stops_children_below_the_median_and_says_so() {
    let mut base = tiny(8, 4);
    base.workers = 1;
    base.train.epochs = 3;
    // A constant rate keeps the curves apart (under cosine most children still climb at the end).
    base.train.schedule = nas_trainer::Schedule::Constant;
    base.train.median_stopping = Some(nas_trainer::MedianStopping { grace_epochs: 1, min_trials: 2 });
    let mut stops = 0;
    for seed in 42..46 {
        let store = straight(SearchConfig { seed, ..base.clone() });
        let metrics: Vec<serde_json::Value> = store
            .trials(1)
            .unwrap()
            .iter()
            .map(|t| serde_json::from_str(t.metrics_json.as_deref().unwrap_or("{}")).unwrap())
            .collect();
        assert_eq!(metrics.len(), 8);
        // The rule itself (nas_evaluator::MedianStopper, unit-tested there), fed the stored curves.
        let replay = nas_evaluator::MedianStopper::new(base.train.median_stopping.unwrap());
        for (i, m) in metrics.iter().enumerate() {
            let epochs = m["epochs"].as_array().unwrap();
            let acc = epochs[1]["val_accuracy"].as_f64().unwrap();
            let expected = replay.check(1, acc);
            match m.get("stopped_early") {
                Some(why) => {
                    stops += 1;
                    assert_eq!(epochs.len(), 2, "stopped after epoch 2 (the only one past grace and before the end)");
                    // The reason names the child's own accuracy and the median it is below.
                    assert_eq!(why.as_str(), expected.as_deref(), "seed {seed}: child {i}");
                    assert!(why.as_str().unwrap().contains(&format!("{acc:.4}")), "{why}");
                }
                None => {
                    assert_eq!(expected, None, "seed {seed}: child {i} went on below the median");
                    assert_eq!(epochs.len(), 3);
                    replay.record(epochs.iter().map(|e| e["val_accuracy"].as_f64().unwrap()).collect());
                }
            }
        }
        if stops > 0 {
            break;
        }
    }
    assert!(stops > 0, "in 4 seeds of 8 children some child falls below the median");
    // Without the rule every child trains all its epochs.
    base.train.median_stopping = None;
    let plain = straight(base);
    for t in plain.trials(1).unwrap() {
        let m: serde_json::Value = serde_json::from_str(t.metrics_json.as_deref().unwrap()).unwrap();
        assert_eq!(m["epochs"].as_array().unwrap().len(), 3);
    }
}

/// Evolution, local search and random search: deterministic for a seed, and resumed from any
/// stopping point they give the uninterrupted run (one worker).
#[test]
fn every_strategy_resumes_exactly_from_any_point() {
    for strategy in [StrategyKind::Evolution, StrategyKind::Local, StrategyKind::Random] {
        let mut cfg = SearchConfig { strategy, ..config(30) };
        cfg.evolution.population = 4;
        cfg.evolution.tournament = 2;
        let a = straight(cfg.clone());
        assert_eq!(fingerprint(&a, "x"), fingerprint(&straight(cfg.clone()), "x"), "{strategy:?}");
        resume_anywhere(cfg);
    }
}

/// An evaluator that counts its calls per architecture.
struct Counting {
    inner: ToyEvaluator,
    calls: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl Evaluator for Counting {
    fn describe(&self) -> String {
        "counting toy".into()
    }
    fn evaluate(&mut self, arch: &Architecture, ctx: &EvalContext) -> Result<Evaluation, EvalError> {
        *self.calls.lock().unwrap().entry(arch.to_string()).or_default() += 1;
        self.inner.evaluate(arch, ctx)
    }
}

/// A draw that repeats an architecture evaluated earlier is not evaluated again: its trial
/// takes the earlier result and says which trial it repeats, `samples` counts distinct
/// architectures, `top` lists each once; with `count_repeats` every draw counts.
#[test]
fn repeats_are_reused_not_retrained_and_do_not_count() {
    // A fast-converging controller on a small space repeats itself often.
    let mut cfg = config(20);
    cfg.controller.learning_rate = 0.05;
    cfg.controller.entropy_weight = 0.02;
    cfg.cnn =
        nas_space::CnnSpace { filter_heights: vec![1, 3], filter_widths: vec![1, 3], filters: vec![4, 8], ..cfg.cnn };
    let store = SqliteStore::in_memory().unwrap();
    let calls = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let mut s = Search::start(&store, cfg.clone(), Some("x".into())).unwrap();
    s.set_evaluator(Box::new(Counting { inner: ToyEvaluator, calls: calls.clone() }));
    let mut events = (0, 0);
    let sum = s
        .run(|e| {
            if let Event::Trial { repeat_of, .. } = e {
                events.0 += 1;
                events.1 += repeat_of.is_some() as usize;
            }
            Control::Continue
        })
        .unwrap();
    let e = store.experiment_by_name("x").unwrap().unwrap();
    let trials = store.trials(e.id).unwrap();
    let (fresh, repeats): (Vec<_>, Vec<_>) = trials.iter().partition(|t| t.repeat_of.is_none());
    assert_eq!(fresh.len(), 20, "samples counts distinct architectures");
    assert!(!repeats.is_empty(), "the controller repeated itself");
    assert_eq!((sum.samples, sum.repeats as usize, sum.finished), (20, repeats.len(), true));
    assert_eq!(events, (trials.len(), repeats.len()));
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 20);
    assert!(calls.values().all(|&n| n == 1), "every architecture evaluated once: {calls:?}");
    for r in &repeats {
        let original = store.trial(r.repeat_of.unwrap()).unwrap().unwrap();
        assert_eq!((&original.arch, original.reward, original.repeat_of), (&r.arch, r.reward, None));
        assert!(original.seq < r.seq);
    }
    let top = store.top(Some(e.id), 1000).unwrap();
    assert_eq!(top.len(), 20);
    // The old count: every draw is a sample (repeats still reused).
    let all = straight(SearchConfig { count_repeats: true, ..cfg });
    let e = all.experiment_by_name("x").unwrap().unwrap();
    assert_eq!(all.trials(e.id).unwrap().len(), 20);
}

/// A space with fewer architectures than `samples`: the search ends once `repeat_limit` draws
/// in a row found nothing new, and says so.
#[test]
fn an_exhausted_space_ends_the_search_early() {
    let mut cfg = SearchConfig { strategy: StrategyKind::Random, repeat_limit: 25, ..config(100) };
    cfg.cnn = nas_space::CnnSpace {
        filter_heights: vec![1, 3],
        filter_widths: vec![3],
        filters: vec![4],
        skips: false,
        ..cfg.cnn
    };
    cfg.depth = DepthSchedule { start: 2, step: 0, every: 1, max: 2 };
    let store = SqliteStore::in_memory().unwrap();
    let sum = Search::start(&store, cfg, Some("x".into())).unwrap().run(|_| Control::Continue).unwrap();
    assert!(sum.exhausted && sum.finished, "{sum:?}");
    assert_eq!((sum.samples, sum.repeats), (4, 25), "2 × 2 architectures, then 25 repeats");
}

/// Asynchronous evolution on two workers: children are drawn as workers free up, every child
/// is trained exactly once, and mutated children name the trial they came from.
#[test]
fn evolution_on_two_workers_trains_every_child_once() {
    let mut cfg = SearchConfig { strategy: StrategyKind::Evolution, workers: 2, threads_per_worker: 1, ..tiny(6, 3) };
    cfg.evolution.population = 2;
    cfg.evolution.tournament = 1;
    let store = straight(cfg);
    let e = store.experiment_by_name("x").unwrap().unwrap();
    assert_eq!(e.strategy, "evolution");
    let trials = store.trials(e.id).unwrap();
    let fresh: Vec<_> = trials.iter().filter(|t| t.repeat_of.is_none()).collect();
    assert_eq!(fresh.len(), 6);
    assert!(fresh.iter().all(|t| t.status == TrialStatus::Completed && t.eval_seconds.is_some_and(|s| s > 0.0)));
    let archs: std::collections::HashSet<_> = fresh.iter().map(|t| &t.arch).collect();
    assert_eq!(archs.len(), 6, "no architecture trained twice");
    let ids: std::collections::HashSet<i64> = trials.iter().map(|t| t.id).collect();
    let children: Vec<_> = trials.iter().filter(|t| t.parent_id.is_some()).collect();
    assert!(children.len() >= 3, "after the first two, children are mutations");
    assert!(children.iter().all(|t| ids.contains(&t.parent_id.unwrap()) && t.parent_id.unwrap() < t.id));
}

/// `[rescore]` trains the search's best distinct children again at its fidelity into
/// `NAME/rescore`, one trial per child naming its source; a stopped re-scoring trains only what
/// is missing when run again, and `--resume` of either experiment continues the search.
#[test]
fn rescoring_retrains_the_best_children_and_resumes_what_is_missing() {
    let mut cfg = SearchConfig { workers: 1, threads_per_worker: 1, ..tiny(4, 2) };
    let baseline = "3x3-8-mp;3x3-8<0".to_string();
    cfg.rescore = nas_runner::RescoreConfig {
        top_k: 2,
        epochs: 1,
        train_subset: Some(300),
        augment: true,
        baselines: vec![baseline.clone()],
    };
    let store = straight(cfg.clone());
    let search = store.experiment_by_name("x").unwrap().unwrap();
    let mut best: Vec<_> = store
        .trials(search.id)
        .unwrap()
        .into_iter()
        .filter(|t| t.status == TrialStatus::Completed && t.repeat_of.is_none())
        .collect();
    best.sort_by(|a, b| b.reward.unwrap().total_cmp(&a.reward.unwrap()).then(a.id.cmp(&b.id)));
    best.dedup_by(|a, b| a.arch == b.arch);
    // Stopped before training: both trials wait, `running`, for the next run.
    let mut started = Vec::new();
    let first = nas_runner::rescore(&store, &search, &cfg, |e| match e {
        nas_runner::RescoreEvent::Started { to_train, .. } => {
            started.push(*to_train);
            Control::Stop
        }
        nas_runner::RescoreEvent::Finished(_) => panic!("stopped before training"),
    })
    .unwrap();
    assert!(first.is_empty());
    let name = nas_runner::rescore_name("x");
    let re = store.experiment_by_name(&name).unwrap().unwrap();
    assert!(nas_runner::is_rescore(&re));
    assert_eq!(re.config_json, search.config_json, "nas train --trial reads the search's settings");
    assert!(store.trials(re.id).unwrap().iter().all(|t| t.status == TrialStatus::Running));
    let mut count = |e: &nas_runner::RescoreEvent| {
        if let nas_runner::RescoreEvent::Started { to_train, .. } = e {
            started.push(*to_train);
        }
        Control::Continue
    };
    let rows = nas_runner::rescore(&store, &search, &cfg, &mut count).unwrap();
    let trials = store.trials(re.id).unwrap();
    assert_eq!(trials.len(), 3, "two children and the baseline");
    assert_eq!((trials[2].parent_id, &trials[2].arch), (None, &baseline));
    assert!(rows.iter().any(|r| r.source_trial.is_none() && r.accuracy.is_some()), "{rows:?}");
    for (t, src) in trials.iter().take(2).zip(&best) {
        assert_eq!(t.parent_id, Some(src.id));
        assert_eq!(t.arch, src.arch);
        assert_eq!(t.status, TrialStatus::Completed);
        let epochs = t.metrics()["epochs"].as_array().map(Vec::len);
        assert_eq!(epochs, Some(1), "trained at the re-scoring's fidelity, not the search's (2 epochs)");
    }
    // A network killed in training (left `running`) is the only one trained again, to the same result.
    store.restart_trial(trials[2].id).unwrap();
    let again = nas_runner::rescore(&store, &search, &cfg, &mut count).unwrap();
    assert_eq!(started, vec![3, 3, 1]);
    assert_eq!(again, rows, "seeded: the same accuracy again");
    assert!(rows[0].accuracy >= rows[1].accuracy, "best first: {rows:?}");
    // Nothing left: no training, the same ranking.
    let last = nas_runner::rescore(&store, &search, &cfg, |_| panic!("nothing to train")).unwrap();
    assert_eq!(last, rows);
    // `--resume` (latest or by the re-scoring's name) continues the search, not the re-scoring.
    assert_eq!(nas_runner::latest_search(&store).unwrap().unwrap().id, search.id);
    let resumed = Search::resume(&store, Some(&name), None).unwrap();
    assert_eq!(resumed.experiment().id, search.id);
}

#[test]
fn rescoring_settings_are_validated_by_key() {
    let mut cfg = tiny(2, 2);
    cfg.rescore.top_k = 100_000;
    assert!(cfg.validate().unwrap_err().to_string().contains("rescore.top_k"));
    cfg.rescore = nas_runner::RescoreConfig { top_k: 1, epochs: 0, ..Default::default() };
    assert!(cfg.validate().unwrap_err().to_string().contains("rescore.epochs"));
    cfg.rescore = nas_runner::RescoreConfig { top_k: 1, baselines: vec!["3x3-8;nope".into()], ..Default::default() };
    assert!(cfg.validate().unwrap_err().to_string().contains("rescore.baselines: \"3x3-8;nope\""));
    let mut toy = config(4);
    toy.rescore.top_k = 2;
    assert!(toy.validate().unwrap_err().to_string().contains("rescore.top_k"));
}
