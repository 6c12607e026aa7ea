//! Read-only commands over a store: `top`, `show`, `export-arch`, `experiments`.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use nas_space::{Architecture, CnnArch};
use nas_store::{DynStore, Experiment, TrialRow, TrialStore, open_store};
use serde_json::{Value, json};

use crate::store_path;

#[derive(Args)]
pub struct StoreArg {
    /// Store: a SQLite file (default ./nas.db) or a postgres:// URL.
    #[arg(long, value_name = "PATH|URL", env = "NAS_STORE")]
    pub store: Option<PathBuf>,
}

impl StoreArg {
    /// Open the (existing) store; also returns how to name it in messages (a URL's password
    /// masked: [`nas_store::redact`]).
    pub(crate) fn open(&self) -> Result<(DynStore, String)> {
        let p = store_path(&self.store).to_string_lossy().to_string();
        Ok((open_store(&p, false)?, nas_store::redact(&p)))
    }
}

#[derive(Args)]
pub struct TopArgs {
    /// How many trials.
    #[arg(short, default_value_t = 10)]
    pub k: usize,
    #[command(flatten)]
    pub store: StoreArg,
    /// Experiment name, or `all` (default: the latest experiment).
    #[arg(long)]
    pub experiment: Option<String>,
    /// One JSON object per line: trial, experiment, seq, reward, arch, depth, policy_version, metrics.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ShowArgs {
    /// Trial id (as printed by `nas top`).
    pub trial: i64,
    #[command(flatten)]
    pub store: StoreArg,
    /// The whole trial as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Trial id (as printed by `nas top`).
    pub trial: i64,
    #[command(flatten)]
    pub store: StoreArg,
}

pub(crate) fn pick_experiment(store: &dyn TrialStore, name: Option<&str>) -> Result<Option<Experiment>> {
    match name {
        Some("all") => Ok(None),
        Some(n) => Ok(Some(store.experiment_by_name(n)?.ok_or_else(|| anyhow!("no experiment named {n:?}"))?)),
        None => Ok(Some(store.experiments()?.pop().ok_or_else(|| anyhow!("the store has no experiment yet"))?)),
    }
}

fn trial_json(t: &TrialRow, experiment: &str) -> Value {
    json!({
        "trial": t.id,
        "experiment": experiment,
        "seq": t.seq,
        "status": t.status,
        "reward": t.reward,
        "arch": t.arch,
        "depth": t.depth,
        "policy_version": t.policy_version,
        "log_prob": t.log_prob,
        "entropy": t.entropy,
        "eval_seconds": t.eval_seconds,
        "failure": t.failure,
        "parent_id": t.parent_id,
        "repeat_of": t.repeat_of,
        "metrics": t.metrics(),
    })
}

fn experiment_name(store: &dyn TrialStore, id: i64) -> Result<String> {
    Ok(store.experiment(id)?.map(|e| e.name).unwrap_or_default())
}

pub fn top(a: TopArgs) -> Result<()> {
    let (store, path) = a.store.open()?;
    let exp = pick_experiment(&store, a.experiment.as_deref())?;
    let rows = store.top(exp.as_ref().map(|e| e.id), a.k)?;
    if a.json {
        for t in &rows {
            println!("{}", trial_json(t, &experiment_name(&store, t.experiment_id)?));
        }
        return Ok(());
    }
    let scope = exp.as_ref().map_or("all experiments".to_string(), |e| format!("experiment {:?}", e.name));
    println!("top {} of {scope} in {path}", rows.len());
    // Image children report an accuracy, language models a perplexity: the column says which.
    let header = rows.iter().find_map(val_score).map_or("val acc", |s| s.column());
    println!("{:>7} {:>6} {:>10} {header:>8} {:>5}  arch", "trial", "seq", "reward", "depth");
    for t in &rows {
        let score = val_score(t).map_or("-".to_string(), |s| s.value());
        let reward = t.reward.map_or("NaN".to_string(), format_reward);
        println!("{:>7} {:>6} {reward:>10} {score:>8} {:>5}  {}", t.id, t.seq, t.depth, t.arch);
    }
    Ok(())
}

