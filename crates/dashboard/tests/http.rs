//! HTTP-level tests of every route over a store filled with known trials: status codes, JSON
//! shapes, escaping of user-provided names, 400/404 pages.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use nas_dashboard::{SharedStore, router};
use nas_store::{NewExperiment, NewTrial, SqliteStore, TrialResult, TrialStatus, TrialStore};
use serde_json::{Value, json};
use tower::ServiceExt;

const EVIL: &str = "<script>alert('x')</script> & co";

/// Two experiments; the first (evil name) has a completed CNN trial with epochs, a failed one
/// and a running one.
fn store() -> SharedStore {
    let s = SqliteStore::in_memory().unwrap();
    let e = s
        .create_experiment(&NewExperiment {
            name: EVIL.into(),
            space: "cnn".into(),
            strategy: "reinforce".into(),
            seed: 7,
            config_json: json!({"samples": 10}).to_string(),
        })
        .unwrap();
    s.create_experiment(&NewExperiment {
        name: "other".into(),
        space: "nb201".into(),
        strategy: "random".into(),
        seed: 1,
        config_json: "{}".into(),
    })
    .unwrap();
    let archs = ["3x3-8;5x5-4<0;1x1-6<0,1", "7x7-16;3x3-4", "1x1-4"];
    for (seq, a) in archs.iter().enumerate() {
        let arch: nas_space::CnnArch = a.parse().unwrap();
        let arch = nas_space::Architecture::Cnn(arch);
        let id = s
            .insert_trial(&NewTrial {
                experiment_id: e.id,
                seq: seq as u64,
                arch: arch.to_string(),
                arch_json: arch.to_json(),
                tokens_json: "[]".into(),
                log_prob: -1.0,
                entropy: 1.0,
                policy_version: 0,
                depth: arch.to_string().split(';').count() as u32,
                // The running third trial is a mutation of the first (evolution).
                parent_id: (seq == 2).then_some(1),
                repeat_of: None,
            })
            .unwrap();
        let result = match seq {
            0 => Some(TrialResult {
                status: TrialStatus::Completed,
                reward: Some(0.5),
                metrics_json: Some(
                    json!({"val_accuracy": 0.8, "params": 1234, "flops": 5678, "epochs": [
                        {"epoch": 1, "train_loss": 1.5, "val_accuracy": 0.7, "learning_rate": 0.1, "seconds": 1.0},
                        {"epoch": 2, "train_loss": 0.9, "val_accuracy": 0.8, "learning_rate": 0.1, "seconds": 1.0}]})
                    .to_string(),
                ),
                failure: None,
                eval_seconds: 2.0,
            }),
            1 => Some(TrialResult {
                status: TrialStatus::Failed,
                reward: Some(0.0),
                metrics_json: None,
                failure: Some("diverged: loss is NaN at epoch 1 </script>".into()),
                eval_seconds: 0.5,
            }),
            _ => None,
        };
        if let Some(r) = result {
            s.finish_trial(id, &r).unwrap();
        }
    }
    SharedStore::new(Box::new(s))
}

