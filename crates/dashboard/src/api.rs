//! JSON endpoints and the shapes they return. The experiment endpoint is polled by the live
//! page: `?after=N` returns only trials with `seq >= N`, so a long search costs little per poll.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use nas_space::Architecture;
use nas_store::{Experiment, TrialRow, TrialStatus, TrialStore, UpdateRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, PageError, WebError, parse_id};
use crate::server::SharedStore;

/// Trials per status.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub running: usize,
    pub completed: usize,
    pub failed: usize,
    pub aborted: usize,
}

impl Counts {
    pub fn of(trials: &[TrialRow]) -> Self {
        let mut c = Counts::default();
        for t in trials {
            match t.status {
                TrialStatus::Running => c.running += 1,
                TrialStatus::Completed => c.completed += 1,
                TrialStatus::Failed => c.failed += 1,
                TrialStatus::Aborted => c.aborted += 1,
            }
        }
        c
    }
}

/// One experiment in the list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExperimentSummary {
    pub id: i64,
    pub name: String,
    pub space: String,
    pub strategy: String,
    pub status: String,
    pub created_at: f64,
    /// Samples the search will draw in all (from its configuration), when known.
    pub samples: Option<u64>,
    pub counts: Counts,
    pub best_reward: Option<f64>,
}

/// A trial as the live page needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialSummary {
    pub id: i64,
    pub seq: u64,
    pub status: TrialStatus,
    pub reward: Option<f64>,
    pub depth: u32,
    pub policy_version: u64,
    pub arch: String,
    pub val_accuracy: Option<f64>,
    /// Language-model children (rnn space).
    pub val_perplexity: Option<f64>,
    pub params: Option<u64>,
    pub flops: Option<u64>,
    pub eval_seconds: Option<f64>,
    pub failure: Option<String>,
    /// The trial it was made from (evolution's parent, local search's current point).
    pub parent_id: Option<i64>,
    /// The trial whose result this repeat reuses.
    pub repeat_of: Option<i64>,
}

/// The live page's poll answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExperimentView {
    pub experiment: ExperimentSummary,
    pub trials: Vec<TrialSummary>,
    pub updates: Vec<UpdateRow>,
}

/// A trial with its parsed metrics and architecture.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialView {
    #[serde(flatten)]
    pub trial: TrialRow,
    pub experiment_name: String,
    pub metrics: Value,
    pub architecture: Option<Value>,
}

fn summary_of(t: &TrialRow) -> TrialSummary {
    let m = t.metrics();
    TrialSummary {
        id: t.id,
        seq: t.seq,
        status: t.status,
        reward: t.reward,
        depth: t.depth,
        policy_version: t.policy_version,
        arch: t.arch.clone(),
        val_accuracy: m.get("val_accuracy").and_then(Value::as_f64),
        val_perplexity: m.get("val_perplexity").and_then(Value::as_f64),
        params: m.get("params").and_then(Value::as_u64),
        flops: m.get("flops").and_then(Value::as_u64),
        eval_seconds: t.eval_seconds,
        failure: t.failure.clone(),
        parent_id: t.parent_id,
        repeat_of: t.repeat_of,
    }
}

pub(crate) fn experiment_summary(e: &Experiment, trials: &[TrialRow]) -> ExperimentSummary {
    let config: Value = serde_json::from_str(&e.config_json).unwrap_or(Value::Null);
    ExperimentSummary {
        id: e.id,
        name: e.name.clone(),
        space: e.space.clone(),
        strategy: e.strategy.clone(),
        status: e.status.clone(),
        created_at: e.created_at,
        samples: config.get("samples").and_then(Value::as_u64),
        counts: Counts::of(trials),
        best_reward: trials
            .iter()
            .filter(|t| t.status == TrialStatus::Completed)
            .filter_map(|t| t.reward)
            .fold(None, |b: Option<f64>, r| Some(b.map_or(r, |b| b.max(r)))),
    }
}

pub(crate) fn list_experiments(store: &dyn TrialStore) -> Result<Vec<ExperimentSummary>, nas_store::StoreError> {
    store.experiments()?.iter().map(|e| Ok(experiment_summary(e, &store.trials(e.id)?))).collect()
}

pub async fn experiments(State(store): State<SharedStore>) -> Result<Json<Vec<ExperimentSummary>>, ApiError> {
    Ok(Json(store.read(list_experiments).await?))
}

#[derive(Debug, Deserialize)]
pub struct After {
    #[serde(default)]
    after: u64,
}

pub async fn experiment(
    State(store): State<SharedStore>,
    Path(raw): Path<String>,
    Query(q): Query<After>,
) -> Result<Json<ExperimentView>, ApiError> {
    let id = parse_id("experiment", &raw)?;
    let view = store
        .read(move |s| {
            let Some(e) = s.experiment(id)? else { return Ok(None) };
            let trials = s.trials(id)?;
            Ok(Some(ExperimentView {
                experiment: experiment_summary(&e, &trials),
                trials: trials.iter().filter(|t| t.seq >= q.after).map(summary_of).collect(),
                updates: s.updates(id)?,
            }))
        })
        .await?;
    view.map(Json).ok_or_else(|| WebError::NotFound(format!("no experiment {id}")).into())
}

pub(crate) async fn trial_view(store: &SharedStore, raw: &str) -> Result<TrialView, WebError> {
    let id = parse_id("trial", raw)?;
    let found = store
        .read(move |s| {
            let Some(t) = s.trial(id)? else { return Ok(None) };
            let name = s.experiment(t.experiment_id)?.map(|e| e.name).unwrap_or_default();
            Ok(Some((t, name)))
        })
        .await?;
    let (trial, experiment_name) = found.ok_or_else(|| WebError::NotFound(format!("no trial {id}")))?;
    Ok(TrialView {
        metrics: trial.metrics(),
        architecture: serde_json::from_str(&trial.arch_json).ok(),
        experiment_name,
        trial,
    })
}

pub async fn trial(State(store): State<SharedStore>, Path(raw): Path<String>) -> Result<Json<TrialView>, ApiError> {
    Ok(Json(trial_view(&store, &raw).await?))
}

/// The architecture of a stored trial, decoded (an error names the trial).
pub(crate) fn architecture_of(t: &TrialRow) -> Result<Architecture, WebError> {
    Architecture::from_json(&t.arch_json)
        .map_err(|e| WebError::Internal(format!("trial {} has an unreadable architecture: {e}", t.id)))
}

pub async fn arch_svg(
    State(store): State<SharedStore>,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, PageError> {
    let view = trial_view(&store, &raw).await?;
    let svg = crate::draw(&architecture_of(&view.trial)?);
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg))
}
