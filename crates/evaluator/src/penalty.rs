//! [`SizePenalty`]: hardware-aware rewards, MnasNet-style — the reward is multiplied by
//! `(size / target)^exponent`, size being a child's parameter count or FLOPs. With a negative
//! exponent (MnasNet's soft constraint: −0.07) children larger than the target lose reward and
//! smaller ones gain a little; `only_above` leaves children at or under the target untouched.
//! A hard cap that rejects children before training is `child.max_params` / `child.max_flops`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Which size a penalty reads from an evaluation's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SizeMetric {
    /// Trainable parameters (`params`).
    Params,
    /// Forward FLOPs per image (`flops`; CNN children).
    Flops,
}

impl SizeMetric {
    pub fn key(self) -> &'static str {
        match self {
            SizeMetric::Params => "params",
            SizeMetric::Flops => "flops",
        }
    }
}

/// `reward × (size / target)^exponent`. In TOML: `[penalty] metric = "params", target = 50000,
/// exponent = -0.07`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizePenalty {
    pub metric: SizeMetric,
    /// The size aimed at (> 0).
    pub target: f64,
    /// MnasNet's soft constraint: −0.07.
    #[serde(default = "default_exponent")]
    pub exponent: f64,
    /// Only children above the target are penalised (MnasNet's hard-ish variant).
    #[serde(default)]
    pub only_above: bool,
}

fn default_exponent() -> f64 {
    -0.07
}

impl SizePenalty {
    /// Check the fields; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.target.is_finite() && self.target > 0.0) {
            return Err(format!("penalty.target = {}: must be a positive number", self.target));
        }
        if !self.exponent.is_finite() {
            return Err("penalty.exponent must be a finite number".into());
        }
        Ok(())
    }

    /// The factor for a child of `size`.
    pub fn factor(&self, size: f64) -> f64 {
        if self.only_above && size <= self.target { 1.0 } else { (size / self.target).powf(self.exponent) }
    }

    /// Apply to an evaluation: the penalised reward, with `raw_reward` and `size_factor` added to
    /// the metrics. `Err` names the missing metric.
    pub fn apply(&self, reward: f64, metrics: &mut Map<String, Value>) -> Result<f64, String> {
        let size = metrics.get(self.metric.key()).and_then(Value::as_f64).ok_or_else(|| {
            format!("the size penalty reads `{}`, which this evaluator does not report", self.metric.key())
        })?;
        let f = self.factor(size);
        metrics.insert("raw_reward".into(), Value::from(reward));
        metrics.insert("size_factor".into(), Value::from(f));
        Ok(reward * f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mnasnet_soft_and_hard_variants() {
        let p = SizePenalty { metric: SizeMetric::Params, target: 1000.0, exponent: -0.07, only_above: false };
        assert_eq!(p.factor(1000.0), 1.0);
        assert!((p.factor(2000.0) - 2f64.powf(-0.07)).abs() < 1e-12, "twice the target: ×0.953");
        assert!(p.factor(500.0) > 1.0, "smaller than the target gains a little");
        let hard = SizePenalty { only_above: true, ..p.clone() };
        assert_eq!(hard.factor(500.0), 1.0);
        assert!(hard.factor(4000.0) < 1.0);
    }

    #[test]
    fn applies_to_metrics_or_names_the_missing_one() {
        let p = SizePenalty { metric: SizeMetric::Flops, target: 100.0, exponent: -1.0, only_above: false };
        let mut m = json!({"flops": 200, "params": 5}).as_object().unwrap().clone();
        assert_eq!(p.apply(0.8, &mut m).unwrap(), 0.4);
        assert_eq!(m["raw_reward"], 0.8);
        assert_eq!(m["size_factor"], 0.5);
        let mut none = Map::new();
        assert!(p.apply(0.8, &mut none).unwrap_err().contains("`flops`"));
        let bad = SizePenalty { target: 0.0, ..p };
        assert!(bad.validate().unwrap_err().contains("penalty.target"));
        let parsed: SizePenalty = toml_like(r#"{"metric": "params", "target": 5e4}"#);
        assert_eq!((parsed.exponent, parsed.only_above), (-0.07, false));
    }

    fn toml_like(j: &str) -> SizePenalty {
        serde_json::from_str(j).unwrap()
    }
}
