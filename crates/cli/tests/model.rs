//! From search to model as a user runs it: `nas train` → bundle → `nas eval` / `nas predict`,
//! and the files `nas compare` and `nas plot` write hold exactly what the store holds.

use nas_store::{SqliteStore, TrialStatus, TrialStore};

mod common;
use common::{err, ok};

#[test]
fn train_a_searched_architecture_then_eval_and_predict_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["search", "--samples", "4", "--store", "s.db", "-q"]);
    let store = SqliteStore::open_existing(&d.join("s.db")).unwrap();
    let best = store.top(None, 1).unwrap().pop().unwrap();
    let id = best.id.to_string();
    // The tiny preset's grid: 2 learning rates × 2 epochs, then 4 epochs on train + validation.
    let out = ok(d, &["train", "--trial", &id, "--store", "s.db", "-q", "--out", "m"]);
    assert!(out.contains("← chosen"), "{out}");
    let grid_rows = out.lines().filter(|l| l.trim_start().starts_with(char::is_numeric) && l.contains("lr 0.")).count();
    assert_eq!(grid_rows, 2, "{out}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("m/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["source_trial"], best.id);
    assert_eq!(manifest["architecture"]["space"], "cnn");
    assert_eq!(manifest["metrics"]["epochs"].as_array().unwrap().len(), 4);
    assert_eq!(manifest["class_names"][9], "Ankle boot");
    let test_acc = manifest["metrics"]["test_accuracy"].as_f64().unwrap();
    assert!(test_acc > 0.3, "ten classes, trained: {test_acc}");
    for f in ["arch.json", "model.bpk", "model.safetensors", "model.onnx"] {
        assert!(d.join("m").join(f).exists(), "{f}");
    }

    // nas eval reproduces the test accuracy measured at the end of training.
    let eval = ok(d, &["eval", "m"]);
    assert!(eval.contains(&format!("test accuracy {test_acc:.4} on 1000 test images")), "{eval}");
    // Trained on flipped clothes: both also score each image with its mirror, and agree.
    let mirrored = manifest["metrics"]["test_accuracy_mirror"].as_f64().expect("flip-trained: mirror accuracy");
    assert!(out.contains(&format!("{mirrored:.4} with flip test-time augmentation")), "{out}");
    assert!(eval.contains(&format!("test accuracy {mirrored:.4} with flip test-time augmentation")), "{eval}");

    // Two bundles: each with its accuracy and 95 % interval, the second paired with the first on
    // the same images — its difference is exactly (only-second − only-first) / images.
    ok(d, &["train", "--arch", "1x1-4", "--no-grid", "--epochs", "1", "-q", "--out", "m2"]);
    let both = ok(d, &["eval", "m", "m2"]);
    let acc_of = |name: &str| -> f64 {
        let line = both.lines().find(|l| l.starts_with(&format!("{name}: test accuracy 0."))).expect(name);
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    };
    let (acc1, acc2) = (acc_of("m"), acc_of("m2"));
    assert!(format!("{acc1:.4}") == format!("{test_acc:.4}") && both.contains("(95 % interval 0."), "{both}");
    let pair = both.lines().find(|l| l.starts_with("  m2: ")).expect("paired line");
    let nums: Vec<f64> = pair
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .filter_map(|t| t.parse().ok())
        .collect();
    // m2 (the 2), difference, 95 (the interval's label), low, high, only-first, only-second, p.
    let [_, diff, _, lo, hi, only_first, only_second, p] = nums[..] else { panic!("{pair}: {nums:?}") };
    assert!((diff - (only_second - only_first) / 1000.0).abs() < 1e-4, "{pair}");
    assert!((diff - (acc2 - acc1)).abs() < 2e-4 && lo <= diff && diff <= hi && (0.0..=1.0).contains(&p), "{pair}");
    assert!(both.contains("m2 (flip TTA): "), "both trained on flips: {both}");
    let e = err(d, &["eval", "m", "nowhere"]);
    assert!(e.contains("nowhere/manifest.json"), "{e}");

    // nas predict on an IDX file of three test images: one line per image with a class name.
    let splits = nas_data::shipped_fashion_mnist();
    nas_data::write_idx(&d.join("three-idx3-ubyte"), &[3, 28, 28], &splits.test.pixels[..3 * 784]).unwrap();
    let pred = ok(d, &["predict", "m", "three-idx3-ubyte"]);
    assert_eq!(pred.lines().count(), 3, "{pred}");
    for line in pred.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let class: usize = cols[1].parse().unwrap();
        assert_eq!(cols[2], manifest["class_names"][class], "{line}");
        let p: f64 = cols[3].parse().unwrap();
        assert!((0.1..=1.0).contains(&p), "{line}");
    }

    // nas export-onnx writes the same graph nas train put in the bundle.
    let out = ok(d, &["export-onnx", "m", "again.onnx"]);
    assert!(out.contains("again.onnx written") && out.contains("[batch, 1, 28, 28]"), "{out}");
    assert_eq!(std::fs::read(d.join("again.onnx")).unwrap(), std::fs::read(d.join("m/model.onnx")).unwrap());
    onnxruntime_agrees_with_predict(d, &ok(d, &["predict", "m", "three-idx3-ubyte", "--logits"]));
    std::fs::create_dir(d.join("lm")).unwrap();
    std::fs::write(d.join("lm/manifest.json"), r#"{"format": 1, "architecture": {"space": "rnn"}}"#).unwrap();
    let e = err(d, &["export-onnx", "lm"]);
    assert!(e.contains("lm/manifest.json") && e.contains("export-onnx take image classifiers"), "{e}");

    // Errors name the file at fault, one line each.
    let e = err(d, &["eval", "nowhere"]);
    assert!(e.contains("nowhere/manifest.json"), "{e}");
    std::fs::write(d.join("m/model.bpk"), b"junk").unwrap();
    let e = err(d, &["predict", "m", "three-idx3-ubyte"]);
    assert!(e.contains("m/model.bpk"), "{e}");
    let e = err(d, &["train", "--arch", "3x3-8;oops", "-q"]);
    assert!(e.contains("--arch"), "{e}");
}