/// A reward with four decimals, or four significant digits when it is small (a language model's
/// 80 / ppl² is ~1e-4: `0.0002` would hide the ranking).
pub(crate) fn format_reward(r: f64) -> String {
    if r == 0.0 || r.abs() >= 0.01 || !r.is_finite() {
        format!("{r:.4}")
    } else {
        let decimals = (3.0 - r.abs().log10().floor()).clamp(4.0, 12.0) as usize;
        format!("{r:.decimals$}")
    }
}

/// What users read beside the reward the strategy learns from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ValScore {
    /// `val_accuracy` in a trial's metrics (image children, most user trainers).
    Accuracy(f64),
    /// `val_perplexity` (language-model children).
    Perplexity(f64),
}

impl ValScore {
    /// The short column header (`nas top`).
    pub(crate) fn column(self) -> &'static str {
        match self {
            ValScore::Accuracy(_) => "val acc",
            ValScore::Perplexity(_) => "val ppl",
        }
    }

    /// The value alone, as the column shows it.
    pub(crate) fn value(self) -> String {
        match self {
            ValScore::Accuracy(a) => format!("{a:.4}"),
            ValScore::Perplexity(p) => format!("{p:.1}"),
        }
    }

    /// In words, for summaries: "validation accuracy 0.8708".
    pub(crate) fn words(self) -> String {
        match self {
            ValScore::Accuracy(a) => format!("validation accuracy {a:.4}"),
            ValScore::Perplexity(p) => format!("validation perplexity {p:.1}"),
        }
    }
}

/// The validation score a trial's evaluator reported: `val_accuracy`, else `val_perplexity`.
pub(crate) fn val_score(t: &TrialRow) -> Option<ValScore> {
    score_in(&t.metrics())
}

fn score_in(m: &Value) -> Option<ValScore> {
    let get = |k: &str| m.get(k).and_then(serde_json::Value::as_f64);
    get("val_accuracy").map(ValScore::Accuracy).or_else(|| get("val_perplexity").map(ValScore::Perplexity))
}

/// An architecture given on the command line (`flag`): a JSON file (`nas export-arch`, a
/// bundle's arch.json) or a CNN string such as "3x3-32;5x5-64<0".
pub(crate) fn parse_arch_arg(flag: &str, text: &str) -> Result<Architecture> {
    let path = std::path::Path::new(text);
    if path.is_file() {
        let json = std::fs::read_to_string(path).with_context(|| format!("{flag}: cannot read {text}"))?;
        return Architecture::from_json(&json).with_context(|| format!("{flag}: {text} is not an architecture"));
    }
    if text.trim_start().starts_with('{') {
        return Architecture::from_json(text).with_context(|| format!("{flag}: not an architecture"));
    }
    text.parse::<CnnArch>()
        .map(Architecture::Cnn)
        .map_err(|e| anyhow!("{flag} {text:?}: neither a file nor a CNN string ({e})"))
}

pub(crate) fn get_trial(store: &dyn TrialStore, shown: &str, id: i64) -> Result<TrialRow> {
    store.trial(id)?.ok_or_else(|| anyhow!("no trial {id} in {shown}"))
}

pub fn show(a: ShowArgs) -> Result<()> {
    let (store, path) = a.store.open()?;
    let t = get_trial(&store, &path, a.trial)?;
    let exp = experiment_name(&store, t.experiment_id)?;
    if a.json {
        let mut v = trial_json(&t, &exp);
        v["arch_json"] = serde_json::from_str(&t.arch_json).context("stored architecture JSON")?;
        v["tokens"] = serde_json::from_str(&t.tokens_json).context("stored tokens")?;
        println!("{v}");
        return Ok(());
    }
    println!("trial {} (sample {} of experiment {exp:?})", t.id, t.seq);
    println!("  status          {}", t.status.as_str());
    if let Some(r) = t.reward {
        println!("  reward          {r:.6}");
    }
    if let Some(f) = &t.failure {
        println!("  failure         {f}");
    }
    println!("  architecture    {}", t.arch);
    if let Some(p) = t.parent_id {
        let rescore = store.experiment(t.experiment_id)?.is_some_and(|e| nas_runner::is_rescore(&e));
        println!("  {}    trial {p}", if rescore { "re-scores   " } else { "mutated from" });
    }
    if let Some(r) = t.repeat_of {
        println!("  repeat of       trial {r} (its result, reused: not trained again)");
    }
    println!("  depth           {}", t.depth);
    println!("  policy version  {}", t.policy_version);
    println!("  log-probability {:.4}", t.log_prob);
    println!("  entropy         {:.4}", t.entropy);
    if let Some(s) = t.eval_seconds {
        println!("  evaluated in    {s:.3} s");
    }
    if let Value::Object(m) = t.metrics() {
        let list: Vec<String> = m.iter().filter(|(k, _)| *k != "epochs").map(|(k, v)| format!("{k}={v}")).collect();
        println!("  metrics         {}", list.join(", "));
        if let Some(Value::Array(epochs)) = m.get("epochs") {
            print_epochs(epochs);
        }
    }
    println!("  tokens          {}", t.tokens_json);
    Ok(())
}

