//! The `nas` binary as a user runs it: the CLI contract, error lines, and resume after kill -9.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nas_store::{SqliteStore, TrialStore};
use serde_json::Value;

mod common;
use common::{err, nas, ok};

/// A full NAS-Bench-201-shaped table whose accuracy encodes the architecture.
fn table(dir: &Path) -> PathBuf {
    let mut text = String::from("arch,accuracy\n");
    for i in 0..15625u32 {
        let ops: Vec<String> = (0..6).map(|e| ((i / 5u32.pow(e)) % 5).to_string()).collect();
        text += &format!("{},{}\n", ops.join("-"), 50.0 + i as f64 / 1000.0);
    }
    let p = dir.join("nb201.csv");
    std::fs::write(&p, text).unwrap();
    p
}

fn accuracy_of(arch: &str) -> f64 {
    let i: u32 = arch.split('-').enumerate().map(|(e, d)| d.parse::<u32>().unwrap() * 5u32.pow(e as u32)).sum();
    50.0 + i as f64 / 1000.0
}

#[test]
fn search_then_top_json_follows_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path());
    let spec = format!("table:{}", t.display());
    ok(
        dir.path(),
        &[
            "search",
            "--space",
            "nb201",
            "--strategy",
            "reinforce",
            "--evaluator",
            &spec,
            "--samples",
            "40",
            "--seed",
            "1",
            "--store",
            "s.db",
            "-q",
        ],
    );
    let out = ok(dir.path(), &["top", "-k", "5", "--store", "s.db", "--json"]);
    let rows: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 5);
    let mut last = f64::INFINITY;
    for r in &rows {
        let reward = r["reward"].as_f64().unwrap();
        assert!(reward <= last);
        last = reward;
        assert_eq!(reward, accuracy_of(r["arch"].as_str().unwrap()));
        assert!(r["trial"].as_i64().unwrap() >= 1);
    }
    // show and export-arch of the best trial.
    let id = rows[0]["trial"].to_string();
    let shown: Value = serde_json::from_str(&ok(dir.path(), &["show", &id, "--store", "s.db", "--json"])).unwrap();
    assert_eq!(shown["arch"], rows[0]["arch"]);
    let exported = ok(dir.path(), &["export-arch", &id, "--store", "s.db"]);
    let arch = nas_space::Architecture::from_json(&exported).unwrap();
    assert_eq!(arch.to_string(), rows[0]["arch"].as_str().unwrap());
    // Random search and a column name in the spec.
    ok(
        dir.path(),
        &[
            "search",
            "--space",
            "nb201",
            "--strategy",
            "random",
            "--evaluator",
            &format!("{spec}:accuracy"),
            "--samples",
            "10",
            "--store",
            "s.db",
            "--name",
            "rand",
            "-q",
        ],
    );
    assert_eq!(
        ok(dir.path(), &["top", "-k", "100", "--store", "s.db", "--experiment", "rand", "--json"]).lines().count(),
        10
    );
    assert_eq!(
        ok(dir.path(), &["top", "-k", "100", "--store", "s.db", "--experiment", "all", "--json"]).lines().count(),
        50
    );
    let listing = ok(dir.path(), &["experiments", "--store", "s.db"]);
    assert!(listing.contains("search-1") && listing.contains("rand"), "{listing}");
    // Evolution: a mutated child names its parent in `nas show --json`.
    ok(
        dir.path(),
        &["search", "--space", "nb201", "--strategy", "evolution", "--evaluator", &spec, "--samples", "30"]
            .into_iter()
            .chain(["--store", "s.db", "--name", "evo", "-q"])
            .collect::<Vec<_>>(),
    );
    let top: Value = serde_json::from_str(
        ok(dir.path(), &["top", "-k", "1", "--store", "s.db", "--experiment", "evo", "--json"]).lines().next().unwrap(),
    )
    .unwrap();
    let id = top["trial"].to_string();
    let shown: Value = serde_json::from_str(&ok(dir.path(), &["show", &id, "--store", "s.db", "--json"])).unwrap();
    assert!(shown["parent_id"].is_i64(), "the best of 30 is a mutation: {shown}");
    // Any strategies side by side, with paired seeds.
    let table = ok(
        dir.path(),
        &["compare", "--space", "nb201", "--evaluator", &spec, "--seeds", "2", "--at", "20,40"]
            .into_iter()
            .chain(["--strategies", "evolution,local,random,reinforce:paper", "--out", "cmp"])
            .collect::<Vec<_>>(),
    );
    for label in ["evolution", "local", "random", "reinforce:paper"] {
        assert_eq!(table.lines().filter(|l| l.starts_with(label)).count(), 2, "{label}: {table}");
    }
    assert!(dir.path().join("cmp/compare.png").is_file());
    let bad = err(dir.path(), &["compare", "--space", "nb201", "--evaluator", &spec, "--strategies", "evolve"]);
    assert!(bad.contains("unknown strategy \"evolve\""), "{bad}");
}

