//! Rows of the store, independent of the database behind it.

use serde::{Deserialize, Serialize};

/// A trial's lifecycle. `running` trials left by a crash are evaluated again on resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialStatus {
    /// Sampled and being evaluated.
    Running,
    /// Evaluated; has a reward.
    Completed,
    /// The child failed (diverged, too large…); reward 0 and a reason.
    Failed,
    /// The evaluator could not run (fatal error); evaluated again on resume.
    Aborted,
}

impl TrialStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialStatus::Running => "running",
            TrialStatus::Completed => "completed",
            TrialStatus::Failed => "failed",
            TrialStatus::Aborted => "aborted",
        }
    }

    /// Parse the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => TrialStatus::Running,
            "completed" => TrialStatus::Completed,
            "failed" => TrialStatus::Failed,
            "aborted" => TrialStatus::Aborted,
            _ => return None,
        })
    }

    /// Whether the trial has a final result (completed or failed).
    pub fn is_final(self) -> bool {
        matches!(self, TrialStatus::Completed | TrialStatus::Failed)
    }
}

/// A new experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExperiment {
    pub name: String,
    pub space: String,
    pub strategy: String,
    pub seed: u64,
    /// The full resolved configuration, as JSON.
    pub config_json: String,
}

/// A stored experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub id: i64,
    pub name: String,
    pub space: String,
    pub strategy: String,
    pub seed: u64,
    pub config_json: String,
    pub status: String,
    /// Unix time, seconds.
    pub created_at: f64,
}

/// A freshly sampled trial.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTrial {
    pub experiment_id: i64,
    pub seq: u64,
    /// Canonical string of the architecture.
    pub arch: String,
    pub arch_json: String,
    /// The actions as JSON (tokens are indices, skips 0/1 flags).
    pub tokens_json: String,
    pub log_prob: f64,
    pub entropy: f64,
    pub policy_version: u64,
    pub depth: u32,
    /// The trial this one was made from (evolution's parent, local search's current point).
    pub parent_id: Option<i64>,
    /// Set when the architecture was evaluated earlier in the experiment: the trial whose result
    /// this one reuses.
    pub repeat_of: Option<i64>,
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialResult {
    pub status: TrialStatus,
    pub reward: Option<f64>,
    pub metrics_json: Option<String>,
    pub failure: Option<String>,
    pub eval_seconds: f64,
}

/// A stored trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRow {
    pub id: i64,
    pub experiment_id: i64,
    pub seq: u64,
    pub arch: String,
    pub arch_json: String,
    pub tokens_json: String,
    pub log_prob: f64,
    pub entropy: f64,
    pub policy_version: u64,
    pub depth: u32,
    pub status: TrialStatus,
    pub reward: Option<f64>,
    pub metrics_json: Option<String>,
    pub failure: Option<String>,
    pub created_at: f64,
    pub finished_at: Option<f64>,
    pub eval_seconds: Option<f64>,
    /// The trial this one was made from (evolution's parent, local search's current point).
    pub parent_id: Option<i64>,
    /// The trial whose result this repeat reuses (None: evaluated in its own right).
    pub repeat_of: Option<i64>,
}

impl TrialRow {
    /// The evaluator's metrics as JSON (`null` when there are none or they do not parse).
    pub fn metrics(&self) -> serde_json::Value {
        self.metrics_json.as_deref().and_then(|m| serde_json::from_str(m).ok()).unwrap_or(serde_json::Value::Null)
    }
}

/// The strategy's state after an update.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub experiment_id: i64,
    /// Samples whose rewards the controller has learnt from.
    pub samples: u64,
    pub policy_version: u64,
    pub baseline: Option<f64>,
    /// The serialised strategy (opaque to the store).
    pub state: Vec<u8>,
}

/// One controller update, for curves and diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateRow {
    pub experiment_id: i64,
    pub policy_version: u64,
    pub samples: u64,
    pub baseline: Option<f64>,
    pub mean_reward: f64,
    pub loss: f64,
    pub grad_norm: f64,
    pub mean_entropy: f64,
    /// The controller replica whose gradient this was (0 with one replica).
    pub replica: u32,
    /// The policy version the replica sampled its children with.
    pub sampled_version: u64,
    /// Updates applied between that version and this gradient's application (0: not stale).
    pub staleness: u64,
}