/// `[retrain] max_minutes`: the width comes down until a timed run fits, is kept beside the run's
/// saved state so a resume trains the same network, and `--width` pins it.
#[test]
fn a_time_budget_narrows_the_retrain_and_a_resume_keeps_its_width() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("t.toml"), "[retrain]\nwidth = 4.0\nmax_minutes = 0.002\n").unwrap();
    let arch = "3x3-16-mp;3x3-16<0";
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--arch",
            arch,
            "--config",
            "t.toml",
            "--no-grid",
            "--epochs",
            "1",
            "-q",
            "--train-subset",
            "400",
        ];
        args.extend_from_slice(&["--out", out]);
        args.extend_from_slice(extra);
        let o = common::nas(d, &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join(out).join("manifest.json")).unwrap()).unwrap();
        let filters = manifest["architecture"]["layers"][0]["filters"].as_u64().unwrap();
        let epochs = manifest["train"]["epochs"].as_u64().unwrap();
        (String::from_utf8(o.stderr).unwrap(), filters, epochs)
    };
    // 0.12 s for one epoch of 400 images cannot hold 64 filters a layer.
    let (said, filters, epochs) = run("m", &[]);
    assert!(said.contains("retrain.max_minutes = 0.002: filters × "), "{said}");
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("m/timed-width.json")).unwrap()).unwrap();
    let width = kept["width"].as_f64().unwrap();
    assert!(width < 4.0 && filters == (16.0 * width).round().max(1.0) as u64, "{said}: {filters}");
    assert!(kept["probes"].as_array().unwrap().len() >= 2, "{kept}");
    assert_eq!((kept["epochs"].as_u64(), epochs), (Some(1), 1), "no fill_budget: the epochs asked for");
    // A run resuming into a folder with saved state trains at the width (and for the epochs)
    // it started with; a record from before fill_budget has no epochs and keeps --epochs.
    std::fs::create_dir(d.join("r")).unwrap();
    std::fs::write(d.join("r/final-run.state"), b"not a saved run").unwrap();
    std::fs::write(d.join("r/timed-width.json"), r#"{"width": 0.5}"#).unwrap();
    let (said, filters, epochs) = run("r", &[]);
    assert!(said.contains("filters × 0.5, as when this run started, for 1 epoch(s)"), "{said}");
    assert_eq!((filters, epochs), (8, 1));
    std::fs::write(d.join("r/final-run.state"), b"not a saved run").unwrap();
    std::fs::write(d.join("r/timed-width.json"), r#"{"width": 0.5, "epochs": 2}"#).unwrap();
    let (said, _, epochs) = run("r", &[]);
    assert!(said.contains("for 2 epoch(s)") && epochs == 2, "{said}");
    // A budget far above what the ceiling needs says so (it never widens past retrain.width).
    std::fs::write(d.join("t.toml"), "[retrain]\nwidth = 0.25\nmax_minutes = 60\n").unwrap();
    let (said, filters, _) = run("g", &[]);
    assert!(said.contains("× 0.25 is the ceiling") && filters == 4, "{said}");
    // fill_budget spends what the width leaves on epochs, as many as the epochs' own times allow;
    // filter_multiple rounds the widened filter counts up (16 × 0.25 = 4 → 8).
    let fill = "[retrain]\nwidth = 0.25\nmax_minutes = 0.005\nfill_budget = true\nfilter_multiple = 8\n";
    std::fs::write(d.join("t.toml"), fill).unwrap();
    let (said, filters, epochs) = run("f", &[]);
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("f/timed-width.json")).unwrap()).unwrap();
    assert_eq!(filters, 8, "{said}");
    assert_eq!(kept["epochs"].as_u64(), Some(1), "the least, what a resume's saved state was keyed with: {kept}");
    assert!(said.contains("retrain.fill_budget: about ") && said.contains("at least 1 epoch(s)"), "{said}");
    // The run re-planned from its own epochs: every epoch after the first began while the
    // mean so far still fitted the 0.3 s.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("f/manifest.json")).unwrap()).unwrap();
    let seconds: Vec<f64> =
        manifest["metrics"]["epochs"].as_array().unwrap().iter().map(|e| e["seconds"].as_f64().unwrap()).collect();
    assert_eq!(seconds.len() as u64, epochs, "{manifest}");
    assert!(epochs >= 1 && seconds[..seconds.len() - 1].iter().sum::<f64>() <= 0.3, "{seconds:?}");
    // --width pins the width: nothing is timed.
    std::fs::write(d.join("t.toml"), "[retrain]\nwidth = 4.0\nmax_minutes = 0.002\n").unwrap();
    let (said, filters, _) = run("p", &["--width", "2"]);
    assert!(!said.contains("max_minutes") && filters == 32, "{said}");
    let e = err(d, &["train", "--arch", arch, "--config", "bad.toml"]);
    assert!(e.contains("bad.toml"), "{e}");
    std::fs::write(d.join("bad.toml"), "[retrain]\nmax_minutes = -1\n").unwrap();
    let e = err(d, &["train", "--arch", arch, "--config", "bad.toml"]);
    assert!(e.contains("retrain.max_minutes"), "{e}");
}