#[test]
fn no_arguments_runs_the_embedded_default_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    // The embedded default (preset tiny: real training on the shipped subset), fewer samples.
    let out = nas(dir.path(), &["search", "--samples", "3"]);
    assert!(out.status.success());
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.contains("nas.db") && e.contains("nas top") && e.contains("shipped Fashion-MNIST subset"), "{e}");
    assert!(dir.path().join("nas.db").exists());
    assert!(e.contains("validation accuracy 0."), "the summary names the best child's accuracy: {e}");
    let top = ok(dir.path(), &["top"]);
    assert!(top.lines().nth(1).is_some_and(|h| h.contains("val acc")), "{top}");
    let rows: Vec<Value> =
        ok(dir.path(), &["top", "-k", "50", "--json"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        // Real training: the reward is the cube of a validation accuracy, well above chance (0.1³).
        let acc = r["metrics"]["val_accuracy"].as_f64().unwrap();
        assert!((r["reward"].as_f64().unwrap() - acc.powi(3)).abs() < 1e-9, "{r}");
        assert!(acc > 0.2, "{r}");
        assert!(r["metrics"]["params"].as_u64().unwrap() > 0);
    }
}

#[test]
fn errors_are_one_clear_line_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bad.toml"), "samples = 5\nbatchsize = 3\n").unwrap();
    let e = err(d, &["search", "--config", "bad.toml"]);
    assert!(e.contains("bad.toml") && e.contains("batchsize"), "{e}");
    let e = err(d, &["search", "--evaluator", "table:missing.csv", "--space", "nb201"]);
    assert!(e.contains("missing.csv"), "{e}");
    let e = err(d, &["search", "--space", "nb201"]);
    assert!(e.contains("needs a table evaluator"), "{e}");
    let e = err(d, &["search", "--preset", "huge"]);
    assert!(e.contains("unknown preset") && e.contains("fashion-cpu"), "{e}");
    let e = err(d, &["search", "--dataset", "mnist:/no/such/dir", "--store", "y.db"]);
    assert!(e.contains("/no/such/dir"), "{e}");
    let e = err(d, &["search", "--dataset", "cifar10"]);
    assert!(e.contains("cifar10:DIR"), "{e}");
    std::fs::write(d.join("small.csv"), "arch,accuracy\n0-0-0-0-0-0,1\n").unwrap();
    let e = err(d, &["search", "--space", "nb201", "--evaluator", "table:small.csv", "--store", "x.db"]);
    assert!(e.contains("is not in the table"), "{e}");
    let e = err(d, &["search", "--evaluator", "bogus"]);
    assert!(e.contains("unknown evaluator"), "{e}");
    let e = err(d, &["show", "12345", "--store", "x.db"]);
    assert!(e.contains("no trial 12345"), "{e}");
    let e = err(d, &["top", "--store", "nothere.db"]);
    assert!(e.contains("nothere.db") && !d.join("nothere.db").exists(), "{e}");
    let e = err(d, &["search", "--resume", "--seed", "3", "--store", "x.db"]);
    assert!(e.contains("--resume"), "{e}");
    std::fs::write(d.join("junk.db"), vec![7u8; 4096]).unwrap();
    let e = err(d, &["top", "--store", "junk.db"]);
    assert!(e.contains("junk.db"), "{e}");
}

fn trials(path: &Path) -> Vec<(u64, String, Option<f64>, u64)> {
    let s = SqliteStore::open_existing(path).unwrap();
    let e = s.experiments().unwrap().pop().unwrap();
    s.trials(e.id).unwrap().into_iter().map(|t| (t.seq, t.arch, t.reward, t.log_prob.to_bits())).collect()
}

#[test]
fn kill_9_then_resume_equals_a_straight_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args =
        ["search", "--space", "nb201", "--evaluator", "toy", "--samples", "1500", "--batch", "5", "--seed", "9", "-q"];
    // Killed once some hundreds of trials are in the store.
    common::straight_and_killed(d, &args, 300, Duration::from_secs(60));
    let partial = trials(&d.join("killed.db"));
    assert!(partial.len() < 1500, "the search finished before it could be killed");
    ok(d, &["search", "--resume", "--store", "killed.db", "-q"]);
    assert_eq!(trials(&d.join("killed.db")), trials(&d.join("straight.db")));
}

