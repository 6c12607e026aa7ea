//! `--evaluator` specifications: `toy`, `table:FILE[:COLUMN]`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which evaluator, as written on the command line or in a config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum EvaluatorSpec {
    /// Train each child CNN for real on the configured dataset (built by `nas-runner`, which
    /// owns the trainer; this crate stays free of tensors).
    Train,
    /// The synthetic objective ([`crate::ToyEvaluator`]).
    Toy,
    /// A CSV table ([`crate::TableEvaluator`]).
    Table {
        path: PathBuf,
        #[serde(default = "default_column")]
        column: String,
        #[serde(default)]
        transform: crate::RewardTransform,
        #[serde(default = "default_scale")]
        scale: f64,
    },
}

fn default_column() -> String {
    "accuracy".into()
}
fn default_scale() -> f64 {
    1.0
}

impl std::str::FromStr for EvaluatorSpec {
    type Err = String;
    /// `train`, `toy` or `table:FILE[:COLUMN]` (COLUMN defaults to `accuracy`). A trailing `:NAME` is read
    /// as the column when NAME has no `/` or `.`, so `table:runs/t.csv` is a file.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "toy" => return Ok(EvaluatorSpec::Toy),
            "train" => return Ok(EvaluatorSpec::Train),
            _ => {}
        }
        if let Some(rest) = s.strip_prefix("table:") {
            let (path, column) = match rest.rsplit_once(':') {
                Some((p, c)) if !p.is_empty() && !c.is_empty() && !c.contains(['/', '.']) => (p, c.to_string()),
                _ => (rest, default_column()),
            };
            if path.is_empty() {
                return Err("--evaluator table: needs a file, e.g. table:nb201.csv:accuracy".into());
            }
            return Ok(EvaluatorSpec::Table {
                path: PathBuf::from(path),
                column,
                transform: Default::default(),
                scale: 1.0,
            });
        }
        Err(format!("unknown evaluator {s:?}: expected `train`, `table:FILE[:COLUMN]` or `toy`"))
    }
}

impl EvaluatorSpec {
    /// Build the evaluator for a space.
    pub fn build(&self, space: &nas_space::SearchSpace) -> Result<Box<dyn crate::Evaluator>, crate::EvalError> {
        Ok(match self {
            EvaluatorSpec::Train => {
                return Err(crate::EvalError::Fatal(
                    "the train evaluator needs a dataset and is built by nas-runner".into(),
                ));
            }
            EvaluatorSpec::Toy => Box::new(crate::ToyEvaluator),
            EvaluatorSpec::Table { path, column, transform, scale } => {
                Box::new(crate::TableEvaluator::load(path, column, space, *transform, *scale)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        assert_eq!("toy".parse::<EvaluatorSpec>().unwrap(), EvaluatorSpec::Toy);
        let t: EvaluatorSpec = "table:/data/nb201.csv".parse().unwrap();
        assert!(
            matches!(t, EvaluatorSpec::Table { ref path, ref column, .. } if path.ends_with("nb201.csv") && column == "accuracy")
        );
        let t: EvaluatorSpec = "table:t.csv:val_acc".parse().unwrap();
        assert!(
            matches!(t, EvaluatorSpec::Table { ref path, ref column, .. } if path.to_str() == Some("t.csv") && column == "val_acc")
        );
        assert!("table:".parse::<EvaluatorSpec>().is_err());
        assert_eq!("train".parse::<EvaluatorSpec>().unwrap(), EvaluatorSpec::Train);
        assert!("trian".parse::<EvaluatorSpec>().unwrap_err().contains("unknown evaluator"));
    }
}