async fn get(store: &SharedStore, uri: &str) -> (StatusCode, String, String) {
    let resp = router(store.clone()).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let ctype = resp.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    (status, ctype, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn experiments_page_lists_and_escapes_names() {
    let s = store();
    let (status, ctype, body) = get(&s, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(!body.contains("<script>alert"), "user-provided name must be escaped");
    assert!(body.contains("&lt;script&gt;alert"));
    assert!(body.contains(r#"href="/experiments/2""#));
    // 2 finished of 10 samples, one running, one failed, best 0.5000.
    assert!(body.contains("2 / 10"), "{body}");
    assert!(body.contains("0.5000"));
}

#[tokio::test]
async fn experiments_api_shape() {
    let (status, ctype, body) = get(&store(), "/api/experiments").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "application/json");
    let v: Value = serde_json::from_str(&body).unwrap();
    let e = &v[0];
    assert_eq!(e["name"], EVIL);
    assert_eq!(e["counts"], json!({"running": 1, "completed": 1, "failed": 1, "aborted": 0}));
    assert_eq!(e["best_reward"], 0.5);
    assert_eq!(e["samples"], 10);
    assert_eq!(v[1]["counts"]["completed"], 0);
    assert_eq!(v[1]["best_reward"], Value::Null);
}

#[tokio::test]
async fn experiment_api_polls_incrementally() {
    let s = store();
    let (status, _, body) = get(&s, "/api/experiments/1").await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    let trials = v["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 3);
    assert_eq!(trials[0]["params"], 1234);
    assert_eq!(trials[0]["val_accuracy"], 0.8);
    assert_eq!(trials[1]["status"], "failed");
    assert!(trials[1]["failure"].as_str().unwrap().starts_with("diverged"));
    assert_eq!(trials[2]["status"], "running");
    assert_eq!(v["updates"], json!([]));
    let (_, _, body) = get(&s, "/api/experiments/1?after=2").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["trials"].as_array().unwrap().len(), 1);
    assert_eq!(v["trials"][0]["seq"], 2);
}

#[tokio::test]
async fn experiment_page_has_the_live_parts() {
    let (status, _, body) = get(&store(), "/experiments/1").await;
    assert_eq!(status, StatusCode::OK);
    for id in ["reward-chart", "depth-chart", r#"id="top""#, r#"data-experiment="1""#] {
        assert!(body.contains(id), "missing {id}");
    }
    assert!(!body.contains("<script>alert"));
}

#[tokio::test]
async fn trial_page_draws_the_architecture_and_curves() {
    let (status, _, body) = get(&store(), "/trials/1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.matches(r#"class="node layer""#).count(), 3);
    assert_eq!(body.matches(r#"class="edge input skip""#).count(), 1, "2←0 is a skip");
    assert!(body.contains(r#"id="accuracy-chart""#));
    assert!(body.contains(r#""train_loss":1.5"#));
}

#[tokio::test]
async fn failed_trial_shows_its_reason_without_breaking_the_page() {
    let (status, _, body) = get(&store(), "/trials/2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("diverged: loss is NaN at epoch 1 &lt;/script&gt;"), "{body}");
    assert!(!body.contains("accuracy-chart"), "no curves without epochs");
}

#[tokio::test]
async fn arch_svg_and_trial_api() {
    let s = store();
    let (status, ctype, body) = get(&s, "/trials/1/arch.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "image/svg+xml");
    assert!(body.starts_with("<svg xmlns="));
    let (status, _, body) = get(&s, "/api/trials/3").await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "running");
    assert_eq!(v["architecture"]["space"], "cnn");
    assert_eq!(v["experiment_name"], EVIL);
    assert_eq!(v["parent_id"], 1);
    let (_, _, body) = get(&s, "/trials/3").await;
    assert!(body.contains(r#"mutated from <a href="/trials/1">trial 1</a>"#), "{body}");
    let (_, _, body) = get(&s, "/trials/1").await;
    assert!(!body.contains("mutated from"));
}

#[tokio::test]
async fn unknown_and_malformed_ids() {
    let s = store();
    for (uri, code) in [
        ("/trials/999", StatusCode::NOT_FOUND),
        ("/trials/abc", StatusCode::BAD_REQUEST),
        ("/trials/-1", StatusCode::BAD_REQUEST),
        ("/trials/999/arch.svg", StatusCode::NOT_FOUND),
        ("/experiments/42", StatusCode::NOT_FOUND),
        ("/experiments/1x", StatusCode::BAD_REQUEST),
        ("/api/trials/0", StatusCode::BAD_REQUEST),
        ("/api/experiments/77", StatusCode::NOT_FOUND),
        ("/nope", StatusCode::NOT_FOUND),
    ] {
        let (status, ctype, body) = get(&s, uri).await;
        assert_eq!(status, code, "{uri}");
        if uri.starts_with("/api/") {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert!(v["error"].is_string(), "{uri}: {body}");
        } else {
            assert!(ctype.starts_with("text/html"), "{uri}: {ctype}");
            assert!(body.contains(&code.as_u16().to_string()));
        }
    }
    // An overlong number is malformed, not a crash.
    let (status, _, _) = get(&s, "/trials/99999999999999999999999").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn static_assets_are_served() {
    let s = store();
    let (status, ctype, body) = get(&s, "/static/dashboard.js").await;
    assert_eq!((status, ctype.as_str()), (StatusCode::OK, "text/javascript"));
    assert!(body.contains("liveExperiment"));
    let (status, ctype, _) = get(&s, "/static/style.css").await;
    assert_eq!((status, ctype.as_str()), (StatusCode::OK, "text/css"));
}
