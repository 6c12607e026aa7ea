//! The `nas` binary over a PostgreSQL store (`--store postgres://…`): search, kill-free resume,
//! and the read commands. Runs when `NAS_TEST_PG_URL` names a server (`.ci/run` starts one);
//! skipped otherwise, and failing when `NAS_REQUIRE_PG=1` but no server was given.

use std::path::Path;
use std::process::{Command, Output};

fn nas(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(args)
        .current_dir(dir)
        .env_remove("NAS_STORE")
        .output()
        .expect("nas runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = nas(dir, args);
    assert!(out.status.success(), "nas {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn server() -> Option<String> {
    match std::env::var("NAS_TEST_PG_URL") {
        Ok(u) => Some(u),
        Err(_) if std::env::var("NAS_REQUIRE_PG").as_deref() == Ok("1") => {
            panic!("NAS_REQUIRE_PG=1 but NAS_TEST_PG_URL is not set")
        }
        Err(_) => {
            eprintln!("skipped: set NAS_TEST_PG_URL (see .ci/pg-start)");
            None
        }
    }
}

#[test]
fn search_resume_and_read_commands_on_postgres_equal_sqlite() {
    let Some(url) = server() else { return };
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let db = format!("nas_cli_{}", std::process::id());
    admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
    let pg = format!("{}/{db}", url.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 16 samples in two runs (stop at 8, resume to 16) on PostgreSQL; 16 straight on SQLite.
    let toy = ["search", "--evaluator", "toy", "--batch", "4", "--seed", "5", "-q"];
    ok(d, &[&toy[..], &["--samples", "8", "--store", &pg]].concat());
    ok(d, &["search", "--resume", "--samples", "16", "-q", "--store", &pg]);
    ok(d, &[&toy[..], &["--samples", "16", "--store", "s.db"]].concat());
    let top_pg = ok(d, &["top", "-k", "16", "--json", "--store", &pg]);
    let top_sq = ok(d, &["top", "-k", "16", "--json", "--store", "s.db"]);
    let strip = |s: &str| -> Vec<(String, String)> {
        s.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["arch"].to_string(), v["reward"].to_string())
            })
            .collect()
    };
    assert_eq!(strip(&top_pg).len(), 16);
    assert_eq!(strip(&top_pg), strip(&top_sq), "same seed, same trials, whichever store");
    let exps = ok(d, &["experiments", "--store", &pg]);
    assert!(exps.contains("search-1") && exps.contains("done"), "{exps}");
    let out = nas(d, &["top", "--store", "postgres://nas:secret@127.0.0.1:1/none"]);
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success() && e.contains("cannot connect") && !e.contains("secret"), "{e}");
}
