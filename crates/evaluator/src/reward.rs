//! Reward transforms: how a measured score (accuracy…) becomes the reward.

use serde::{Deserialize, Serialize};

/// Applied to a score after scaling: `reward = transform(scale · score)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RewardTransform {
    /// The score itself.
    #[default]
    Identity,
    /// The score cubed, as the paper does with validation accuracy (in [0, 1]).
    Cube,
}

impl RewardTransform {
    /// Apply the transform.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            RewardTransform::Identity => x,
            RewardTransform::Cube => x * x * x,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms() {
        assert_eq!(RewardTransform::Identity.apply(0.9), 0.9);
        assert!((RewardTransform::Cube.apply(0.9) - 0.729).abs() < 1e-12);
        assert_eq!(serde_json::from_str::<RewardTransform>("\"cube\"").unwrap(), RewardTransform::Cube);
    }
}
