//! `--evaluator` specifications: `train`, `oneshot`, `toy`, `table:FILE[:COLUMN]`, `command:CMD`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which evaluator, as written on the command line or in a config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum EvaluatorSpec {
    /// Train each child CNN for real on the configured dataset (built by `nas-runner`, which
    /// owns the trainer; this crate stays free of tensors).
    Train,
    /// Reward each CNN child under weights shared by the whole space (ENAS; `[oneshot]`; built
    /// by `nas-runner`).
    Oneshot,
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
    /// The user's own trainer, one command per trial ([`crate::CommandEvaluator`]).
    Command(crate::CommandSpec),
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
            "oneshot" => return Ok(EvaluatorSpec::Oneshot),
            _ => {}
        }
        if let Some(cmd) = s.strip_prefix("command:") {
            let spec = crate::CommandSpec::new(cmd);
            spec.validate()?;
            return Ok(EvaluatorSpec::Command(spec));
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
        Err(format!(
            "unknown evaluator {s:?}: expected `train`, `oneshot`, `table:FILE[:COLUMN]`, `command:CMD` or `toy`"
        ))
    }
}

impl EvaluatorSpec {
    /// Build the evaluator for a space.
    pub fn build(&self, space: &nas_space::SearchSpace) -> Result<Box<dyn crate::Evaluator>, crate::EvalError> {
        Ok(match self {
            EvaluatorSpec::Train | EvaluatorSpec::Oneshot => {
                return Err(crate::EvalError::Fatal(
                    "the train and one-shot evaluators need a dataset and are built by nas-runner".into(),
                ));
            }
            EvaluatorSpec::Toy => Box::new(crate::ToyEvaluator),
            EvaluatorSpec::Command(spec) => {
                spec.validate().map_err(crate::EvalError::Fatal)?;
                Box::new(crate::CommandEvaluator::new(spec.clone(), space.name(), 1))
            }
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
        assert_eq!("oneshot".parse::<EvaluatorSpec>().unwrap(), EvaluatorSpec::Oneshot);
        assert!("trian".parse::<EvaluatorSpec>().unwrap_err().contains("unknown evaluator"));
        assert_eq!(
            "command:python3 train.py --fast".parse::<EvaluatorSpec>().unwrap(),
            EvaluatorSpec::Command(crate::CommandSpec::new("python3 train.py --fast"))
        );
        assert!("command: ".parse::<EvaluatorSpec>().unwrap_err().contains("evaluator.command is empty"));
    }

    #[test]
    fn command_tables_read_from_toml() {
        let spec: EvaluatorSpec = toml::from_str(
            "kind = \"command\"\ncommand = \"./train.sh\"\ntimeout_seconds = 60\nenv = { DATA = \"/d\" }\n",
        )
        .unwrap();
        let EvaluatorSpec::Command(c) = spec else { panic!("not a command spec") };
        assert_eq!((c.command.as_str(), c.timeout_seconds, c.env["DATA"].as_str()), ("./train.sh", Some(60.0), "/d"));
        assert_eq!(c.metric, "val_accuracy", "defaults fill the rest");
        let bad = toml::from_str::<EvaluatorSpec>("kind = \"command\"\ncommand = \"x\"\ntimeout = 5\n");
        assert!(bad.unwrap_err().to_string().contains("unknown field"), "misspelt keys are refused");
    }
}
