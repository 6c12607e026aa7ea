//! `--evaluator command:CMD` end to end through the binary: shell trainers written here report
//! rewards and curves, run two at once, fail without stopping the search, and are ended by
//! Ctrl-C and run again on `--resume`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{nas_cmd, ok};
use nas_store::{SqliteStore, TrialStatus, TrialStore};

fn write_script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    format!("command:sh {}", path.display())
}

/// `nas search` of a random strategy over nb201 rewarded by `eval`, into `s.db`, quietly.
fn search_args<'a>(eval: &'a str, samples: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args =
        vec!["search", "--space", "nb201", "--strategy", "random", "--evaluator", eval, "--samples", samples];
    args.extend_from_slice(extra);
    args.extend(["--store", "s.db", "--quiet"]);
    args
}

fn trials(dir: &Path) -> Vec<nas_store::TrialRow> {
    let s = SqliteStore::open(&dir.join("s.db")).unwrap();
    let e = s.experiments().unwrap().pop().unwrap();
    s.trials(e.id).unwrap()
}

#[test]
fn two_workers_run_commands_at_once_and_rewards_arrive_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    std::fs::create_dir(&live).unwrap();
    // Each trial marks itself live for a second and reports how many were live at its end.
    let eval = write_script(
        dir.path(),
        "train.sh",
        &format!(
            r#"touch {live}/$NAS_TRIAL_ID
echo '{{"epoch": 1, "val_accuracy": 0.5}}'
sleep 1
n=$(ls {live} | wc -l)
rm {live}/$NAS_TRIAL_ID
if [ "$NAS_TRIAL_ID" = 3 ]; then echo 'trial three fails' >&2; exit 4; fi
echo "{{\"reward\": 0.$NAS_TRIAL_ID, \"live\": $n, \"threads\": $NAS_THREADS}}"
"#,
            live = live.display()
        ),
    );
    ok(dir.path(), &search_args(&eval, "6", &["--workers", "2"]));
    let ts = trials(dir.path());
    assert_eq!(ts.len(), 6);
    let mut most_live = 0;
    for t in &ts {
        if t.id == 3 {
            assert_eq!(t.status, TrialStatus::Failed);
            let why = t.failure.as_deref().unwrap();
            assert!(why.contains("status 4") && why.contains("trial three fails"), "{why}");
            continue;
        }
        assert_eq!(t.status, TrialStatus::Completed, "{:?}", t.failure);
        assert_eq!(t.reward, Some(format!("0.{}", t.id).parse().unwrap()));
        let m = t.metrics();
        most_live = most_live.max(m["live"].as_u64().unwrap());
        assert_eq!(m["epochs"][0]["val_accuracy"], 0.5, "the report reached the curve");
        assert!(dir.path().join(format!("nas-trials/search-1/trial-{}/arch.json", t.id)).exists());
    }
    assert_eq!(most_live, 2, "two commands ran at once");
}

#[test]
fn ctrl_c_ends_the_commands_and_resume_runs_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow");
    let marker = dir.path().join("survived");
    std::fs::write(&slow, "").unwrap();
    // While `slow` exists a trial sleeps (and would leave a marker had it not been killed).
    let eval = write_script(
        dir.path(),
        "train.sh",
        &format!(
            "if [ -e {slow} ]; then sleep 20; touch {marker}; fi\necho '{{\"reward\": 0.25}}'\n",
            slow = slow.display(),
            marker = marker.display()
        ),
    );
    let child =
        nas_cmd(dir.path(), &search_args(&eval, "3", &[])).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let trial = dir.path().join("nas-trials/search-1/trial-1/.nas-pgid");
    let started = Instant::now();
    while !trial.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "the first command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: signals the child we spawned.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15), "Ctrl-C did not wait for the 20 s command");
    assert!(stderr.contains("in flight to be trained again on resume"), "{stderr}");
    assert_eq!(trials(dir.path())[0].status, TrialStatus::Running, "the interrupted trial is not recorded");

    std::fs::remove_file(&slow).unwrap();
    ok(dir.path(), &["search", "--resume", "--store", "s.db", "--quiet"]);
    let ts = trials(dir.path());
    assert_eq!(ts.len(), 3);
    assert!(ts.iter().all(|t| t.status == TrialStatus::Completed && t.reward == Some(0.25)), "{ts:?}");
    assert!(!marker.exists(), "the interrupted command was killed, not left running");
}

#[test]
fn bad_command_settings_are_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "[evaluator]\nkind = \"command\"\ncommand = \"true\"\ntimeout_seconds = -1\n",
    )
    .unwrap();
    let e = common::err(dir.path(), &["search", "--space", "nb201", "--config", "c.toml", "--store", "s.db"]);
    assert!(e.contains("evaluator.timeout_seconds = -1"), "{e}");
    let e = common::err(dir.path(), &["search", "--space", "nb201", "--evaluator", "command:", "--store", "s.db"]);
    assert!(e.contains("evaluator.command is empty"), "{e}");
}

/// examples/pytorch-trainer/train.py as a user runs it, when torch is importable (skipped, and
/// saying so, otherwise).
#[test]
fn the_pytorch_example_trains_children() {
    let has_torch =
        std::process::Command::new("python3").args(["-c", "import torch"]).output().is_ok_and(|o| o.status.success());
    if !has_torch {
        eprintln!("skipped: python3 cannot import torch (pip install torch to run this test)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pytorch-trainer/train.py");
    let eval = format!("command:python3 {} --epochs 1", script.display());
    ok(
        dir.path(),
        &[
            "search",
            "--space",
            "cnn",
            "--preset",
            "tiny",
            "--evaluator",
            &eval,
            "--samples",
            "2",
            "--store",
            "s.db",
            "--quiet",
        ],
    );
    for t in trials(dir.path()) {
        assert_eq!(t.status, TrialStatus::Completed, "{:?}", t.failure);
        assert!(t.metrics()["params"].as_u64().unwrap() > 0);
        assert_eq!(t.metrics()["epochs"].as_array().unwrap().len(), 1);
    }
}
