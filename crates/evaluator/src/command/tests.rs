//! The command evaluator against small shell commands written here: results, reports, failures,
//! timeouts, median stopping and the environment a command sees.

use super::*;

fn arch() -> Architecture {
    Architecture::parse("cnn", "3x3-16;5x5-32<0").unwrap()
}

fn ctx(trial_id: i64) -> EvalContext {
    EvalContext { trial_id, seq: trial_id as u64, seed: 7 }
}

fn evaluator(dir: &Path, command: &str) -> CommandEvaluator {
    let spec = CommandSpec { trials_dir: dir.to_path_buf(), kill_grace_seconds: 1.0, ..CommandSpec::new(command) };
    let mut ev = CommandEvaluator::new(spec, "cnn", 2);
    ev.attach(&tag(1.0));
    ev
}

fn tag(created_at: f64) -> ExperimentTag {
    ExperimentTag { name: "exp".into(), created_at }
}

fn failure(r: Result<Evaluation, EvalError>) -> String {
    match r {
        Err(EvalError::Failed(why)) => why,
        other => panic!("expected a failed trial, got {other:?}"),
    }
}

#[test]
fn rewards_metrics_and_reports_arrive_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = r#"echo starting; echo '{"epoch": 1, "val_accuracy": 0.25, "train_loss": 2}'
        echo '{"epoch": 2, "val_accuracy": 0.5, "train_loss": 1}'; echo oops >&2
        echo '{"reward": 0.625, "params": 1234, "note": "fine"}'"#;
    let out = evaluator(dir.path(), cmd).evaluate(&arch(), &ctx(3)).unwrap();
    assert_eq!(out.reward, 0.625);
    assert_eq!(out.metrics["params"], 1234);
    assert_eq!(out.metrics["note"], "fine");
    let epochs = out.metrics["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    assert_eq!((epochs[1]["epoch"].as_f64(), epochs[1]["val_accuracy"].as_f64()), (Some(2.0), Some(0.5)));
    let trial = dir.path().join("exp/trial-3");
    assert!(std::fs::read_to_string(trial.join("stdout.log")).unwrap().starts_with("starting\n"));
    assert_eq!(std::fs::read_to_string(trial.join("stderr.log")).unwrap(), "oops\n");
    assert!(!trial.join(GROUP_FILE).exists(), "the group file goes when the command ends");
}

#[test]
fn the_command_sees_its_trial() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = r#"printf '{"reward": 1, "arch": %s, "id": %s, "seed": %s, "space": "%s", "exp": "%s", "threads": %s, "omp": %s, "extra": "%s", "here": "%s", "dir": "%s"}\n' \
        "$(tr -d '\n' < "$NAS_ARCH")" "$NAS_TRIAL_ID" "$NAS_SEED" "$NAS_SPACE" "$NAS_EXPERIMENT" "$NAS_THREADS" "$OMP_NUM_THREADS" "$EXTRA" "$(pwd)" "$NAS_TRIAL_DIR""#;
    let mut ev = evaluator(dir.path(), cmd);
    ev.spec.env.insert("EXTRA".into(), "yes".into());
    let m = ev.evaluate(&arch(), &ctx(5)).unwrap().metrics;
    assert_eq!(Architecture::from_json(&m["arch"].to_string()).unwrap(), arch());
    assert_eq!((m["id"].as_i64(), m["space"].as_str(), m["exp"].as_str()), (Some(5), Some("cnn"), Some("exp")));
    assert_eq!(m["seed"].as_u64(), Some(trial_seed(&ctx(5))));
    assert_eq!((m["threads"].as_u64(), m["extra"].as_str()), (Some(2), Some("yes")));
    if std::env::var_os("OMP_NUM_THREADS").is_none() {
        assert_eq!(m["omp"].as_u64(), Some(2));
    }
    let trial = std::fs::canonicalize(dir.path().join("exp/trial-5")).unwrap();
    assert_eq!(std::fs::canonicalize(m["here"].as_str().unwrap()).unwrap(), trial, "runs in the trial directory");
    assert_eq!(std::fs::canonicalize(m["dir"].as_str().unwrap()).unwrap(), trial);
}

#[test]
fn every_way_of_failing_is_a_failed_trial_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        ("no-such-trainer-xyz", "status 127 (command not found)"),
        ("echo bad things >&2; exit 3", "status 3; stderr: bad things"),
        ("echo '{\"reward\": 0.5}'; exit 2", "status 2"),
        ("echo hello", "without printing a reward line (1 line(s) on stdout"),
        ("true", "without printing a reward line (0 line(s)"),
        ("echo '{\"reward\": \"high\"}'", "must be a number, got \"high\""),
        ("echo '{\"reward\": NaN}'", "NaN and Infinity are not JSON"),
        ("echo '{\"reward\": 1e999}'", "looks like JSON but is not"),
        ("kill -9 $$", "killed by signal 9"),
    ];
    for (i, (cmd, want)) in cases.iter().enumerate() {
        let why = failure(evaluator(dir.path(), cmd).evaluate(&arch(), &ctx(i as i64)));
        assert!(why.contains(want), "{cmd:?} → {why:?}, wanted {want:?}");
    }
}

#[test]
fn floods_are_cut_and_the_reward_still_found() {
    let dir = tempfile::tempdir().unwrap();
    // 3 MiB without a newline, then 100,000 short lines, then the result.
    let cmd = r#"head -c 3145728 /dev/zero | tr '\0' x; echo; seq 100000; echo '{"reward": 0.5}'"#;
    let out = evaluator(dir.path(), cmd).evaluate(&arch(), &ctx(1)).unwrap();
    assert_eq!(out.reward, 0.5);
    let log = std::fs::metadata(dir.path().join("exp/trial-1/stdout.log")).unwrap().len();
    assert!(log < 2 << 20, "the overlong line is cut in the log too ({log} bytes)");
}

