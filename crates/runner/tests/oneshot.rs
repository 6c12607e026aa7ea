//! One-shot searches end to end (`--evaluator oneshot` on the shipped Fashion-MNIST subset):
//! every draw rewarded under the shared weights as a trial, a seed fixing the whole run, and a
//! search stopped anywhere resuming to exactly the uninterrupted run.

use std::path::Path;

use nas_evaluator::EvaluatorSpec;
use nas_runner::{Control, Event, Search, SearchConfig};
use nas_store::{SqliteStore, TrialStatus, TrialStore};

/// The tiny preset as a one-shot search of `samples` children, its state kept in `dir`.
fn config(samples: u64, dir: &Path) -> SearchConfig {
    let preset = nas_runner::preset("tiny").unwrap();
    let mut c = SearchConfig::from_layers(Some(("tiny", preset)), None).unwrap();
    c.samples = samples;
    c.evaluator = EvaluatorSpec::Oneshot;
    c.train.train_subset = Some(400);
    c.train.validation = 200;
    c.oneshot.reward_images = 64;
    c.oneshot.train_steps = 8;
    c.oneshot.checkpoint_every = 7;
    c.oneshot.candidates = 6;
    c.oneshot.top_k = 3;
    c.oneshot.state_dir = Some(dir.to_path_buf());
    c
}

/// Per trial: seq, architecture, reward bits.
fn fingerprint(store: &SqliteStore) -> Vec<(u64, String, Option<u64>)> {
    let e = store.experiment_by_name("x").unwrap().unwrap();
    store.trials(e.id).unwrap().into_iter().map(|t| (t.seq, t.arch, t.reward.map(f64::to_bits))).collect()
}

fn straight(cfg: SearchConfig, path: &Path) -> SqliteStore {
    let store = SqliteStore::open(path).unwrap();
    Search::start(&store, cfg, Some("x".into())).unwrap().run(|_| Control::Continue).unwrap();
    store
}

