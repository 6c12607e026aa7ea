//! How architectures are turned into networks: variants of the paper's table and size caps.

use serde::{Deserialize, Serialize};

use crate::kernels::Kernels;

/// Options of the child compiler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChildConfig {
    /// Filters added to every layer: the paper's "more filters" variant adds 40. Default 0.
    pub extra_filters: u32,
    /// Batch-norm ε (one of the values the paper's final retraining tunes). Default 1e-5.
    pub bn_epsilon: f64,
    /// Reject (as a failed trial, before training) children with more parameters than this.
    pub max_params: Option<u64>,
    /// Reject children needing more forward FLOPs per image than this.
    pub max_flops: Option<u64>,
    /// Convolution and batch-norm implementation: `"fast"` (default; this crate's kernels on the
    /// `flex` CPU backend, burn's elsewhere) or `"burn"` (burn's own operations everywhere).
    pub kernels: Kernels,
}

impl Default for ChildConfig {
    fn default() -> Self {
        ChildConfig { extra_filters: 0, bn_epsilon: 1e-5, max_params: None, max_flops: None, kernels: Kernels::Fast }
    }
}
