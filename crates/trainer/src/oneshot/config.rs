//! `[oneshot]`: how the one-shot evaluator trains its shared weights and rewards children.

use std::path::PathBuf;

use nas_space::limits::count;
use serde::{Deserialize, Serialize};

/// The one-shot (ENAS) evaluator's settings. The optimiser, minibatch, augmentation and data
/// split are `[train]`'s (its learning-rate schedule runs over the whole search: `warmup_steps +
/// samples × train_steps` steps); `[train] epochs` does not apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneShotConfig {
    /// Shared-weight SGD steps per rewarded child, each on the next training minibatch, taken
    /// with that child right after its reward. Default 1 (ENAS). 0: the shared weights train
    /// only in the warm-up and the strategy searches them frozen — Single-Path One-Shot (Guo et
    /// al. 2019): a supernet trained by uniform children is not skewed toward what the
    /// strategy drew early, and every reward is measured by the same, fully trained weights.
    pub train_steps: usize,
    /// Validation images (a fresh seeded draw per child) a child's reward is measured on, in
    /// one batch. Default 256.
    pub reward_images: usize,
    /// Shared-weight SGD steps taken before the first child is rewarded, each with a child
    /// drawn uniformly from the space (every token uniform, every skip a fair coin, depth
    /// uniform from the schedule's first to its largest). Rewards then start from weights that
    /// every part of the space has trained, not from those the strategy's first picks fitted
    /// (the strategy otherwise locks onto what fits shared weights fastest). Counts in the
    /// learning-rate schedule. Default 0 (ENAS: none).
    pub warmup_steps: u64,
    /// Children (and warm-up steps) between two saves of the supernet state (weights,
    /// optimiser moments, step count); a resumed search replays the children since the last
    /// save, a resumed warm-up continues from its last save. Default 200.
    pub checkpoint_every: u64,
    /// After the search: the best distinct children by reward scored again on the whole
    /// validation split under the final shared weights. Default 24.
    pub candidates: usize,
    /// Of those, how many are listed. Default 8.
    pub top_k: usize,
    /// Reward (and train) every child at equal cost: its filter counts × the widest multiple of
    /// 1/16 (up to the supernet's largest filter count) at which it costs at most this many
    /// FLOPs per image — a large child is scored narrowed, a small one widened, as a retrain
    /// under a compute or time budget would train them. The trial keeps the drawn
    /// architecture and records the width (`reward_width`). None (the default): every child at
    /// its own width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward_flops: Option<u64>,
    /// Filters per layer of the supernet when above the space's largest count: room for
    /// `reward_flops` to widen children whose widest layer is already the space's largest
    /// (with the supernet at the space's size such a child can only be narrowed, and small
    /// children keep their own cost). None (the default): the space's largest count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supernet_filters: Option<u32>,
    /// Where the supernet state is kept (one file per experiment). Absent: beside the SQLite
    /// store (`STORE.oneshot/`), or `./nas-oneshot/` for a PostgreSQL store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
}

impl Default for OneShotConfig {
    fn default() -> Self {
        OneShotConfig {
            train_steps: 1,
            reward_images: 256,
            warmup_steps: 0,
            checkpoint_every: 200,
            candidates: 24,
            top_k: 8,
            reward_flops: None,
            supernet_filters: None,
            state_dir: None,
        }
    }
}

impl OneShotConfig {
    /// Reject unusable values, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        count("oneshot.train_steps", self.train_steps, 0, 10_000)?;
        if self.train_steps == 0 && self.warmup_steps == 0 {
            return Err(
                "oneshot.train_steps = 0 searches frozen shared weights: set oneshot.warmup_steps to train them first"
                    .into(),
            );
        }
        count("oneshot.reward_images", self.reward_images, 1, 100_000)?;
        count("oneshot.warmup_steps", self.warmup_steps, 0, 10_000_000)?;
        count("oneshot.checkpoint_every", self.checkpoint_every, 1, 1_000_000)?;
        count("oneshot.candidates", self.candidates, 1, 10_000)?;
        count("oneshot.top_k", self.top_k, 1, self.candidates)?;
        if let Some(f) = self.supernet_filters {
            count("oneshot.supernet_filters", f as usize, 1, 4096)?;
        }
        if self.reward_flops == Some(0) {
            return Err("oneshot.reward_flops must be at least 1 FLOP per image (or absent)".into());
        }
        Ok(())
    }
}
