//! The search state a checkpoint holds, and its encoding in the store's opaque `state` column.
//!
//! Besides the strategy (weights, Adam moments, baseline, RNG position) it holds what the
//! controller replicas have in flight: each busy replica's samples (so a resumed run trains
//! exactly those children again, whatever order results arrived in before the crash) and the
//! weights of the policy version it sampled with (so its gradient is taken against them), plus
//! gradients waiting for the parameter server to apply them.

use nas_controller::{Gradient, Params, Sample, StrategyState};
use nas_space::Action;
use serde::{Deserialize, Serialize};

/// Marks the format; older stores hold a bare [`StrategyState`] (their checkpoints were taken
/// between batches, with nothing in flight).
const MAGIC: &[u8; 4] = b"NAS2";

/// Everything needed to continue a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedSearch {
    pub strategy: StrategyState,
    /// Samples drawn so far: the next sample has this `seq`.
    pub drawn: u64,
    /// Replicas with a batch in flight, in the order they drew.
    pub busy: Vec<SavedBatch>,
    /// Gradients received and not applied yet (`gradients_per_update` > 1).
    pub waiting: Vec<Waiting>,
}

/// One replica's batch in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedBatch {
    pub replica: u32,
    /// The policy version the batch was drawn with…
    pub version: u64,
    /// …and its weights, unless that is the strategy's current version.
    pub params: Option<Params>,
    /// (seq, sample) of each child.
    pub samples: Vec<(u64, SavedSample)>,
}

/// A [`Sample`] in a form postcard can read back (actions are untagged in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedSample {
    actions: Vec<SavedAction>,
    log_prob: f64,
    entropy: f64,
    policy_version: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum SavedAction {
    Token(usize),
    Skips(Vec<bool>),
}

impl From<&Sample> for SavedSample {
    fn from(s: &Sample) -> Self {
        SavedSample {
            actions: s
                .actions
                .iter()
                .map(|a| match a {
                    Action::Token(i) => SavedAction::Token(*i),
                    Action::Skips(f) => SavedAction::Skips(f.clone()),
                })
                .collect(),
            log_prob: s.log_prob,
            entropy: s.entropy,
            policy_version: s.policy_version,
        }
    }
}

impl From<SavedSample> for Sample {
    fn from(s: SavedSample) -> Self {
        Sample {
            actions: s
                .actions
                .into_iter()
                .map(|a| match a {
                    SavedAction::Token(i) => Action::Token(i),
                    SavedAction::Skips(f) => Action::Skips(f),
                })
                .collect(),
            log_prob: s.log_prob,
            entropy: s.entropy,
            policy_version: s.policy_version,
        }
    }
}

/// A gradient waiting to be applied, with the update record it will get.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Waiting {
    pub replica: u32,
    pub gradient: Gradient,
    /// Samples learnt from once this gradient was received.
    pub samples: u64,
}

impl SavedSearch {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(postcard::to_stdvec(self).expect("search states always serialise"));
        out
    }

    /// Decode a checkpoint; `samples` is the checkpoint's sample count (the resume point of the
    /// older format).
    pub fn decode(bytes: &[u8], samples: u64) -> Result<Self, String> {
        match bytes.strip_prefix(MAGIC) {
            Some(rest) => postcard::from_bytes(rest).map_err(|e| e.to_string()),
            None => {
                let strategy: StrategyState = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
                Ok(SavedSearch { strategy, drawn: samples, busy: Vec::new(), waiting: Vec::new() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_controller::{ControllerConfig, Reinforce, Strategy, StrategyKind};
    use nas_space::{CnnSpace, SearchSpace};

    #[test]
    fn both_formats_decode() {
        let space = SearchSpace::Cnn(CnnSpace::default());
        let tt = space.token_types();
        let mut rl = Reinforce::new(ControllerConfig::default(), &tt, 2).unwrap();
        let sample = rl.sample(&space.decisions(3)).unwrap();
        let state = rl.state();
        let saved = SavedSearch {
            strategy: state.clone(),
            drawn: 17,
            busy: vec![SavedBatch {
                replica: 1,
                version: 0,
                params: None,
                samples: vec![(16, SavedSample::from(&sample))],
            }],
            waiting: Vec::new(),
        };
        let back = SavedSearch::decode(&saved.encode(), 8).unwrap();
        assert_eq!(back, saved);
        assert_eq!(Sample::from(back.busy[0].samples[0].1.clone()), sample);
        // A checkpoint of the format before replicas: the strategy alone.
        let old = postcard::to_stdvec(&state).unwrap();
        let back = SavedSearch::decode(&old, 8).unwrap();
        assert_eq!((back.drawn, back.busy.len(), back.strategy), (8, 0, state));
        let random = StrategyKind::Random.build(&ControllerConfig::default(), &tt, 1).unwrap().state();
        assert!(SavedSearch::decode(&postcard::to_stdvec(&random).unwrap(), 0).is_ok());
        assert!(SavedSearch::decode(b"NAS2junk", 0).is_err());
    }
}
