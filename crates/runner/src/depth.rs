//! The paper's depth schedule: children start at 6 layers and grow by 2 every 1,600 samples.

use serde::{Deserialize, Serialize};

/// Number of layers of the child drawn at a given sample index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DepthSchedule {
    /// Layers of the first children. Paper: 6.
    pub start: usize,
    /// Layers added at each step. Paper: 2.
    pub step: usize,
    /// Samples between steps. Paper: 1,600.
    pub every: u64,
    /// Never more layers than this. The paper reaches 20 after its 12,800 samples.
    pub max: usize,
}

impl Default for DepthSchedule {
    fn default() -> Self {
        DepthSchedule { start: 6, step: 2, every: 1600, max: 20 }
    }
}

impl DepthSchedule {
    /// Depth for the sample with index `seq` (0-based).
    pub fn depth_at(&self, seq: u64) -> usize {
        let steps = seq.checked_div(self.every).unwrap_or(0) as usize;
        (self.start + self.step.saturating_mul(steps)).min(self.max)
    }

    /// Reject unusable values, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.start == 0 {
            return Err("depth.start must be at least 1".into());
        }
        nas_space::limits::count("depth.max", self.max, 1, nas_space::limits::MAX_LAYERS)?;
        if self.max < self.start {
            return Err(format!("depth.max ({}) must be >= depth.start ({})", self.max, self.start));
        }
        if self.every == 0 && self.step > 0 {
            return Err("depth.every must be positive when depth.step is".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_schedule() {
        let d = DepthSchedule::default();
        assert_eq!(d.depth_at(0), 6);
        assert_eq!(d.depth_at(1599), 6);
        assert_eq!(d.depth_at(1600), 8);
        assert_eq!(d.depth_at(12_799), 20);
        assert_eq!(d.depth_at(1_000_000), 20);
        let fixed = DepthSchedule { start: 3, step: 0, every: 0, max: 3 };
        assert_eq!(fixed.depth_at(5000), 3);
        assert!(DepthSchedule { max: 2, ..d }.validate().is_err());
    }
}
