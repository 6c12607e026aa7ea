//! [`WorkQueue`]: how trials reach workers on other machines. The coordinator enqueues the
//! trials of a batch; a worker claims one under a **lease** (owner, `lease_until`, a fencing
//! `token` that grows with every claim), renews it with heartbeats, and completes it only if it
//! still holds that token — so the late result of a worker presumed dead changes nothing. A lease
//! that expires makes the trial claimable again; after `max_attempts` claims it fails with the
//! reason. A worker may save its child's training state under its claim; the next claim of the
//! trial resumes from it.

use crate::{StoreError, TrialResult};

/// A claimed trial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub trial_id: i64,
    pub experiment_id: i64,
    /// Fencing token: completion and heartbeats must present it.
    pub token: i64,
    /// 1 for the first claim of this trial.
    pub attempt: i64,
}

/// Counts of an experiment's queued work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueCounts {
    pub pending: u64,
    pub leased: u64,
    pub done: u64,
}

/// A queue of trials for remote workers.
pub trait WorkQueue: Send {
    /// Queue trials (already inserted, status running) for workers; wakes idle workers.
    fn enqueue(&self, experiment_id: i64, trial_ids: &[i64], max_attempts: u32) -> Result<(), StoreError>;
    /// Claim the oldest claimable trial (pending, or leased with an expired lease) for `owner`
    /// for `lease_seconds`; never blocks on trials other workers are claiming.
    fn claim(&self, owner: &str, lease_seconds: f64) -> Result<Option<Claim>, StoreError>;
    /// Extend a lease; `false` when the claim was lost (expired and taken by another worker).
    fn heartbeat(&self, claim: &Claim, lease_seconds: f64) -> Result<bool, StoreError>;
    /// Record the result if `claim` still holds the trial; `false` (nothing written) otherwise.
    fn complete(&self, claim: &Claim, result: &TrialResult) -> Result<bool, StoreError>;
    /// Save the training state of a claimed trial's child after `epoch` epochs, for a re-run to
    /// resume from (replacing the previous one); `false` (nothing written) when the claim was lost.
    fn save_child_state(&self, claim: &Claim, epoch: u64, state: &[u8]) -> Result<bool, StoreError>;
    /// The last saved training state of a trial's child: (epochs done, bytes). Completion and
    /// failure of the trial delete it.
    fn child_state(&self, trial_id: i64) -> Result<Option<(u64, Vec<u8>)>, StoreError>;
    /// Fail trials whose lease expired after their last allowed attempt; returns how many.
    fn fail_exhausted(&self) -> Result<u64, StoreError>;
    /// Counts for one experiment.
    fn counts(&self, experiment_id: i64) -> Result<QueueCounts, StoreError>;
    /// Block until work may have arrived or `timeout_seconds` passed (LISTEN/NOTIFY where the
    /// database has it), so idle workers do not poll.
    fn wait_for_work(&self, timeout_seconds: f64) -> Result<(), StoreError>;
}
