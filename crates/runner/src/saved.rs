//! The search state a checkpoint holds, and its encoding in the store's opaque `state` column.
//!
//! Besides the strategy (weights, Adam moments, baseline, RNG position) it holds what the
//! controller replicas have in flight: each busy replica's samples (so a resumed run trains
//! exactly those children again, whatever order results arrived in before the crash) and the
//! weights of the policy version it sampled with (so its gradient is taken against them), plus
//! gradients waiting for the parameter server to apply them.

use nas_strategy::{Gradient, Params, Sample, StrategyState};
use serde::{Deserialize, Serialize};

/// Marks the format. `NAS2` (before evolution, local search and the update rules) and the bare
/// [`StrategyState`] of the first versions are not read: their strategy states have other
/// fields, and postcard is not self-describing.
const MAGIC: &[u8; 4] = b"NAS3";
const OLDER: &[u8; 4] = b"NAS2";

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
    pub samples: Vec<(u64, Sample)>,
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

    /// Decode a checkpoint.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        match bytes.strip_prefix(MAGIC) {
            Some(rest) => postcard::from_bytes(rest).map_err(|e| e.to_string()),
            None if bytes.starts_with(OLDER) || !bytes.starts_with(b"NAS") => {
                Err("it was written by an older version of nas (before evolution and the controller's update rules); \
                 resume it with that version, or start a new experiment"
                    .into())
            }
            None => Err("it was written by a newer version of nas".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_space::{CnnSpace, SearchSpace};
    use nas_strategy::{ControllerConfig, Menu, Reinforce, Settings, Strategy, StrategyKind};

    #[test]
    fn states_round_trip_and_older_formats_are_named() {
        let space = SearchSpace::Cnn(CnnSpace::default());
        let tt = space.token_types();
        let mut rl = Reinforce::new(ControllerConfig::default(), &tt, 2).unwrap();
        let sample = rl.sample(&Menu { space: &space, depth: 3, min_depth: 3 }).unwrap();
        let saved = SavedSearch {
            strategy: rl.state(),
            drawn: 17,
            busy: vec![SavedBatch {
                replica: 1,
                version: 0,
                params: None,
                samples: vec![(16, Sample { parent: Some(3), ..sample.clone() })],
            }],
            waiting: Vec::new(),
        };
        let back = SavedSearch::decode(&saved.encode()).unwrap();
        assert_eq!(back, saved);
        assert_eq!(back.busy[0].samples[0].1.parent, Some(3));
        // Every strategy, with what it holds after a few results (populations, neighbourhoods).
        for kind in StrategyKind::ALL {
            let mut st = kind.build(&Settings::default(), &tt, 1).unwrap();
            let menu = Menu { space: &space, depth: 3, min_depth: 2 };
            for seq in 0..30 {
                let x = st.sample(&menu).unwrap();
                let d = space.decisions(space.depth_of(&x.actions));
                let f = nas_strategy::Feedback { seq, decisions: &d, actions: &x.actions, reward: seq as f64 % 7.0 };
                let g = st.gradient(&[f], &st.snapshot()).unwrap();
                if seq % 2 == 1 {
                    st.apply(&[g], 1).unwrap();
                }
            }
            let state = st.state();
            let s = SavedSearch { strategy: state, drawn: 0, busy: Vec::new(), waiting: Vec::new() };
            assert_eq!(SavedSearch::decode(&s.encode()).unwrap(), s, "{kind:?}");
        }
        let old = SavedSearch::decode(b"NAS2\x00\x01").unwrap_err();
        assert!(old.contains("older version"), "{old}");
        assert!(SavedSearch::decode(&postcard::to_stdvec(&rl.state()).unwrap()).unwrap_err().contains("older"));
        assert!(SavedSearch::decode(b"NAS3junk").is_err());
    }
}
