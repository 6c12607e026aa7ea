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

/// After an equal-cost search (`[oneshot] reward_flops`) `nas train --trial` retrains the network
/// the search scored — the drawn child at its `reward_width` — and says so.
#[test]
fn nas_train_retrains_an_equal_cost_child_at_the_width_it_was_scored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("e.toml"), "[oneshot]\nreward_flops = 3_000_000\nsupernet_filters = 64\n").unwrap();
    let args = ["search", "--evaluator", "oneshot", "--config", "e.toml", "--samples", "30", "--store", "s.db", "-q"];
    ok(d, &args);
    let s = SqliteStore::open_existing(&d.join("s.db")).unwrap();
    let e = s.experiments().unwrap().pop().unwrap();
    let t = s
        .trials(e.id)
        .unwrap()
        .into_iter()
        .find(|t| t.metrics().get("reward_width").and_then(|w| w.as_f64()).is_some_and(|w| w != 1.0))
        .expect("3 MFLOPs widens some of tiny's children");
    let w = t.metrics()["reward_width"].as_f64().unwrap();
    let scored: nas_space::CnnArch = t.arch.parse::<nas_space::CnnArch>().unwrap().widened(w);
    let id = t.id.to_string();
    let o = common::nas(
        d,
        &["train", "--trial", &id, "--store", "s.db", "-q", "--out", "m", "--no-grid", "--epochs", "1", "--width", "1"],
    );
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && said.contains(&format!("was scored at filters × {w}")), "{said}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("m/manifest.json")).unwrap()).unwrap();
    let filters: Vec<u64> =
        manifest["architecture"]["layers"].as_array().unwrap().iter().map(|l| l["filters"].as_u64().unwrap()).collect();
    let want: Vec<u64> = scored.layers.iter().map(|l| u64::from(l.filters)).collect();
    assert_eq!(filters, want, "{said}");
}
