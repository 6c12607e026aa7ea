//! [`SearchConfig`]: everything a search needs, from a TOML file and/or command-line flags.
//! Defaults are the paper's (12,800 samples, batches of 8, depth 6 → 20).

use std::path::Path;

use nas_child::ChildConfig;
use nas_child::rnn::LmConfig;
use nas_data::{DatasetSpec, TextSpec};
use nas_evaluator::{EvaluatorSpec, SizeMetric, SizePenalty};
use nas_retrain::RetrainConfig;
use nas_space::limits::count;
use nas_space::{CnnSpace, RnnSpace, SearchSpace, SpaceKind};
use nas_strategy::{ControllerConfig, EvolutionConfig, LocalConfig, Settings, StrategyKind};
use nas_trainer::{LmTrainConfig, TrainConfig};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::DepthSchedule;
use crate::rescore::RescoreConfig;
use nas_trainer::OneShotConfig;

/// Most samples of one experiment.
pub const MAX_SAMPLES: u64 = 100_000_000;
/// Most children per controller batch (and replicas, gradients per update).
pub const MAX_BATCH_CHILDREN: usize = 10_000;
/// Most local workers on any machine (on machines with more cores: one per core).
pub const MAX_WORKERS: usize = 64;

/// A configuration problem, naming the file or field at fault.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config {path}: {reason}")]
    File { path: String, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The full configuration of a search. In TOML, top-level keys plus `[cnn]`, `[rnn]`, `[depth]`,
/// `[controller]`, `[evolution]`, `[local]`, `[evaluator]`, `[dataset]`, `[train]`, `[child]` (CNN children) and `[text]`,
/// `[lm]`, `[lm_train]` (language-model children of the rnn space) and `[penalty]` (hardware-aware
/// reward) sections; every key is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Search space: `cnn` (the paper's CNNs), `rnn` (its recurrent cells) or `nb201`.
    pub space: SpaceKind,
    /// `reinforce` (the paper's controller), `evolution` (regularized evolution), `local`
    /// (local search) or `random`.
    pub strategy: StrategyKind,
    /// Architectures to evaluate in total: distinct ones, unless `count_repeats`. Paper: 12,800.
    pub samples: u64,
    /// Count every draw towards `samples`, repeats of an architecture evaluated earlier in the
    /// experiment too (the count before repeats were told apart). Repeats are never trained
    /// again either way: they reuse the earlier result. Default false.
    pub count_repeats: bool,
    /// Stop once this many draws in a row repeat architectures evaluated earlier (a strategy
    /// that has converged, or a space that is exhausted). Default 1,000.
    pub repeat_limit: u64,
    /// Children in flight for the asynchronous strategies (evolution, local search), each
    /// learnt from as it finishes. 0 = one per local worker, or `replicas` × `batch` with
    /// remote workers. Default 0.
    pub in_flight: usize,
    /// Children per controller update (the paper's m). Paper: 8.
    pub batch: usize,
    /// Controller replicas (the paper's K): each draws a batch of `batch` children and, once
    /// their rewards are in, sends its gradient — taken against the policy it sampled with — to
    /// the parameter server while the other replicas' children keep training. 1 = synchronous
    /// REINFORCE. Paper: 100 (the paper presets set it); use about workers ÷ batch + 1 here.
    pub replicas: usize,
    /// Parameter-server shards (the paper's S): the controller's weights are split into this many
    /// parts, each applying its slice of every update. Paper: 20. The result does not depend on it.
    pub shards: usize,
    /// Gradients the parameter server collects before one update (their mean). 1 = every
    /// gradient is applied as it arrives.
    pub gradients_per_update: usize,
    /// Seed of the controller's weights and of every draw.
    pub seed: u64,
    /// Children trained at once on this machine (train evaluator; table and toy evaluators
    /// always use one). 0 = one per CPU core, the measured best for CPU-sized children here.
    pub workers: usize,
    /// CPU threads each worker's child may use. 0 = the cores divided among the workers.
    pub threads_per_worker: usize,
    /// Vocabularies of the CNN space.
    pub cnn: CnnSpace,
    /// Tree base and functions of the recurrent-cell space.
    pub rnn: RnnSpace,
    /// How the number of layers grows (CNN space only).
    pub depth: DepthSchedule,
    /// Controller and policy-gradient hyper-parameters (`strategy = "reinforce"`).
    pub controller: ControllerConfig,
    /// Regularized evolution's population and mutations (`strategy = "evolution"`).
    pub evolution: EvolutionConfig,
    /// Local search's settings (`strategy = "local"`).
    pub local: LocalConfig,
    /// How architectures are rewarded.
    pub evaluator: EvaluatorSpec,
    /// The data children are trained on (train evaluator).
    pub dataset: DatasetSpec,
    /// How children are trained and rewarded (train evaluator).
    pub train: TrainConfig,
    /// How architectures become networks: variants and size caps (train evaluator).
    pub child: ChildConfig,
    /// The corpus language-model children are trained on (rnn space, train evaluator).
    pub text: TextSpec,
    /// Size and dropout of the language-model children (rnn space).
    pub lm: LmConfig,
    /// How language-model children are trained and rewarded (rnn space).
    pub lm_train: LmTrainConfig,
    /// Hardware-aware reward: × (size / target)^exponent (train evaluator). None by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub penalty: Option<SizePenalty>,
    /// The final step after a search (`nas train`): hyper-parameter grid and retrain budget.
    pub retrain: RetrainConfig,
    /// The search's last step: its best children trained again at a higher fidelity
    /// (`[rescore]`; off by default).
    pub rescore: RescoreConfig,
    /// The one-shot evaluator's shared-weight training and rewards (`--evaluator oneshot`).
    pub oneshot: OneShotConfig,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            space: SpaceKind::Cnn,
            strategy: StrategyKind::Reinforce,
            samples: 12_800,
            count_repeats: false,
            repeat_limit: 1000,
            in_flight: 0,
            batch: 8,
            replicas: 1,
            shards: 1,
            gradients_per_update: 1,
            seed: 0,
            workers: 0,
            threads_per_worker: 0,
            cnn: CnnSpace::default(),
            rnn: RnnSpace::default(),
            depth: DepthSchedule::default(),
            controller: ControllerConfig::default(),
            evolution: EvolutionConfig::default(),
            local: LocalConfig::default(),
            evaluator: EvaluatorSpec::Train,
            dataset: DatasetSpec::default(),
            train: TrainConfig::default(),
            child: ChildConfig::default(),
            text: TextSpec::default(),
            lm: LmConfig::default(),
            lm_train: LmTrainConfig::default(),
            penalty: None,
            retrain: RetrainConfig::default(),
            rescore: RescoreConfig::default(),
            oneshot: OneShotConfig::default(),
        }
    }
}

