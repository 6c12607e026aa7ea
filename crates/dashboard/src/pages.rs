//! HTML pages (maud, escaped by construction). The live parts — charts, counts, the top-k
//! table — are drawn by `assets/dashboard.js` from the JSON API; the architecture drawing is
//! rendered here on the server, by the same code as `nas draw`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use crate::api::{architecture_of, list_experiments, trial_view};
use crate::error::{PageError, WebError, parse_id};
use crate::server::SharedStore;

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · nas" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                header { a.brand href="/" { "nas" } span.sub { "neural architecture search · dashboard" } }
                main { (body) }
                script src="/static/dashboard.js" {}
            }
        }
    }
}

/// A 400/404/500 page.
pub fn error_page(status: StatusCode, message: &str) -> Markup {
    layout(
        status.canonical_reason().unwrap_or("error"),
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
            p.error { (message) }
            p { a href="/" { "← all experiments" } }
        },
    )
}

fn fmt_reward(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.4}"))
}

/// A metric for display: floats to 4 significant decimals, the rest as JSON.
fn scalar(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if v.is_f64() => format!("{f:.4}"),
        _ => v.to_string(),
    }
}

/// JSON for a `<script type="application/json">` block: `</` cannot close the script.
fn json_block(v: &Value) -> PreEscaped<String> {
    PreEscaped(v.to_string().replace("</", "<\\/"))
}

pub async fn experiments(State(store): State<SharedStore>) -> Result<Markup, PageError> {
    let list = store.read(list_experiments).await?;
    Ok(layout(
        "experiments",
        html! {
            h1 { "Experiments" }
            @if list.is_empty() {
                p { "No experiments in this store yet: start one with " code { "nas search" } "." }
            } @else {
                table.grid #experiments {
                    thead { tr { th { "id" } th { "name" } th { "space" } th { "strategy" } th { "status" }
                        th { "trials" } th { "running" } th { "failed" } th { "best reward" } } }
                    tbody {
                        @for e in &list {
                            tr {
                                td { (e.id) }
                                td { a href={ "/experiments/" (e.id) } { (e.name) } }
                                td { (e.space) } td { (e.strategy) } td { (e.status) }
                                td { (e.counts.completed + e.counts.failed)
                                    @if let Some(n) = e.samples { " / " (n) } }
                                td { (e.counts.running) } td { (e.counts.failed) }
                                td { (fmt_reward(e.best_reward)) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

pub async fn experiment(State(store): State<SharedStore>, Path(raw): Path<String>) -> Result<Markup, PageError> {
    let id = parse_id("experiment", &raw)?;
    let e = store
        .read(move |s| s.experiment(id))
        .await?
        .ok_or_else(|| WebError::NotFound(format!("no experiment {id}")))?;
    Ok(layout(
        &e.name,
        html! {
            h1 { "Experiment " span.name { (e.name) } }
            p.meta { "space " b { (e.space) } " · strategy " b { (e.strategy) } " · seed " (e.seed)
                " · status " b #status { (e.status) } }
            section #live data-experiment=(e.id) {
                div.counts #counts {
                    span.count.running { "running " b data-count="running" { "0" } }
                    span.count.completed { "completed " b data-count="completed" { "0" } }
                    span.count.failed { "failed " b data-count="failed" { "0" } }
                    span.count.aborted { "aborted " b data-count="aborted" { "0" } }
                    span.count { "best " b #best { "–" } }
                }
                h2 { "Reward per sample" }
                p.hint { "dots: rewards (red: failed) · line: the controller's moving baseline · step: best so far" }
                svg #reward-chart .chart width="900" height="300" viewBox="0 0 900 300" {}
                h2 { "Depth schedule" }
                svg #depth-chart .chart width="900" height="140" viewBox="0 0 900 140" {}
                h2 { "Top trials" }
                p.hint { "click a column to sort" }
                table.grid #top {
                    thead { tr {
                        th data-key="seq" { "sample" } th data-key="reward" { "reward" }
                        th data-key="val" { "val. acc. / ppl" } th data-key="params" { "params" }
                        th data-key="flops" { "FLOPs" } th data-key="eval_seconds" { "seconds" }
                        th data-key="arch" { "architecture" }
                    } }
                    tbody {}
                }
            }
        },
    ))
}

pub async fn trial(State(store): State<SharedStore>, Path(raw): Path<String>) -> Result<Markup, PageError> {
    let view = trial_view(&store, &raw).await?;
    let t = &view.trial;
    let drawing = crate::draw(&architecture_of(t)?);
    let epochs = view.metrics.get("epochs").cloned().unwrap_or(Value::Null);
    let scalars: Vec<(String, String)> = view
        .metrics
        .as_object()
        .map(|m| m.iter().filter(|(k, _)| *k != "epochs").map(|(k, v)| (k.clone(), scalar(v))).collect())
        .unwrap_or_default();
    Ok(layout(
        &format!("trial {}", t.id),
        html! {
            h1 { "Trial " (t.id) }
            p.meta {
                "experiment " a href={ "/experiments/" (t.experiment_id) } { (view.experiment_name) }
                " · sample " (t.seq) " · depth " (t.depth) " · policy version " (t.policy_version)
            }
            @if let Some(p) = t.parent_id {
                p.meta #parent { "mutated from " a href={ "/trials/" (p) } { "trial " (p) } }
            }
            @if let Some(r) = t.repeat_of {
                p.meta #repeat { "repeat of " a href={ "/trials/" (r) } { "trial " (r) }
                    ": the same architecture, evaluated earlier; its result is reused, not trained again" }
            }
            table.kv #summary {
                tr { th { "status" } td #trial-status data-status=(t.status.as_str()) { (t.status.as_str()) } }
                tr { th { "reward" } td { (fmt_reward(t.reward)) } }
                @if let Some(f) = &t.failure { tr.failure { th { "failure" } td #failure { (f) } } }
                @if let Some(s) = t.eval_seconds { tr { th { "seconds" } td { (format!("{s:.1}")) } } }
                tr { th { "architecture" } td { code #arch-string { (t.arch) } } }
                @for (k, v) in &scalars { tr { th { (k) } td { (v) } } }
            }
            h2 { "Architecture" }
            p.hint { a href={ "/trials/" (t.id) "/arch.svg" } { "SVG" } " · same drawing as " code { "nas draw " (t.id) } }
            div #arch { (PreEscaped(drawing)) }
            @if epochs.is_array() {
                h2 { "Training curves" }
                svg #accuracy-chart .chart width="900" height="240" viewBox="0 0 900 240" {}
                svg #loss-chart .chart width="900" height="240" viewBox="0 0 900 240" {}
                script #epochs type="application/json" { (json_block(&epochs)) }
            }
            h2 { "Architecture JSON" }
            pre { (view.architecture.as_ref().and_then(|a| serde_json::to_string_pretty(a).ok()).unwrap_or_else(|| t.arch_json.clone())) }
        },
    ))
}
