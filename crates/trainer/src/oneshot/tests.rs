use super::*;
use nas_data::Augment;

fn data() -> Arc<PreparedData> {
    let cfg = TrainConfig { validation: 100, ..Default::default() };
    Arc::new(PreparedData::from_set(ImageSet::quadrants(500, 0), &cfg, 0, Augment::default(), "q".into()).unwrap())
}

fn setup(samples: u64) -> OneShotSetup {
    OneShotSetup {
        train: TrainConfig { batch_size: 32, learning_rate: 0.05, validation: 100, ..Default::default() },
        child: ChildConfig::default(),
        oneshot: OneShotConfig { reward_images: 64, checkpoint_every: 3, ..Default::default() },
        space: CnnSpace {
            filter_heights: vec![1, 3],
            filter_widths: vec![1, 3],
            filters: vec![4, 8],
            strides: vec![1, 2],
            pooling: true,
            skips: true,
            ..CnnSpace::default()
        },
        first_layers: 1,
        layers: 3,
        samples,
        seed: 5,
    }
}

const ARCHS: [&str; 6] = [
    "3x3-8;3x3s2x2-4-mp<0",
    "1x3-4;3x1-8<0;3x3-8<0,1",
    "3x3-8",
    "1x1-4;3x3-8-mp",
    "3x3s2x1-8;1x1-8<0",
    "3x3-4;3x3-4<0;1x1-8<1",
];

fn arch(i: usize) -> Architecture {
    Architecture::Cnn(ARCHS[i % ARCHS.len()].parse().unwrap())
}

fn ctx(seq: u64) -> EvalContext {
    EvalContext { trial_id: seq as i64 + 1, seq, seed: 5 }
}

fn tag(name: &str) -> ExperimentTag {
    ExperimentTag { name: name.into(), created_at: 1.0e9 }
}

/// Rewards for children `from..to` (children cycle through ARCHS).
fn run(e: &mut OneShotEvaluator, from: u64, to: u64) -> Vec<f64> {
    (from..to).map(|s| e.evaluate(&arch(s as usize), &ctx(s)).unwrap().reward).collect()
}

#[test]
fn shared_weights_learn_and_a_seed_fixes_every_reward() {
    let d = data();
    let mut a = OneShotEvaluator::new(d.clone(), setup(120));
    let mut b = OneShotEvaluator::new(d, setup(120));
    let (ra, rb) = (run(&mut a, 0, 120), run(&mut b, 0, 120));
    assert_eq!(ra, rb, "same seed, same children: same rewards");
    assert_eq!(a.steps(), 120);
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
    // Quadrants has 4 classes: chance is 0.25 (reward 0.016 as a cube); trained it is far above.
    assert!(mean(&ra[..6]) < 0.1 && mean(&ra[114..]) > 0.4, "first {:?}\nlast {:?}", &ra[..6], &ra[114..]);
    let e = a.evaluate(&Architecture::Cnn("5x5-4".parse().unwrap()), &ctx(120)).unwrap_err();
    assert!(matches!(&e, EvalError::Failed(m) if m.contains("not a sub-network")), "{e}");
    let e = a.evaluate(&Architecture::Nb201("0-0-0-0-0-0".parse().unwrap()), &ctx(121)).unwrap_err();
    assert!(matches!(e, EvalError::Fatal(_)));
}