#[test]
fn a_one_shot_search_rewards_every_draw_under_shared_weights_and_is_fixed_by_its_seed() {
    let dir = tempfile::tempdir().unwrap();
    let a = straight(config(48, &dir.path().join("a")), &dir.path().join("a.db"));
    let b = straight(config(48, &dir.path().join("b")), &dir.path().join("b.db"));
    let (fa, fb) = (fingerprint(&a), fingerprint(&b));
    assert_eq!(fa.len(), 48, "every draw is a trial");
    assert_eq!(fa, fb, "same seed, same run");
    let e = a.experiment_by_name("x").unwrap().unwrap();
    let trials = a.trials(e.id).unwrap();
    assert!(trials.iter().all(|t| t.status == TrialStatus::Completed && t.repeat_of.is_none()));
    let epoch = |t: &nas_store::TrialRow| t.metrics()["supernet_epoch"].as_f64().unwrap();
    // 48 × 8 steps of 32 over 400 images: 30.72 epochs, growing child by child.
    assert!((epoch(&trials[47]) - 48.0 * 8.0 * 32.0 / 400.0).abs() < 1e-9, "{}", epoch(&trials[47]));
    assert!(trials.windows(2).all(|w| epoch(&w[1]) > epoch(&w[0])));
    let acc = |t: &nas_store::TrialRow| t.metrics()["val_accuracy"].as_f64().unwrap();
    let mean = |ts: &[nas_store::TrialRow]| ts.iter().map(acc).sum::<f64>() / ts.len() as f64;
    let (early, late) = (mean(&trials[..8]), mean(&trials[40..]));
    assert!(late > early + 0.1, "the shared weights learn: {early:.3} → {late:.3}");
    assert_eq!(a.experiment_by_name("x").unwrap().unwrap().status, "done");

    // Derive: the best distinct children re-scored on all 200 validation images.
    let mut s = Search::resume(&a, Some("x"), None).unwrap();
    let scored = s.derive(6).unwrap().expect("one-shot evaluators derive");
    assert_eq!(scored.len(), 6);
    assert!(scored.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
    // (A whole number of the 200 images: `fract` of a product just under one is 0.99….)
    let whole = |x: f64| (x - x.round()).abs() < 1e-9;
    assert!(scored.iter().all(|(_, acc)| whole(acc * 200.0)), "scored on the 200 images: {scored:?}");
    // A train-evaluator search has nothing to derive.
    let t = SqliteStore::in_memory().unwrap();
    let mut plain = Search::start(&t, SearchConfig { samples: 1, ..config(1, dir.path()) }, None).unwrap();
    plain.set_evaluator(Box::new(nas_evaluator::ToyEvaluator));
    assert!(plain.derive(3).unwrap().is_none());
}

/// Stopped after k children (mid-batch, on a checkpoint, between checkpoints), resumed, stopped
/// again and finished: the trials are the uninterrupted run's, bit for bit.
#[test]
fn a_one_shot_search_resumes_exactly_from_any_point() {
    let dir = tempfile::tempdir().unwrap();
    let reference = fingerprint(&straight(config(30, &dir.path().join("ref")), &dir.path().join("ref.db")));
    for k in [3u64, 7, 13] {
        let state = dir.path().join(format!("s{k}"));
        let path = dir.path().join(format!("s{k}.db"));
        {
            let store = SqliteStore::open(&path).unwrap();
            let mut seen = 0;
            let mut s = Search::start(&store, config(30, &state), Some("x".into())).unwrap();
            let sum = s
                .run(|e| {
                    seen += matches!(e, Event::Trial { .. }) as u64;
                    if seen >= k { Control::Stop } else { Control::Continue }
                })
                .unwrap();
            assert!(!sum.finished);
        }
        for extra in [5u64, 1000] {
            let store = SqliteStore::open(&path).unwrap();
            let mut s = Search::resume(&store, Some("x"), None).unwrap();
            let mut seen = 0;
            s.run(|e| {
                seen += matches!(e, Event::Trial { reused: false, .. }) as u64;
                if seen >= extra { Control::Stop } else { Control::Continue }
            })
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(fingerprint(&store), reference, "stopped after {k}");
    }
}

#[test]
fn one_shot_settings_are_validated_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(10, dir.path());
    c.oneshot.top_k = 50;
    assert!(c.validate().unwrap_err().to_string().contains("oneshot.top_k"));
    let mut c = config(10, dir.path());
    c.oneshot.reward_images = 0;
    assert!(c.validate().unwrap_err().to_string().contains("oneshot.reward_images"));
    let c = SearchConfig { workers: 2, ..config(10, dir.path()) };
    assert!(c.validate().unwrap_err().to_string().contains("threads_per_worker"));
    let c = SearchConfig { space: nas_space::SpaceKind::Nb201, ..config(10, dir.path()) };
    assert!(c.validate().unwrap_err().to_string().contains("--evaluator oneshot"));
    let mut c = config(10, dir.path());
    c.oneshot.warmup_steps = u64::MAX;
    assert!(c.validate().unwrap_err().to_string().contains("oneshot.warmup_steps"));
    let mut c = config(10, dir.path());
    c.rescore.top_k = 2;
    c.validate().expect("a one-shot search may re-score its derived children");
}

/// `[rescore]` after a one-shot search: the derived ranking (whole split, shared weights) picks
/// the children, and they are trained from scratch, not under the shared weights.
#[test]
fn a_one_shot_search_rescores_its_derived_children_by_training_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(24, &dir.path().join("s"));
    cfg.oneshot.warmup_steps = 16;
    cfg.rescore = nas_runner::RescoreConfig { top_k: 2, epochs: 1, train_subset: Some(300), ..Default::default() };
    let store = straight(cfg.clone(), &dir.path().join("s.db"));
    let search = store.experiment_by_name("x").unwrap().unwrap();
    let first = &store.trials(search.id).unwrap()[0];
    assert_eq!(first.metrics()["shared_steps"], 16 + 8, "warm-up steps, then the first child's 8");
    let mut s = Search::resume(&store, Some("x"), None).unwrap();
    let ranked: Vec<i64> = s.derive(6).unwrap().unwrap().iter().map(|(t, _)| t.id).collect();
    drop(s);
    let rows = nas_runner::rescore_ranked(&store, &search, &cfg, &ranked, |_| Control::Continue).unwrap();
    let re = store.experiment_by_name(&nas_runner::rescore_name("x")).unwrap().unwrap();
    let trials = store.trials(re.id).unwrap();
    let sources: Vec<Option<i64>> = trials.iter().map(|t| t.parent_id).collect();
    assert_eq!(sources, vec![Some(ranked[0]), Some(ranked[1])], "the derived top 2, in order");
    for t in &trials {
        assert_eq!(t.status, TrialStatus::Completed, "{:?}", t.failure);
        let m = t.metrics();
        assert_eq!(m["epochs"].as_array().map(Vec::len), Some(1), "trained from scratch for 1 epoch");
        assert!(m.get("supernet_epoch").is_none(), "not scored under the shared weights");
    }
    assert_eq!(rows.len(), 2);
    let e = nas_runner::rescore_ranked(&store, &search, &cfg, &[9999], |_| Control::Continue).unwrap_err();
    assert!(e.to_string().contains("trial 9999"), "{e}");
}