impl SearchConfig {
    /// Read a TOML file over the paper's defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Self::from_layers(None, Some(path))
    }

    /// Layers, later ones winning key by key: the paper's defaults, a preset's TOML text, a TOML
    /// file. Relative paths in the file are taken relative to the file.
    pub fn from_layers(preset: Option<(&str, &str)>, file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::new();
        if let Some((name, text)) = preset {
            merge(&mut merged, parse_table(name, text)?);
        }
        if let Some(path) = file {
            let err = |reason: String| ConfigError::File { path: path.display().to_string(), reason };
            let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
            let mut table = parse_table(&path.display().to_string(), &text)?;
            relative_to(&mut table, path.parent().unwrap_or(Path::new("")));
            merge(&mut merged, table);
        }
        let shown = match (preset, file) {
            (_, Some(p)) => p.display().to_string(),
            (Some((n, _)), None) => format!("preset {n}"),
            (None, None) => "defaults".into(),
        };
        SearchConfig::deserialize(merged)
            .map_err(|e| ConfigError::File { path: shown, reason: e.message().trim_end().replace('\n', " ") })
    }

    /// The configured space.
    pub fn search_space(&self) -> SearchSpace {
        match self.space {
            SpaceKind::Cnn => SearchSpace::Cnn(self.cnn.clone()),
            SpaceKind::Rnn => SearchSpace::Rnn(self.rnn.clone()),
            SpaceKind::Nb201 => SearchSpace::default_for(SpaceKind::Nb201),
        }
    }

    /// Every strategy's hyper-parameters.
    pub fn strategy_settings(&self) -> Settings {
        Settings { controller: self.controller.clone(), evolution: self.evolution.clone(), local: self.local.clone() }
    }

    /// (workers, threads per worker) once the automatic values are resolved for this machine.
    pub fn parallelism(&self) -> (usize, usize) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if self.evaluator == EvaluatorSpec::Oneshot {
            // One supernet, trained child after child: one worker with every core.
            return (1, if self.threads_per_worker == 0 { cores } else { self.threads_per_worker });
        }
        let workers = if self.workers == 0 { cores } else { self.workers };
        let threads = if self.threads_per_worker == 0 { (cores / workers).max(1) } else { self.threads_per_worker };
        (workers, threads)
    }

    /// Check every field; the message names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = ConfigError::Invalid;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let checks = [
            count("samples", self.samples, 1, MAX_SAMPLES),
            count("batch", self.batch, 1, MAX_BATCH_CHILDREN),
            count("replicas", self.replicas, 1, MAX_BATCH_CHILDREN),
            count("shards", self.shards, 1, 1024),
            count("gradients_per_update", self.gradients_per_update, 1, MAX_BATCH_CHILDREN),
            // 0 = automatic; more workers or threads than cores only slow every child down.
            count("workers", self.workers, 0, cores.max(MAX_WORKERS)),
            count("threads_per_worker", self.threads_per_worker, 0, cores),
        ];
        checks.into_iter().collect::<Result<Vec<()>, String>>().map_err(bad)?;
        self.search_space().validate().map_err(|e| bad(e.to_string()))?;
        self.depth.validate().map_err(bad)?;
        self.controller.validate().map_err(bad)?;
        self.evolution.validate().map_err(bad)?;
        self.rescore.validate().map_err(bad)?;
        if self.rescore.enabled()
            && !(matches!(self.evaluator, EvaluatorSpec::Train | EvaluatorSpec::Oneshot)
                && self.space == SpaceKind::Cnn)
        {
            return Err(bad("rescore.top_k: re-scoring trains CNN children again (space = \"cnn\", the train or \
                 oneshot evaluator)"
                .into()));
        }
        if self.train.fill_seconds.is_some() {
            // A reward must not depend on how fast this machine was that minute.
            return Err(bad("train.fill_seconds: a search's children train for train.epochs; a final run fills a \
                 time budget with [retrain] max_minutes + fill_budget"
                .into()));
        }
        if self.repeat_limit == 0 {
            return Err(bad("repeat_limit must be at least 1".into()));
        }
        if self.in_flight > 4096 {
            return Err(bad(format!("in_flight must be at most 4096, got {}", self.in_flight)));
        }
        if self.strategy == StrategyKind::Reinforce
            && self.batch < 2
            && self.controller.update != nas_strategy::UpdateRule::Paper
        {
            return Err(bad(format!(
                "batch = 1 with controller.update = \"{}\": the update normalises advantages within a batch, \
                 which needs at least 2 children (or use update = \"paper\")",
                self.controller.update.name()
            )));
        }
        if let EvaluatorSpec::Table { scale, .. } = &self.evaluator
            && !(scale.is_finite() && *scale != 0.0)
        {
            return Err(bad(format!("evaluator.scale must be a non-zero number, got {scale}")));
        }
        if let EvaluatorSpec::Command(c) = &self.evaluator {
            c.validate().map_err(bad)?;
        }
        if let Some(p) = &self.penalty {
            p.validate().map_err(bad)?;
            if !matches!(self.evaluator, EvaluatorSpec::Train | EvaluatorSpec::Oneshot) {
                return Err(bad(
                    "penalty: the size penalty reads the sizes the train and oneshot evaluators report".into()
                ));
            }
            if self.space == SpaceKind::Rnn && p.metric == SizeMetric::Flops {
                return Err(bad("penalty.metric = \"flops\": language-model children report params only".into()));
            }
        }
        if self.evaluator == EvaluatorSpec::Oneshot {
            if self.space != SpaceKind::Cnn {
                return Err(bad(format!(
                    "--evaluator oneshot shares weights among CNN children; the {} space has no supernet \
                     (use --space cnn)",
                    self.search_space().name()
                )));
            }
            self.oneshot.validate().map_err(bad)?;
            if self.workers > 1 {
                return Err(bad(format!(
                    "workers = {}: the one-shot evaluator trains one supernet, child after child; give it the \
                     cores with threads_per_worker instead",
                    self.workers
                )));
            }
            self.train.validate().map_err(bad)?;
            self.child.validate().map_err(bad)?;
            self.retrain.validate().map_err(bad)?;
        }
        if self.evaluator == EvaluatorSpec::Train {
            match self.space {
                SpaceKind::Cnn => {
                    self.train.validate().map_err(bad)?;
                    self.child.validate().map_err(bad)?;
                    self.retrain.validate().map_err(bad)?;
                }
                SpaceKind::Rnn => {
                    self.lm.validate().map_err(bad)?;
                    self.lm_train.validate().map_err(bad)?;
                }
                SpaceKind::Nb201 => {
                    return Err(bad(
                        "the train evaluator trains CNNs and recurrent cells; the nb201 space needs a table \
                         evaluator (--evaluator table:FILE)"
                            .into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Make file paths absolute so the stored config still works from another directory.
    pub fn absolutize(&mut self) {
        let abs = |p: &mut std::path::PathBuf| {
            if let Ok(a) = std::path::absolute(&*p) {
                *p = a;
            }
        };
        if let EvaluatorSpec::Table { path, .. } = &mut self.evaluator {
            abs(path);
        }
        if let Some(d) = &mut self.oneshot.state_dir {
            abs(d);
        }
        match &mut self.dataset {
            DatasetSpec::FashionMnist { dir: Some(d) }
            | DatasetSpec::Mnist { dir: d }
            | DatasetSpec::Cifar10 { dir: d }
            | DatasetSpec::Cifar100 { dir: d } => abs(d),
            DatasetSpec::FashionMnist { dir: None } | DatasetSpec::FashionMnistSubset => {}
        }
    }

    /// The TOML form (what `nas config` prints).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("configs always serialise")
    }
}

fn parse_table(name: &str, text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| {
        // One line: "line L, column C (`the line`): message".
        let at = e.span().map(|s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            let col = before.len() - start + 1;
            let src = text[start..].lines().next().unwrap_or("").trim();
            format!("line {line}, column {col} (`{src}`): ")
        });
        ConfigError::File {
            path: name.to_string(),
            reason: format!("{}{}", at.unwrap_or_default(), e.message().trim_end().replace('\n', " ")),
        }
    })
}

/// Deep merge: tables merge key by key, anything else is replaced.
fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// Resolve the relative paths a config file may hold (table file, dataset dir) against `base`.
fn relative_to(table: &mut toml::Table, base: &Path) {
    for (section, key) in [("evaluator", "path"), ("dataset", "dir"), ("text", "dir")] {
        if let Some(toml::Value::Table(t)) = table.get_mut(section)
            && let Some(toml::Value::String(p)) = t.get_mut(key)
            && Path::new(p.as_str()).is_relative()
        {
            *p = base.join(&*p).display().to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key below, set to each of its bad values in a TOML file over the `tiny` preset,
    /// fails validation with a message naming the key — before anything is allocated.
    #[test]
    fn absurd_values_of_every_key_fail_naming_the_key() {
        let huge = "1_000_000_000_000";
        let cases: &[(&str, &str, &[&str])] = &[
            ("", "samples", &["0", huge]),
            ("", "batch", &["0", huge]),
            ("", "replicas", &["0", huge]),
            ("", "shards", &["0", huge]),
            ("", "workers", &[huge]),
            ("", "threads_per_worker", &[huge]),
            ("train", "epochs", &["0", huge]),
            ("train", "batch_size", &["0", huge]),
            ("train", "learning_rate", &["0.0", "-1.0", "nan", "inf", "1e300"]),
            ("train", "momentum", &["-0.5", "1.0", "nan"]),
            ("train", "weight_decay", &["-1.0", "nan", "inf"]),
            ("train", "train_subset", &["0", huge]),
            ("train", "validation", &["0", huge]),
            ("train", "reward_window", &["0", huge]),
            ("train", "bn_recalibration_batches", &[huge]),
            ("child", "bn_epsilon", &["-1e-5", "0.0", "nan", "2.0"]),
            ("child", "extra_filters", &["1_000_000_000"]),
            ("child", "max_params", &["0"]),
            ("child", "max_flops", &["0"]),
            ("child", "max_memory_mb", &["0"]),
            ("depth", "max", &[huge]),
            ("retrain", "epochs", &["0", huge]),
            ("retrain", "width", &["0.0", "-2.0", "nan", "100.0"]),
        ];
        for (section, key, values) in cases {
            for value in *values {
                let text = if section.is_empty() {
                    format!("{key} = {value}\n")
                } else {
                    format!("[{section}]\n{key} = {value}\n")
                };
                let dir = tempfile::tempdir().unwrap();
                let file = dir.path().join("c.toml");
                std::fs::write(&file, &text).unwrap();
                let tiny = crate::presets::preset("tiny").unwrap();
                let named = if section.is_empty() { key.to_string() } else { format!("{section}.{key}") };
                let err = match SearchConfig::from_layers(Some(("tiny", tiny)), Some(&file)) {
                    Err(e) => e.to_string(), // out of the field's type (negative counts, overflow)
                    Ok(c) => c.validate().expect_err(&format!("{named} = {value} must not validate")).to_string(),
                };
                assert!(err.contains(key), "{named} = {value}: {err}");
            }
        }
    }

    #[test]
    fn defaults_are_the_papers() {
        let c = SearchConfig::default();
        assert_eq!((c.samples, c.batch, c.controller.hidden, c.controller.layers), (12_800, 8, 35, 2));
        assert_eq!(ControllerConfig::paper().learning_rate, 0.0006);
        // The paper presets train the controller the paper's way.
        for name in ["paper-cifar10", "paper-ptb"] {
            let text = crate::preset(name).unwrap();
            let c = SearchConfig::from_layers(Some((name, text)), None).unwrap();
            assert_eq!((c.controller.update, c.controller.learning_rate), (nas_strategy::UpdateRule::Paper, 0.0006));
        }
        assert_eq!(c.depth, DepthSchedule { start: 6, step: 2, every: 1600, max: 20 });
    }

    #[test]
    fn toml_round_trip_and_partial_files() {
        let c = SearchConfig::default();
        let back: SearchConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        let partial: SearchConfig = toml::from_str(
            "space = \"nb201\"\nsamples = 50\n[controller]\nlearning_rate = 0.01\n[evaluator]\nkind = \"table\"\npath = \"t.csv\"\n",
        )
        .unwrap();
        assert_eq!(partial.space, SpaceKind::Nb201);
        assert_eq!(partial.controller.learning_rate, 0.01);
        assert_eq!(partial.controller.hidden, 35);
        assert!(matches!(partial.evaluator, EvaluatorSpec::Table { ref column, .. } if column == "accuracy"));
    }

    #[test]
    fn bad_files_name_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "samples = 10\n[controller]\nhiden = 3\n").unwrap();
        let e = SearchConfig::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("hiden"), "{e}");
        std::fs::write(&p, "samples = \"many\"\n").unwrap();
        let e = SearchConfig::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("samples") || e.contains("u64"), "{e}");
        std::fs::write(&p, "samples = \n").unwrap();
        let e = SearchConfig::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("samples ="), "{e}");
        let e = SearchConfig::from_file(&dir.path().join("missing.toml")).unwrap_err().to_string();
        assert!(e.contains("missing.toml") && e.contains("cannot read"), "{e}");
        let c = SearchConfig { batch: 0, ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("batch"));
        let c = SearchConfig { cnn: CnnSpace { filters: vec![], ..Default::default() }, ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("cnn.filters"));
    }

    #[test]
    fn layers_merge_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "seed = 7\n[train]\nepochs = 2\n").unwrap();
        let c = SearchConfig::from_layers(Some(("p", "samples = 3\n[train]\nbatch_size = 8\n")), Some(&p)).unwrap();
        assert_eq!((c.samples, c.seed, c.train.epochs, c.train.batch_size), (3, 7, 2, 8));
        assert_eq!(c.train.learning_rate, 0.1);
    }

    #[test]
    fn relative_table_paths_follow_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[evaluator]\nkind = \"table\"\npath = \"t.csv\"\n").unwrap();
        let c = SearchConfig::from_file(&p).unwrap();
        assert!(matches!(c.evaluator, EvaluatorSpec::Table { ref path, .. } if *path == dir.path().join("t.csv")));
    }
}