/// `[rescore]` as a user meets it: the search ends by re-scoring its best children, prints the
/// trial to retrain, `nas show` names the search's trial it re-scores, `nas train --trial`
/// takes it, and `--resume` of the finished search has nothing left to train.
#[test]
fn a_search_rescores_its_best_children_and_nas_train_takes_the_winner() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let toml = "[rescore]\ntop_k = 2\nepochs = 1\ntrain_subset = 400\nbaselines = [\"3x3-8-mp;3x3-16<0\"]\n";
    std::fs::write(d.join("r.toml"), toml).unwrap();
    let out = common::nas(d, &["search", "--samples", "4", "--config", "r.toml", "--store", "s.db", "-q"]);
    assert!(out.status.success());
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.contains("re-scoring the best 2 children and 1 baseline(s) (3 to train)"), "{e}");
    let reference = e.lines().find(|l| l.contains("3x3-8-mp;3x3-16<0")).unwrap_or_else(|| panic!("{e}"));
    assert_eq!(reference.split_whitespace().nth(1), Some("ref"), "the baseline is listed as a reference: {e}");
    let line = e.lines().find(|l| l.starts_with("re-scored 2 children")).unwrap_or_else(|| panic!("{e}"));
    let id: String =
        line.split("nas train --trial ").nth(1).unwrap().chars().take_while(char::is_ascii_digit).collect();
    let store = SqliteStore::open_existing(&d.join("s.db")).unwrap();
    let re = store.experiment_by_name("search-1/rescore").unwrap().unwrap();
    let best = store.trial(id.parse().unwrap()).unwrap().unwrap();
    assert_eq!(best.experiment_id, re.id);
    assert!(best.parent_id.is_some(), "a child is recommended, never the baseline");
    assert_eq!(store.trials(re.id).unwrap().len(), 3);
    let show = ok(d, &["show", &id, "--store", "s.db"]);
    assert!(show.contains(&format!("re-scores       trial {}", best.parent_id.unwrap())), "{show}");
    let out = ok(d, &["train", "--trial", &id, "--store", "s.db", "-q", "--out", "m", "--no-grid", "--epochs", "1"]);
    assert!(out.contains("test accuracy"), "{out}");
    let again = common::nas(d, &["search", "--resume", "--store", "s.db", "-q"]);
    let e = String::from_utf8(again.stderr).unwrap();
    assert!(again.status.success(), "{e}");
    assert!(!e.contains("to train)") && e.contains("re-scored 2 children"), "nothing trained again: {e}");
    assert!(e.contains("resuming experiment \"search-1\""), "{e}");
    std::fs::write(d.join("bad.toml"), "[rescore]\ntop_k = 1\nbaselines = [\"3x3-8;oops\"]\n").unwrap();
    let e = err(d, &["search", "--samples", "2", "--config", "bad.toml", "--store", "b.db", "-q"]);
    assert!(e.contains("rescore.baselines") && e.contains("oops"), "{e}");
}