/// Killed after child 10 (state saved before child 9), restored and replayed: the rest of the
/// run equals the uninterrupted one, to the bit.
#[test]
fn a_resumed_evaluator_continues_exactly() {
    let dir = std::env::temp_dir().join(format!("nas-oneshot-test-{}", std::process::id()));
    let d = data();
    let with_dir = || {
        let mut s = setup(20);
        s.oneshot.state_dir = Some(dir.clone());
        s
    };
    let mut straight = OneShotEvaluator::new(d.clone(), setup(20));
    let want = run(&mut straight, 0, 20);
    let mut first = OneShotEvaluator::new(d.clone(), with_dir());
    first.attach(&tag("exp/a"));
    assert_eq!(run(&mut first, 0, 11), want[..11]);
    drop(first);
    let file = dir.join("exp_a-1000000000.supernet");
    assert!(file.exists(), "state written beside the store");
    let mut resumed = OneShotEvaluator::new(d.clone(), with_dir());
    resumed.attach(&tag("exp/a"));
    assert_eq!((resumed.steps(), resumed.next_seq), (9, 9), "saved before child 9");
    for s in 0..11 {
        resumed.replay(&arch(s), &ctx(s as u64)).unwrap();
    }
    assert_eq!(resumed.steps(), 11);
    assert_eq!(run(&mut resumed, 11, 20), want[11..]);
    // A damaged file stops the search with its name instead of training from scratch.
    std::fs::write(&file, b"NASSjunk").unwrap();
    let mut broken = OneShotEvaluator::new(d, with_dir());
    broken.attach(&tag("exp/a"));
    let e = broken.evaluate(&arch(0), &ctx(0)).unwrap_err().to_string();
    assert!(e.contains("exp_a-1000000000.supernet") && e.contains("cannot be restored"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A warm-up trains the shared weights with uniform children before child 0 (so the first
/// rewards are far above a cold start's), is part of the seeded run, and is saved: a warm-up
/// killed midway resumes from its last save, a search killed after it resumes without repeating
/// it, and both continue exactly.
#[test]
fn a_warm_up_comes_first_and_is_not_repeated_on_resume() {
    let dir = std::env::temp_dir().join(format!("nas-oneshot-warm-{}", std::process::id()));
    let d = data();
    let warm = |state_dir: Option<PathBuf>| {
        let mut s = setup(20);
        s.oneshot.warmup_steps = 200;
        s.oneshot.state_dir = state_dir;
        s
    };
    let mut straight = OneShotEvaluator::new(d.clone(), warm(None));
    let want = run(&mut straight, 0, 20);
    assert_eq!(straight.steps(), 220, "200 warm-up steps, then one per child");
    let cold = run(&mut OneShotEvaluator::new(d.clone(), setup(20)), 0, 20);
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
    assert!(mean(&want[..5]) > mean(&cold[..5]) + 0.05, "warm {:?}\ncold {:?}", &want[..5], &cold[..5]);
    assert_eq!(run(&mut OneShotEvaluator::new(d.clone(), warm(None)), 0, 20), want, "the warm-up is seeded");

    // Killed at warm-up step 100 (saved at 99): the resumed warm-up continues from there.
    let mut killed = OneShotEvaluator::new(d.clone(), warm(Some(dir.clone())));
    killed.attach(&tag("exp/w"));
    killed.warm_up_to(100).unwrap();
    drop(killed);
    let mut resumed = OneShotEvaluator::new(d.clone(), warm(Some(dir.clone())));
    resumed.attach(&tag("exp/w"));
    assert_eq!((resumed.steps(), resumed.next_seq), (99, 0), "saved every 3 warm-up steps");
    assert_eq!(run(&mut resumed, 0, 20), want, "a resumed warm-up ends where the straight one did");
    std::fs::remove_dir_all(&dir).ok();

    let mut first = OneShotEvaluator::new(d.clone(), warm(Some(dir.clone())));
    first.attach(&tag("exp/w"));
    assert_eq!(run(&mut first, 0, 2), want[..2]);
    drop(first);
    let mut resumed = OneShotEvaluator::new(d, warm(Some(dir.clone())));
    resumed.attach(&tag("exp/w"));
    assert_eq!((resumed.steps(), resumed.next_seq), (200, 0), "saved right after the warm-up");
    for s in 0..2 {
        resumed.replay(&arch(s), &ctx(s as u64)).unwrap();
    }
    assert_eq!(resumed.steps(), 202, "the replay does not warm up again");
    assert_eq!(run(&mut resumed, 2, 20), want[2..]);
    std::fs::remove_dir_all(&dir).ok();
}

/// `train_steps = 0` (Single-Path One-Shot): the warm-up is all the training; the search then
/// scores children under frozen weights, so a child's score on a given validation draw is the
/// same before and after any number of other children, where ENAS's weights move with each.
#[test]
fn a_frozen_search_trains_only_in_the_warm_up() {
    let d = data();
    let frozen = || {
        let mut s = setup(20);
        (s.oneshot.warmup_steps, s.oneshot.train_steps) = (200, 0);
        s
    };
    let mut e = OneShotEvaluator::new(d.clone(), frozen());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = seen.clone();
    e.watch_warm_up(Box::new(move |p| into.lock().unwrap().push(p)));
    let probe = arch(1);
    let first = e.evaluate(&arch(0), &ctx(0)).unwrap();
    assert_eq!(e.steps(), 200, "the warm-up, and no step for the child");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 200, "every warm-up step is reported");
    // 200 steps of 32 over the 400 training images: 16 supernet epochs.
    assert_eq!(seen[199], WarmUpProgress { steps: 200, of: 200, epochs: 16.0 });
    assert!(!first.metrics.contains_key("train_loss"), "{:?}", first.metrics);
    let before = e.score_minibatch(&probe, 7).unwrap();
    let rewards = run(&mut e, 1, 20);
    assert_eq!(e.steps(), 200);
    assert_eq!(e.score_minibatch(&probe, 7).unwrap(), before, "frozen weights score a child the same");
    // Rewards are accuracy cubed: chance (4 classes) is 0.016; the warmed-up weights beat it.
    assert!(rewards.iter().sum::<f64>() / 19.0 > 0.035, "trained weights: {rewards:?}");
    assert_eq!(run(&mut OneShotEvaluator::new(d.clone(), frozen()), 1, 20), rewards, "seeded");

    let mut enas = setup(20);
    enas.oneshot.warmup_steps = 200;
    let mut moving = OneShotEvaluator::new(d, enas);
    run(&mut moving, 0, 1);
    let before = moving.score_minibatch(&probe, 7).unwrap();
    run(&mut moving, 1, 20);
    assert_ne!(moving.score_minibatch(&probe, 7).unwrap(), before, "ENAS's weights move");

    let mut bad = frozen().oneshot;
    bad.warmup_steps = 0;
    assert!(bad.validate().unwrap_err().contains("oneshot.warmup_steps"), "frozen untrained weights are refused");
    assert!(frozen().oneshot.validate().is_ok());
}

/// `reward_flops`: every child is scored (and trained) at the width that brings it to the same
/// cost — a small child widened, a large one narrowed — exactly as that widened child is scored
/// without the setting; the trial records the width.
#[test]
fn equal_cost_rewards_score_each_child_at_its_budget_width() {
    let d = data();
    let input = InputShape { channels: 1, height: 8, width: 8, classes: 4 };
    let cost = |a: &str| Plan::new(&a.parse().unwrap(), input, &ChildConfig::default()).unwrap().flops;
    let budget = cost("3x3-6;3x3-6<0;1x1-6<1");
    let mut s = setup(10);
    s.oneshot.reward_flops = Some(budget);
    let mut equal = OneShotEvaluator::new(d.clone(), s);
    let plain = OneShotEvaluator::new(d, setup(10));
    for (a, widened) in [("3x3-4;3x3-4<0;1x1-4<1", 1.5625), ("3x3-8;3x3-8<0;1x1-8<1", 0.75), ("1x1-4", 2.0)] {
        let cnn: CnnArch = a.parse().unwrap();
        let w = equal.reward_width(&cnn).unwrap();
        assert_eq!(w, widened, "{a}");
        assert!(cost(&cnn.widened(w).to_string()) <= budget, "{a}");
        // 4 × 1.5625 rounds to 6 filters; 1x1-4 stops at the supernet's 8, under the budget.
        let shown = Architecture::Cnn(cnn.widened(w));
        assert_eq!(equal.scored_arch(&cnn), cnn.widened(w), "{a}: what a stand-alone run must train");
        assert_eq!(plain.scored_arch(&cnn), cnn, "{a}: as drawn without reward_flops");
        assert_eq!(
            equal.score_minibatch(&Architecture::Cnn(cnn), 3).unwrap(),
            plain.score_minibatch(&shown, 3).unwrap(),
            "{a}"
        );
    }
    let m = equal.evaluate(&Architecture::Cnn("3x3-8;3x3-8<0;1x1-8<1".parse().unwrap()), &ctx(0)).unwrap();
    assert_eq!(m.metrics["reward_width"], 0.75);
    assert_eq!(m.metrics["flops"].as_u64().unwrap(), cost("3x3-6;3x3-6<0;1x1-6<1"));
    assert!(OneShotConfig { reward_flops: Some(0), ..Default::default() }.validate().is_err());

    // The size caps apply to the child as scored: a draw over `max_flops` as drawn is narrowed
    // to the budget and scored, not failed; a `max_params` under what is scored fails it.
    let big = Architecture::Cnn("3x3-8;3x3-8<0;1x1-8<1".parse().unwrap());
    assert!(cost("3x3-8;3x3-8<0;1x1-8<1") > budget);
    let mut s = setup(10);
    s.oneshot.reward_flops = Some(budget);
    s.child.max_flops = Some(budget);
    let mut capped = OneShotEvaluator::new(data(), s.clone());
    assert_eq!(capped.evaluate(&big, &ctx(0)).unwrap().metrics["reward_width"], 0.75);
    let scored_params =
        Plan::new(&"3x3-6;3x3-6<0;1x1-6<1".parse().unwrap(), input, &ChildConfig::default()).unwrap().params;
    s.child.max_params = Some(scored_params - 1);
    let mut tight = OneShotEvaluator::new(data(), s);
    match tight.evaluate(&big, &ctx(0)) {
        Err(EvalError::Failed(why)) => {
            assert!(why.contains("parameters") && why.contains(&scored_params.to_string()), "{why}")
        }
        other => panic!("expected a failed trial, got {other:?}"),
    }

    // A supernet of 16 filters lets the 8-filter child widen too (here to 12, the budget's 6 × 2).
    let mut s = setup(10);
    s.oneshot.reward_flops = Some(cost("3x3-12;3x3-12<0;1x1-12<1"));
    s.oneshot.supernet_filters = Some(16);
    let roomy = OneShotEvaluator::new(data(), s);
    assert_eq!(roomy.shape().filters, 16);
    assert_eq!(roomy.reward_width(&"3x3-8;3x3-8<0;1x1-8<1".parse().unwrap()), Some(1.5));
}