/// The per-epoch table: one column per numeric field the epochs report (the trainer's
/// `train_loss`, `val_accuracy`, … or whatever a trial command printed), `-` where one lacks it.
fn print_epochs(epochs: &[Value]) {
    let mut keys: Vec<&str> = vec!["epoch"];
    for e in epochs.iter().filter_map(Value::as_object) {
        for (k, v) in e {
            if v.is_number() && !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
    }
    let width = |k: &str| k.len().max(9);
    let header: Vec<String> = keys.iter().map(|k| format!("{k:>w$}", w = width(k))).collect();
    println!("  {}", header.join(" "));
    for e in epochs {
        let cells: Vec<String> = keys
            .iter()
            .map(|k| {
                let w = width(k);
                match e.get(*k) {
                    Some(v) if v.is_u64() || v.is_i64() => format!("{:>w$}", v.to_string()),
                    Some(v) => v.as_f64().map_or(format!("{:>w$}", "-"), |x| format!("{x:>w$.4}")),
                    None => format!("{:>w$}", "-"),
                }
            })
            .collect();
        println!("  {}", cells.join(" "));
    }
}

pub fn export_arch(a: ExportArgs) -> Result<()> {
    let (store, path) = a.store.open()?;
    let t = get_trial(&store, &path, a.trial)?;
    let arch = nas_space::Architecture::from_json(&t.arch_json)
        .with_context(|| format!("trial {} holds an unreadable architecture", t.id))?;
    println!("{}", arch.to_json());
    Ok(())
}

pub fn experiments(a: StoreArg) -> Result<()> {
    let (store, path) = a.open()?;
    let list = store.experiments()?;
    if list.is_empty() {
        bail!("{path} has no experiment yet");
    }
    println!(
        "{:>4} {:<20} {:<6} {:<10} {:<8} {:>8} {:>10}",
        "id", "name", "space", "strategy", "status", "trials", "best"
    );
    for e in list {
        let n = store.trials(e.id)?.len();
        let best = store.top(Some(e.id), 1)?.pop().and_then(|t| t.reward);
        println!(
            "{:>4} {:<20} {:<6} {:<10} {:<8} {:>8} {:>10}",
            e.id,
            e.name,
            e.space,
            e.strategy,
            e.status,
            n,
            best.map_or("-".into(), |b| format!("{b:.4}"))
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_rewards_keep_four_significant_digits() {
        assert_eq!(format_reward(0.6603), "0.6603");
        assert_eq!(format_reward(0.000179), "0.0001790");
        assert_eq!(format_reward(0.0021), "0.002100");
        assert_eq!(format_reward(0.0), "0.0000");
        assert_eq!(format_reward(-0.5), "-0.5000");
        assert_eq!(format_reward(f64::NAN), "NaN");
    }

    #[test]
    fn accuracy_first_then_perplexity() {
        let both = serde_json::json!({"val_accuracy": 0.87, "val_perplexity": 12.0});
        assert_eq!(score_in(&both), Some(ValScore::Accuracy(0.87)));
        let lm = serde_json::json!({"val_perplexity": 669.41, "params": 10});
        let s = score_in(&lm).unwrap();
        assert_eq!((s.column(), s.value().as_str()), ("val ppl", "669.4"));
        assert_eq!(s.words(), "validation perplexity 669.4");
        assert_eq!(score_in(&serde_json::json!({"loss": 1.0})), None);
        assert_eq!(score_in(&Value::Null), None);
    }
}