/// Python's onnxruntime, when importable, runs `d/m/model.onnx` on the three images of
/// `d/three-idx3-ubyte` (pixels / 255) to `nas predict --logits`'s logits within 1e-4.
fn onnxruntime_agrees_with_predict(d: &std::path::Path, predicted: &str) {
    let script = r#"
import sys, numpy as np, onnxruntime as ort
raw = open(sys.argv[2], "rb").read()[16:]
x = np.frombuffer(raw, dtype=np.uint8).astype(np.float32).reshape(-1, 1, 28, 28) / 255.0
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
for row in s.run(["logits"], {"pixels": x})[0]:
    print("\t".join(f"{v:.6f}" for v in row))
"#;
    let run = std::process::Command::new("python3")
        .args(["-c", script, "m/model.onnx", "three-idx3-ubyte"])
        .current_dir(d)
        .output();
    let out = match run {
        Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap(),
        Ok(o) if String::from_utf8_lossy(&o.stderr).contains("No module named") => {
            eprintln!("SKIPPED: the onnxruntime check (python3 cannot import onnxruntime or numpy)");
            return;
        }
        Ok(o) => panic!("onnxruntime failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            eprintln!("SKIPPED: the onnxruntime check (no python3: {e})");
            return;
        }
    };
    assert_eq!(out.lines().count(), 3, "{out}");
    for (ort, nas) in out.lines().zip(predicted.lines()) {
        let ort: Vec<f64> = ort.split('\t').map(|v| v.parse().unwrap()).collect();
        let nas: Vec<f64> = nas.split('\t').skip(4).map(|v| v.parse().unwrap()).collect();
        assert_eq!(ort.len(), 10, "{nas:?}");
        assert_eq!(nas.len(), 10, "{predicted}");
        for (a, b) in ort.iter().zip(&nas) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "onnxruntime {a} vs nas {b}");
        }
    }
}