#[test]
fn help_teaches() {
    let dir = tempfile::tempdir().unwrap();
    let h = ok(dir.path(), &["--help"]);
    assert!(h.contains("Examples") && h.contains("nas search --resume"), "{h}");
    let s = ok(dir.path(), &["search", "--help"]);
    for flag in ["--config", "--space", "--strategy", "--evaluator", "--samples", "--seed", "--store", "--resume"] {
        assert!(s.contains(flag), "{flag} missing from search --help");
    }
    let c = ok(dir.path(), &["config", "--space", "nb201", "--evaluator", "toy"]);
    assert!(c.contains("space = \"nb201\"") && c.contains("update = \"ppo\""), "{c}");
    assert!(s.contains("evolution") && s.contains("--count-repeats"), "{s}");
    let p = ok(dir.path(), &["config", "--preset", "paper-cifar10"]);
    assert!(p.contains("update = \"paper\"") && p.contains("learning_rate = 0.0006"), "{p}");
}

#[test]
fn recurrent_cell_search_then_train_the_best_cell_and_an_lstm() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["search", "--space", "rnn", "--samples", "4", "--batch", "2", "-q"]);
    let top = ok(dir.path(), &["top", "-k", "1", "--json"]);
    let best: Value = serde_json::from_str(top.lines().next().unwrap()).unwrap();
    let ppl = best["metrics"]["val_perplexity"].as_f64().unwrap();
    assert!(ppl > 1.0 && ppl < 68.0, "better than uniform over the 68-token vocabulary: {ppl}");
    assert!((best["reward"].as_f64().unwrap() - 80.0 / (ppl * ppl)).abs() < 1e-9);
    let id = best["trial"].to_string();
    let svg = ok(dir.path(), &["draw", &id]);
    assert_eq!(svg.matches(r#"class="node tree-node""#).count(), 15, "base-8 tree");

    let out = ok(dir.path(), &["train-lm", "--cell", &id, "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["test_perplexity"].as_f64().unwrap() > 1.0);
    assert_eq!(v["val_perplexity"].as_f64().unwrap(), ppl, "same seed, same cell, same training as in the search");
    let out = ok(dir.path(), &["train-lm", "--cell", "lstm", "--match-params", "--json"]);
    let lstm: Value = serde_json::from_str(out.trim()).unwrap();
    let (a, b) = (lstm["params"].as_f64().unwrap(), v["params"].as_f64().unwrap());
    assert!((a - b).abs() / b < 0.05, "equal parameter counts: lstm {a}, tree {b}");
}

#[test]
fn text_corpus_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let ptb = dir.path().join("ptb");
    std::fs::create_dir(&ptb).unwrap();
    let e = err(dir.path(), &["search", "--space", "rnn", "--dataset", "ptb:ptb"]);
    assert!(e.contains("ptb.train.txt: no such file"), "{e}");
    std::fs::write(ptb.join("ptb.train.txt"), " a b c \n").unwrap();
    std::fs::write(ptb.join("ptb.valid.txt"), " a b \n b zebra \n").unwrap();
    std::fs::write(ptb.join("ptb.test.txt"), " c \n").unwrap();
    let e = err(dir.path(), &["search", "--space", "rnn", "--dataset", "ptb:ptb"]);
    assert!(e.contains("ptb.valid.txt: line 2: token \"zebra\" is not in the training vocabulary"), "{e}");
    let e = err(dir.path(), &["search", "--dataset", "ptb:ptb"]);
    assert!(e.contains("--space rnn"), "{e}");
    let e = err(dir.path(), &["search", "--space", "rnn", "--dataset", "fashion-mnist"]);
    assert!(e.contains("text corpus"), "{e}");
    let e = err(dir.path(), &["train-lm", "--cell", "add:tanh | x"]);
    assert!(e.contains("--cell"), "{e}");
    let e = err(dir.path(), &["search", "--space", "rnn", "--config", "/dev/null", "--dataset", "ptb"]);
    assert!(e.contains("ptb:DIR"), "{e}");
}

/// `nas bench fidelity` on a tiny setting: three architectures trained at both fidelities, one
/// row each, and an agreement line per batch-norm scoring.
#[test]
fn bench_fidelity_ranks_at_both_fidelities() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("small.toml");
    std::fs::write(&cfg, "[train]\nepochs = 1\ntrain_subset = 300\nvalidation = 200\n").unwrap();
    let out = ok(
        dir.path(),
        &[
            "bench",
            "fidelity",
            "--config",
            cfg.to_str().unwrap(),
            "--archs",
            "3",
            "--high-epochs",
            "1",
            "--high-subset",
            "600",
            "--top-k",
            "1",
        ],
    );
    let rows: Vec<&str> = out.lines().filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit())).collect();
    assert_eq!(rows.len(), 3, "{out}");
    for name in ["running", "recal-10", "batch-stats"] {
        let line = out.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{out}"));
        assert_eq!(line.split_whitespace().count(), 4, "{line}");
    }
    assert!(out.contains("600 training") && out.contains("time per architecture"), "{out}");
}
