//! `nas search --evaluator oneshot` as a user runs it: the shared-weight search lists its best
//! children, `nas train --trial` retrains one from scratch, and kill -9 + `--resume` gives the
//! uninterrupted run.

use std::path::Path;
use std::time::Duration;

use nas_store::{SqliteStore, TrialStore};

mod common;
use common::ok;

/// Per trial: seq, architecture, reward bits.
fn trials(path: &Path) -> Vec<(u64, String, Option<u64>)> {
    let s = SqliteStore::open_existing(path).unwrap();
    let e = s.experiments().unwrap().pop().unwrap();
    s.trials(e.id).unwrap().into_iter().map(|t| (t.seq, t.arch, t.reward.map(f64::to_bits))).collect()
}

#[test]
fn a_one_shot_search_lists_its_best_children_and_nas_train_retrains_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = common::nas(d, &["search", "--evaluator", "oneshot", "--samples", "120", "--store", "s.db", "-q"]);
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{e}");
    assert!(e.contains("one-shot evaluator") && e.contains("supernet of 3 layers, 7x7 kernels, 32 filters"), "{e}");
    assert!(e.contains("done: 120 samples"), "{e}");
    assert!(e.contains("scoring the best 24 distinct children on the whole validation split"), "{e}");
    let rows = e.lines().filter(|l| l.split_whitespace().next().is_some_and(|w| w.parse::<u32>().is_ok())).count();
    assert_eq!(rows, 8, "top_k = 8 rows: {e}");
    let line = e.lines().find(|l| l.contains("retrain it from scratch")).unwrap_or_else(|| panic!("{e}"));
    let id: String =
        line.split("nas train --trial ").nth(1).unwrap().chars().take_while(char::is_ascii_digit).collect();
    let states: Vec<_> = std::fs::read_dir(d.join("s.db.oneshot")).unwrap().collect();
    assert_eq!(states.len(), 1, "one supernet state beside the store");
    // `nas top` lists the rewarded children as for any search.
    let top = ok(d, &["top", "-k", "3", "--store", "s.db", "--json"]);
    assert_eq!(top.lines().count(), 3, "{top}");
    assert!(top.lines().all(|l| l.contains("supernet_epoch")), "{top}");
    let out = ok(d, &["train", "--trial", &id, "--store", "s.db", "-q", "--out", "m", "--no-grid", "--epochs", "1"]);
    assert!(out.contains("test accuracy"), "{out}");
}

#[test]
fn a_one_shot_search_killed_and_resumed_equals_the_straight_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Saves the supernet every 40 children, so the kill lands between saves.
    std::fs::write(d.join("o.toml"), "[oneshot]\ncheckpoint_every = 40\ncandidates = 4\ntop_k = 2\n").unwrap();
    let args = ["search", "--evaluator", "oneshot", "--config", "o.toml", "--samples", "400", "-q"];
    common::straight_and_killed(d, &args, 150, Duration::from_secs(120));
    assert!(trials(&d.join("killed.db")).len() < 400, "the search finished before it could be killed");
    ok(d, &["search", "--resume", "--store", "killed.db", "-q"]);
    assert_eq!(trials(&d.join("killed.db")), trials(&d.join("straight.db")));
}