/// A FLOPs-aware reward on a one-shot search: each stored reward is the raw one (accuracy under
/// the shared weights, cubed by the preset) times (FLOPs / target)^exponent, both kept in the
/// metrics — the same `[penalty]` the train evaluator takes.
#[test]
fn a_one_shot_search_takes_a_size_penalty() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(12, &dir.path().join("p"));
    let penalty = nas_evaluator::SizePenalty {
        metric: nas_evaluator::SizeMetric::Flops,
        target: 1.0e6,
        exponent: 0.07,
        only_above: false,
    };
    cfg.penalty = Some(penalty.clone());
    cfg.validate().expect("one-shot children report their FLOPs");
    let store = straight(cfg, &dir.path().join("p.db"));
    let e = store.experiment_by_name("x").unwrap().unwrap();
    for t in store.trials(e.id).unwrap() {
        let m = t.metrics();
        let (raw, flops) = (m["raw_reward"].as_f64().unwrap(), m["flops"].as_f64().unwrap());
        assert!((t.reward.unwrap() - raw * penalty.factor(flops)).abs() < 1e-12, "trial {}", t.seq);
    }
}

/// `train_steps = 0` end to end: the warm-up trains the shared weights, every child is then
/// scored under the same frozen weights (no step of its own), and the run is seeded.
#[test]
fn a_frozen_one_shot_search_steps_only_in_its_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    let frozen = |name: &str| {
        let mut c = config(16, &dir.path().join(name));
        (c.oneshot.warmup_steps, c.oneshot.train_steps) = (40, 0);
        c
    };
    let a = straight(frozen("a"), &dir.path().join("a.db"));
    let e = a.experiment_by_name("x").unwrap().unwrap();
    let trials = a.trials(e.id).unwrap();
    assert_eq!(trials.len(), 16);
    assert!(trials.iter().all(|t| t.metrics()["shared_steps"] == 40 && t.metrics().get("train_loss").is_none()));
    assert_eq!(fingerprint(&a), fingerprint(&straight(frozen("b"), &dir.path().join("b.db"))), "seeded");
}

/// Under `[oneshot] reward_flops` the shared weights score every child at its equal-cost width;
/// the re-scoring trains that network, not the drawn one, so the stand-alone check and a later
/// `nas train --trial` see what the search rated.
#[test]
fn a_rescore_trains_each_child_at_the_width_the_search_scored_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(12, &dir.path().join("s"));
    cfg.oneshot.warmup_steps = 0;
    cfg.oneshot.reward_flops = Some(3_000_000);
    cfg.oneshot.supernet_filters = Some(64);
    cfg.rescore = nas_runner::RescoreConfig { top_k: 3, epochs: 1, train_subset: Some(300), ..Default::default() };
    let store = straight(cfg.clone(), &dir.path().join("s.db"));
    let search = store.experiment_by_name("x").unwrap().unwrap();
    nas_runner::rescore(&store, &search, &cfg, |_| Control::Continue).unwrap();
    let re = store.experiment_by_name(&nas_runner::rescore_name("x")).unwrap().unwrap();
    let trials = store.trials(re.id).unwrap();
    assert_eq!(trials.len(), 3);
    let mut widened = 0;
    for t in &trials {
        assert_eq!(t.status, TrialStatus::Completed, "{:?}", t.failure);
        let src = store.trial(t.parent_id.unwrap()).unwrap().unwrap();
        let w = src.metrics()["reward_width"].as_f64().unwrap();
        let drawn: nas_space::CnnArch = src.arch.parse().unwrap();
        assert_eq!(t.arch, drawn.widened(w).to_string(), "trial {} re-scores {} at × {w}", t.id, src.arch);
        assert_eq!(t.metrics()["flops"], src.metrics()["flops"], "the cost the search scored");
        widened += usize::from(w != 1.0);
    }
    assert!(widened > 0, "3 MFLOPs widens tiny's children");
}