#[test]
fn compare_and_plot_write_files_that_match_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = ok(
        d,
        &[
            "compare",
            "--evaluator",
            "toy",
            "--seeds",
            "2",
            "--at",
            "6,12",
            "--every",
            "4",
            "--top",
            "1,3",
            "--batch",
            "3",
            "--store",
            "c.db",
            "--out",
            "fig",
        ],
    );
    assert!(out.contains("reinforce") && out.contains("random"), "{out}");
    for f in ["compare.csv", "compare-budgets.csv", "compare.svg"] {
        assert!(d.join("fig").join(f).metadata().unwrap().len() > 0, "{f}");
    }
    assert_eq!(&std::fs::read(d.join("fig/compare.png")).unwrap()[1..4], b"PNG");

    // Recompute every curve point from the stored trials.
    let store = SqliteStore::open_existing(&d.join("c.db")).unwrap();
    let exps = store.experiments().unwrap();
    assert_eq!(exps.len(), 4, "2 strategies × 2 seeds kept in the store");
    let csv = std::fs::read_to_string(d.join("fig/compare.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("strategy,k,samples,mean,std,seeds"));
    let mut checked = 0;
    for line in lines {
        let c: Vec<&str> = line.split(',').collect();
        let (k, n): (usize, usize) = (c[1].parse().unwrap(), c[2].parse().unwrap());
        let mut means = Vec::new();
        for e in exps.iter().filter(|e| e.strategy == c[0]) {
            let mut r: Vec<f64> = store.trials(e.id).unwrap().iter().take(n).map(|t| t.reward.unwrap_or(0.0)).collect();
            r.sort_by(|a, b| b.total_cmp(a));
            means.push(r.iter().take(k).sum::<f64>() / k.min(r.len()) as f64);
        }
        let want = means.iter().sum::<f64>() / means.len() as f64;
        let got: f64 = c[3].parse().unwrap();
        assert!((got - want).abs() < 1e-5, "{line}: want {want}");
        checked += 1;
    }
    // Marks 4, 8, 12 for k = 1 and 3, both strategies.
    assert_eq!(checked, 2 * 2 * 3);

    // nas plot of one stored experiment: the CSV's rewards are the stored ones, in order.
    let name = &exps[0].name;
    let out = ok(d, &["plot", name, "--store", "c.db", "-o", "one"]);
    assert!(out.contains("one.png") && out.contains("12 samples"), "{out}");
    assert!(std::fs::read_to_string(d.join("one.svg")).unwrap().contains("best so far"));
    let csv = std::fs::read_to_string(d.join("one.csv")).unwrap();
    let stored: Vec<f64> = store
        .trials(exps[0].id)
        .unwrap()
        .iter()
        .filter(|t| t.status == TrialStatus::Completed)
        .map(|t| t.reward.unwrap())
        .collect();
    let plotted: Vec<f64> = csv
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("reward,"))
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(plotted.len(), stored.len());
    for (p, s) in plotted.iter().zip(&stored) {
        assert!((p - s).abs() < 1e-6);
    }
    let baselines = csv.lines().filter(|l| l.starts_with("baseline,")).count();
    let stored_baselines = store.updates(exps[0].id).unwrap().iter().filter(|u| u.baseline.is_some()).count();
    assert!(stored_baselines > 0);
    assert_eq!(baselines, stored_baselines);
    let e = err(d, &["plot", "nope", "--store", "c.db"]);
    assert!(e.contains("nope"), "{e}");
}
