//! Rewards looked up in a CSV table `arch,<score>[,…]`, e.g. the NAS-Bench-201 table.
//!
//! Each row's `arch` is parsed in the search's space and keyed by its canonical string, so a
//! table written in any accepted form (NB201 indices or official strings) matches. Every other
//! numeric column is kept as a metric of the trial.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nas_space::{Architecture, SearchSpace};
use serde_json::{Map, Value};

use crate::{EvalContext, EvalError, Evaluation, Evaluator, RewardTransform};

/// A table of precomputed scores.
#[derive(Debug, Clone)]
pub struct TableEvaluator {
    path: PathBuf,
    column: String,
    transform: RewardTransform,
    scale: f64,
    rows: HashMap<String, Map<String, Value>>,
}

impl TableEvaluator {
    /// Load `path`, scoring by `column`. Errors name the file, the line and what is wrong.
    pub fn load(
        path: &Path,
        column: &str,
        space: &SearchSpace,
        transform: RewardTransform,
        scale: f64,
    ) -> Result<Self, EvalError> {
        let shown = path.display();
        let fail = |msg: String| EvalError::Fatal(format!("table {shown}: {msg}"));
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(|e| fail(format!("cannot open: {e}")))?;
        let headers = reader.headers().map_err(|e| fail(format!("cannot read the header: {e}")))?.clone();
        if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
            return Err(fail("the file is empty (expected a header line `arch,<column>,…`)".into()));
        }
        let arch_col = headers
            .iter()
            .position(|h| h == "arch")
            .ok_or_else(|| fail(format!("no `arch` column in the header {:?}", headers.iter().collect::<Vec<_>>())))?;
        if !headers.iter().any(|h| h == column) {
            return Err(fail(format!(
                "no column {column:?}; the columns are {:?}",
                headers.iter().collect::<Vec<_>>()
            )));
        }
        let mut rows = HashMap::new();
        for (i, rec) in reader.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| fail(format!("line {line}: {e}")))?;
            let arch_str = rec.get(arch_col).unwrap_or_default();
            let arch = space.parse(arch_str).map_err(|e| fail(format!("line {line}: {e}")))?;
            let mut metrics = Map::new();
            for (h, v) in headers.iter().zip(rec.iter()) {
                if h == "arch" {
                    continue;
                }
                match v.parse::<f64>() {
                    Ok(x) if x.is_finite() => {
                        metrics.insert(h.to_string(), Value::from(x));
                    }
                    _ if h == column => {
                        return Err(fail(format!("line {line}: {column} = {v:?} is not a finite number")));
                    }
                    _ => {
                        metrics.insert(h.to_string(), Value::from(v));
                    }
                }
            }
            if rows.insert(arch.to_string(), metrics).is_some() {
                return Err(fail(format!("line {line}: architecture {arch} appears twice")));
            }
        }
        if rows.is_empty() {
            return Err(fail("the table has a header but no rows".into()));
        }
        Ok(TableEvaluator { path: path.to_path_buf(), column: column.to_string(), transform, scale, rows })
    }

    /// Number of architectures in the table.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no rows (never true for a loaded table).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The raw score of an architecture, if present.
    pub fn score(&self, arch: &Architecture) -> Option<f64> {
        self.rows.get(&arch.to_string()).and_then(|m| m.get(&self.column)).and_then(Value::as_f64)
    }

    /// All (canonical string, raw score) pairs.
    pub fn scores(&self) -> impl Iterator<Item = (&str, f64)> {
        self.rows.iter().filter_map(|(k, m)| Some((k.as_str(), m.get(&self.column)?.as_f64()?)))
    }
}

impl Evaluator for TableEvaluator {
    fn describe(&self) -> String {
        format!(
            "table evaluator: {} ({} architectures), reward = {:?}({} × {})",
            self.path.display(),
            self.rows.len(),
            self.transform,
            self.scale,
            self.column
        )
    }

    fn evaluate(&mut self, arch: &Architecture, _ctx: &EvalContext) -> Result<Evaluation, EvalError> {
        let metrics = self.rows.get(&arch.to_string()).ok_or_else(|| {
            EvalError::Fatal(format!(
                "architecture {arch} is not in the table {} ({} rows)",
                self.path.display(),
                self.rows.len()
            ))
        })?;
        let score = metrics[&self.column].as_f64().expect("checked at load");
        Ok(Evaluation { reward: self.transform.apply(self.scale * score), metrics: metrics.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_space::SpaceKind;
    use std::io::Write;

    fn write(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f
    }

    fn nb() -> SearchSpace {
        SearchSpace::default_for(SpaceKind::Nb201)
    }

    fn ctx() -> EvalContext {
        EvalContext { trial_id: 1, seq: 0, seed: 0 }
    }

    #[test]
    fn looks_up_and_transforms() {
        let f = write("arch,accuracy,params\n0-0-0-0-0-1,84.0836,1.5\n2-2-0-2-3-2,94.0664,3\n");
        let mut t = TableEvaluator::load(f.path(), "accuracy", &nb(), RewardTransform::Identity, 1.0).unwrap();
        let a = nb().parse("2-2-0-2-3-2").unwrap();
        let e = t.evaluate(&a, &ctx()).unwrap();
        assert_eq!(e.reward, 94.0664);
        assert_eq!(e.metrics["params"], 3.0);
        let mut c = TableEvaluator::load(f.path(), "accuracy", &nb(), RewardTransform::Cube, 0.01).unwrap();
        assert!((c.evaluate(&a, &ctx()).unwrap().reward - 0.940664f64.powi(3)).abs() < 1e-12);
        // Another column works too.
        let mut p = TableEvaluator::load(f.path(), "params", &nb(), RewardTransform::Identity, 1.0).unwrap();
        assert_eq!(p.evaluate(&a, &ctx()).unwrap().reward, 3.0);
    }

    #[test]
    fn missing_architecture_names_it() {
        let f = write("arch,accuracy\n0-0-0-0-0-1,84.0\n");
        let mut t = TableEvaluator::load(f.path(), "accuracy", &nb(), RewardTransform::Identity, 1.0).unwrap();
        let a = nb().parse("1-1-1-1-1-1").unwrap();
        let e = t.evaluate(&a, &ctx()).unwrap_err();
        assert!(matches!(e, EvalError::Fatal(_)));
        assert!(e.to_string().contains("1-1-1-1-1-1 is not in the table"), "{e}");
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let cases = [
            ("", "empty"),
            ("arch,accuracy\n", "no rows"),
            ("name,accuracy\nx,1\n", "no `arch` column"),
            ("arch,acc\n0-0-0-0-0-1,1\n", "no column \"accuracy\""),
            ("arch,accuracy\n0-0-0-0-0-1,abc\n", "line 2: accuracy = \"abc\""),
            ("arch,accuracy\n0-0-0-0-0-1,1\n0-0-9-0-0-1,1\n", "line 3"),
            ("arch,accuracy\n0-0-0-0-0-1,1\n0-0-0-0-0-1,2\n", "appears twice"),
            ("arch,accuracy\n0-0-0-0-0-1,1,7\n", "line 2"),
        ];
        for (content, needle) in cases {
            let f = write(content);
            let e = TableEvaluator::load(f.path(), "accuracy", &nb(), RewardTransform::Identity, 1.0).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(needle) && msg.contains("table "), "{content:?}: {msg}");
        }
        let e =
            TableEvaluator::load(Path::new("/nonexistent/t.csv"), "accuracy", &nb(), RewardTransform::Identity, 1.0)
                .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/t.csv"), "{e}");
    }
}