#[test]
fn timeouts_kill_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("survived");
    // A background grandchild that would write the marker after the timeout.
    let cmd = format!("(sleep 3; touch {}) & sleep 30", marker.display());
    let mut ev = evaluator(dir.path(), &cmd);
    ev.spec.timeout_seconds = Some(0.5);
    let started = Instant::now();
    let why = failure(ev.evaluate(&arch(), &ctx(1)));
    assert!(why.contains("timed out after 0.5 s"), "{why}");
    assert!(started.elapsed() < Duration::from_secs(5), "SIGTERM ends sh at once");
    std::thread::sleep(Duration::from_millis(3500));
    assert!(!marker.exists(), "the grandchild died with its group");
}

#[test]
fn median_stopping_ends_a_lagging_command_with_its_best_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let good =
        r#"for e in 1 2 3; do echo "{\"epoch\": $e, \"val_accuracy\": 0.$((e+5))}"; done; echo '{"reward": 0.8}'"#;
    let mut ev = evaluator(dir.path(), good);
    ev.spec.median_stopping = Some(MedianStopping { grace_epochs: 1, min_trials: 2 });
    ev.stopper = Some(Arc::new(MedianStopper::new(MedianStopping { grace_epochs: 1, min_trials: 2 })));
    for id in 0..2 {
        let out = ev.evaluate(&arch(), &ctx(id)).unwrap();
        ev.observe_completed(&out.metrics);
    }
    // Reports 0.2, then 0.1 at epoch 2 (median 0.7), then sleeps: it must be stopped, not waited for.
    ev.spec.command = r#"trap 'exit 1' TERM; echo '{"epoch": 1, "val_accuracy": 0.2}'; echo '{"epoch": 2, "val_accuracy": 0.1}'; sleep 30 & wait"#.into();
    let started = Instant::now();
    let out = ev.evaluate(&arch(), &ctx(9)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(out.metrics["stopped_early"].as_str().unwrap().contains("median stopping"), "{:?}", out.metrics);
    assert_eq!(out.reward, 0.2, "a stopped trial's reward is its best report");
    let mut stopped = out.metrics.clone();
    ev.observe_completed(&stopped);
    stopped.remove("stopped_early");
    assert_eq!(completed_curve(&stopped, "val_accuracy"), Some(vec![0.2, 0.1]));
}

#[test]
fn a_leftover_group_of_a_killed_run_is_ended_before_the_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let trial = dir.path().join("exp/trial-4");
    std::fs::create_dir_all(&trial).unwrap();
    // A command a dead nas left running in the trial directory, in its own group.
    let mut orphan = Command::new("sh").arg("-c").arg("sleep 60").current_dir(&trial).process_group(0).spawn().unwrap();
    std::fs::write(trial.join(GROUP_FILE), orphan.id().to_string()).unwrap();
    let out = evaluator(dir.path(), "echo '{\"reward\": 1}'").evaluate(&arch(), &ctx(4)).unwrap();
    assert_eq!(out.reward, 1.0);
    let status = orphan.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the orphan was killed");
}

#[test]
fn bad_settings_name_their_key() {
    let bad = |f: fn(&mut CommandSpec)| {
        let mut s = CommandSpec::new("x");
        f(&mut s);
        s.validate().unwrap_err()
    };
    assert!(bad(|s| s.command = " ".into()).contains("evaluator.command"));
    assert!(bad(|s| s.timeout_seconds = Some(0.0)).contains("evaluator.timeout_seconds"));
    assert!(bad(|s| s.timeout_seconds = Some(f64::NAN)).contains("evaluator.timeout_seconds"));
    assert!(bad(|s| s.kill_grace_seconds = -1.0).contains("evaluator.kill_grace_seconds"));
    assert!(
        bad(|s| {
            s.env.insert("A=B".into(), "x".into());
        })
        .contains("evaluator.env")
    );
    assert!(CommandSpec::new("x").validate().is_ok());
}

/// The experiment directory is claimed by the first experiment that uses it: the same
/// experiment (a resume, a sibling worker) goes on using it, an experiment of the same name from
/// another store is refused with the directory's name instead of mixing trials.
#[test]
fn an_experiment_of_the_same_name_from_another_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = r#"echo '{"reward": 0.5}'"#;
    let mut first = evaluator(dir.path(), cmd);
    assert_eq!(first.evaluate(&arch(), &ctx(1)).unwrap().reward, 0.5);
    assert_eq!(first.sibling().evaluate(&arch(), &ctx(2)).unwrap().reward, 0.5);
    // A resumed search: a new evaluator, the same experiment.
    assert_eq!(evaluator(dir.path(), cmd).evaluate(&arch(), &ctx(3)).unwrap().reward, 0.5);
    std::fs::remove_file(dir.path().join("exp/trial-1/stdout.log")).unwrap();
    let mut other = evaluator(dir.path(), cmd);
    other.attach(&tag(2.0));
    match other.evaluate(&arch(), &ctx(1)) {
        Err(EvalError::Fatal(why)) => {
            assert!(why.contains("another experiment named \"exp\"") && why.contains("trials_dir"), "{why}");
            assert!(why.contains(&dir.path().join("exp").display().to_string()), "{why}");
        }
        r => panic!("expected a fatal error, got {r:?}"),
    }
    assert!(!dir.path().join("exp/trial-1/stdout.log").exists(), "the refused experiment ran nothing there");
}
