//! How architectures are turned into networks: variants of the paper's table and size caps.

use nas_space::limits::{MAX_FILTERS, count, positive};
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
    /// Reject children whose estimated training memory (weights, gradients, optimiser state
    /// and the activations of one minibatch: [`crate::Plan::training_bytes`]) exceeds this many
    /// MiB, before anything is allocated. Absent (default): half of this machine's memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory_mb: Option<u64>,
    /// Convolution and batch-norm implementation: `"fast"` (default; this crate's kernels on the
    /// `flex` CPU backend, burn's elsewhere) or `"burn"` (burn's own operations everywhere).
    pub kernels: Kernels,
}

impl Default for ChildConfig {
    fn default() -> Self {
        ChildConfig {
            extra_filters: 0,
            bn_epsilon: 1e-5,
            max_params: None,
            max_flops: None,
            max_memory_mb: None,
            kernels: Kernels::Fast,
        }
    }
}

impl ChildConfig {
    /// Reject unusable values, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        count("child.extra_filters", self.extra_filters, 0, MAX_FILTERS)?;
        positive("child.bn_epsilon", self.bn_epsilon, 1.0)?;
        for (key, v) in [("child.max_params", self.max_params), ("child.max_flops", self.max_flops)] {
            if v == Some(0) {
                return Err(format!("{key} = 0: no child fits; leave it out for no cap"));
            }
        }
        if let Some(mb) = self.max_memory_mb {
            count("child.max_memory_mb", mb, 1, u64::MAX >> 20)?;
        }
        Ok(())
    }

    /// The memory cap in bytes: `max_memory_mb`, else half of the physical memory (8 GiB when it
    /// cannot be read).
    pub fn memory_cap_bytes(&self) -> u64 {
        self.max_memory_mb.map_or_else(|| physical_memory().unwrap_or(16 << 30) / 2, |mb| mb << 20)
    }
}

/// Total physical memory (Linux `/proc/meminfo`).
fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}
