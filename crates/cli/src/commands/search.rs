//! `nas search` and `nas config`: build the configuration from a file and flags, run the loop
//! with a progress bar, and say where the results are.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nas_data::{DatasetSpec, TextSpec};
use nas_evaluator::EvaluatorSpec;
use nas_runner::{Control, Event, PRESETS, Search, SearchConfig, preset};
use nas_space::SpaceKind;
use nas_store::{TrialStatus, open_store};
use nas_strategy::StrategyKind;

use crate::store_path;

/// Flags that shape a configuration (shared by `search`, `config` and `compare`).
/// Layers, later ones winning: the paper's defaults < the preset < --config < flags.
#[derive(Args, Clone, Default)]
pub struct ConfigArgs {
    /// Starting point: `tiny` (the default: seconds per child on the shipped Fashion-MNIST
    /// subset, or the shipped tiny text with --space rnn), `fashion-cpu` (80 CNNs on full
    /// Fashion-MNIST sized for a 2-core CPU), `fashion-oneshot` (15,000 CNNs under shared
    /// weights on full Fashion-MNIST), `paper-cifar10` (the paper's CNN setting, for GPUs),
    /// `paper-oneshot` (its space one-shot at ENAS's budget, for GPUs), `ptb-cpu` (20 recurrent
    /// cells on PTB sized for a 2-core CPU), `paper-ptb` (the paper's recurrent-cell setting), or
    /// a TOML file.
    #[arg(long, value_name = "NAME|FILE")]
    pub preset: Option<String>,
    /// TOML configuration file layered over the preset (see `nas config` for every key).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Search space: the paper's CNNs, its recurrent cells, or NAS-Bench-201 cells.
    #[arg(long, value_enum)]
    pub space: Option<SpaceArg>,
    /// Search strategy (README "Strategies" says when to use which).
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// How architectures are rewarded: `train` (train each child on --dataset; the default),
    /// `oneshot` (ENAS: every CNN child rewarded under one set of shared weights that each
    /// child trains for one step; thousands of children an hour on a CPU; `[oneshot]` in TOML),
    /// `table:FILE[:COLUMN]` (CSV with an `arch` column; COLUMN defaults to `accuracy`),
    /// `command:CMD` (your own trainer: CMD runs per trial in its directory with NAS_ARCH etc. and
    /// prints `{"reward": …}`; README "Bring your own trainer"; timeout, env and median stopping
    /// in the config's `[evaluator]`), or `toy` (a synthetic objective, no training).
    #[arg(long, value_name = "SPEC")]
    pub evaluator: Option<EvaluatorSpec>,
    /// Data for the train evaluator. Images (cnn space): `fashion-mnist[:DIR]` (without DIR: the
    /// Debian package's files, else the shipped subset), `fashion-mnist-subset`, `mnist:DIR`,
    /// `cifar10:DIR`, `cifar100:DIR`. Text (rnn space): `ptb:DIR`, `ptb-char:DIR` (DIR holds
    /// ptb.train.txt, ptb.valid.txt, ptb.test.txt), `text-tiny` (shipped). DIR holds the standard
    /// file names.
    #[arg(long, value_name = "SPEC")]
    pub dataset: Option<DataArg>,
    /// Architectures to evaluate in total (paper: 12,800). Counts distinct architectures: a
    /// draw that repeats one evaluated earlier in the experiment reuses its result and does not
    /// count (unless --count-repeats).
    #[arg(long, value_name = "N")]
    pub samples: Option<u64>,
    /// Count repeated draws towards --samples too (they are still not trained again).
    #[arg(long)]
    pub count_repeats: bool,
    /// Children per controller update, the paper's m (default 8).
    #[arg(long, value_name = "M")]
    pub batch: Option<usize>,
    /// Controller replicas, the paper's K (default 1: synchronous). Each draws its own batch of
    /// M children and sends its gradient, taken against the policy it sampled with, as soon as
    /// its batch is done, so workers never wait for the slowest child of a batch. Try
    /// workers ÷ M + 1; the paper used 100 (with 20 parameter-server shards: `shards` in TOML).
    #[arg(long, value_name = "K")]
    pub replicas: Option<usize>,
    /// Seed for the controller's initial weights and every random draw.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Children trained at once (default: one per CPU core; 1 = one at a time).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// CPU threads per child (default: the cores divided among the workers).
    #[arg(long, value_name = "T")]
    pub threads_per_worker: Option<usize>,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum SpaceArg {
    /// The paper's CNN space (layers, filters, strides, skip connections).
    Cnn,
    /// The paper's recurrent-cell space (a tree of combinations and activations).
    Rnn,
    /// NAS-Bench-201 cells (6 edges × 5 ops), for table-driven experiments.
    Nb201,
}

/// A `--dataset` value: an image dataset or a text corpus, told apart by name.
#[derive(Clone, Debug)]
pub enum DataArg {
    Images(DatasetSpec),
    Text(TextSpec),
}

impl std::str::FromStr for DataArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match TextSpec::parse(s) {
            Some(t) => t.map(DataArg::Text),
            None => s
                .parse::<DatasetSpec>()
                .map(DataArg::Images)
                .map_err(|e| format!("{e}, or ptb:DIR, ptb-char:DIR, text-tiny")),
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum StrategyArg {
    /// The paper's LSTM controller, trained by policy gradient ([controller] update: ppo by
    /// default, `paper` for the paper's exact REINFORCE).
    Reinforce,
    /// Regularized (aging) evolution: mutate tournament winners, the oldest member leaves
    /// ([evolution]). Asynchronous: every worker stays busy.
    Evolution,
    /// First-improvement local search with random restarts ([local]). Asynchronous.
    Local,
    /// Uniform random search without replacement (the control).
    Random,
}

impl StrategyArg {
    pub fn kind(self) -> StrategyKind {
        match self {
            StrategyArg::Reinforce => StrategyKind::Reinforce,
            StrategyArg::Evolution => StrategyKind::Evolution,
            StrategyArg::Local => StrategyKind::Local,
            StrategyArg::Random => StrategyKind::Random,
        }
    }
}

impl ConfigArgs {
    /// Defaults, then the preset, then the file, then the flags.
    pub fn resolve(&self) -> Result<SearchConfig> {
        let name = self.preset.as_deref().unwrap_or("tiny");
        let file_text;
        let preset_text = match preset(name) {
            Some(t) => t,
            None if Path::new(name).is_file() => {
                file_text = std::fs::read_to_string(name).with_context(|| format!("preset {name}"))?;
                &file_text
            }
            None => {
                let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
                bail!("unknown preset {name:?}: expected one of {} or a TOML file", names.join(", "));
            }
        };
        let mut c = SearchConfig::from_layers(Some((name, preset_text)), self.config.as_deref())?;
        if let Some(s) = self.space {
            c.space = match s {
                SpaceArg::Cnn => SpaceKind::Cnn,
                SpaceArg::Rnn => SpaceKind::Rnn,
                SpaceArg::Nb201 => SpaceKind::Nb201,
            };
        }
        match (&self.dataset, c.space) {
            (Some(DataArg::Images(_)), SpaceKind::Rnn) => {
                bail!(
                    "--dataset: the rnn space trains language models; give a text corpus (ptb:DIR, ptb-char:DIR, text-tiny)"
                )
            }
            (Some(DataArg::Text(_)), SpaceKind::Cnn) => {
                bail!("--dataset: a text corpus trains recurrent cells; add --space rnn (or give an image dataset)")
            }
            (Some(DataArg::Images(d)), _) => c.dataset = d.clone(),
            (Some(DataArg::Text(t)), _) => c.text = t.clone(),
            (None, _) => {}
        }
        if let Some(s) = self.strategy {
            c.strategy = s.kind();
        }
        if self.count_repeats {
            c.count_repeats = true;
        }
        if let Some(e) = &self.evaluator {
            c.evaluator = e.clone();
        }
        if let Some(n) = self.samples {
            c.samples = n;
        }
        if let Some(m) = self.batch {
            c.batch = m;
        }
        if let Some(k) = self.replicas {
            c.replicas = k;
        }
        if let Some(s) = self.seed {
            c.seed = s;
        }
        if let Some(w) = self.workers {
            c.workers = w;
        }
        if let Some(t) = self.threads_per_worker {
            c.threads_per_worker = t;
        }
        c.validate()?;
        Ok(c)
    }

    fn any_set(&self) -> bool {
        self.preset.is_some()
            || self.dataset.is_some()
            || self.config.is_some()
            || self.space.is_some()
            || self.strategy.is_some()
            || self.count_repeats
            || self.evaluator.is_some()
            || self.batch.is_some()
            || self.replicas.is_some()
            || self.seed.is_some()
    }
}

#[derive(Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub cfg: ConfigArgs,
    /// Store: a SQLite file (created if missing; default ./nas.db) or a postgres:// URL.
    #[arg(long, value_name = "PATH|URL", env = "NAS_STORE")]
    pub store: Option<PathBuf>,
    /// Do not train children here: queue each batch for `nas worker` processes (on any machine)
    /// that claim them from the PostgreSQL store, and wait for their results.
    #[arg(long)]
    pub remote_workers: bool,
    /// With --remote-workers: how many times a trial may be claimed before it is failed (a
    /// worker that dies loses its lease; the trial goes to another worker).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_attempts: u32,
    /// Experiment name (default: search-N). With --resume, which experiment to continue.
    #[arg(long)]
    pub name: Option<String>,
    /// Continue an experiment from its last checkpoint (the latest one unless --name is given).
    /// Its stored configuration is used; --samples may raise the total.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `nas config`: print the resolved configuration.
pub fn print_config(a: ConfigArgs) -> Result<()> {
    print!("{}", a.resolve()?.to_toml());
    Ok(())
}

pub fn run(a: SearchArgs) -> Result<()> {
    let path = store_path(&a.store);
    // Check the flags before touching the store, so a typo leaves no file behind.
    let spec = path.to_string_lossy().to_string();
    let config = if a.resume {
        if a.cfg.any_set() {
            bail!("--resume continues with the experiment's stored configuration; only --samples may be given with it");
        }
        None
    } else {
        let mut c = a.cfg.resolve()?;
        if a.remote_workers && c.evaluator == EvaluatorSpec::Oneshot {
            bail!(
                "--remote-workers: a one-shot search trains one supernet on this machine; run it without remote workers"
            );
        }
        if c.evaluator == EvaluatorSpec::Oneshot && c.oneshot.state_dir.is_none() {
            // The supernet's state lives beside the store it belongs to.
            let dir = if nas_store::is_postgres_url(&spec) { "nas-oneshot".into() } else { format!("{spec}.oneshot") };
            c.oneshot.state_dir = Some(PathBuf::from(dir));
        }
        Some(c)
    };
    if a.remote_workers && !nas_store::is_postgres_url(&spec) {
        bail!("--remote-workers needs a PostgreSQL store that workers can reach: --store postgres://…");
    }
    let store = open_store(&spec, true)?;
    let shown = nas_store::redact(&spec);
    let store = &*store;
    let queue = if a.remote_workers { Some(nas_store::PgStore::connect(&spec)?) } else { None };
    // One coordinator leads an experiment (a PostgreSQL advisory lock); a second `--resume` of the
    // same experiment waits as its standby and takes over, from the stored state, when it dies.
    let standby_wait = |name: &str| {
        eprintln!("experiment {name:?} is led by another coordinator; waiting as its standby");
    };
    let mut leadership = match (&queue, &config) {
        (Some(q), None) => {
            let name = match &a.name {
                Some(n) => n.clone(),
                None => nas_runner::latest_search(store)?
                    .map(|e| e.name)
                    .ok_or_else(|| anyhow::anyhow!("nothing to resume"))?,
            };
            Some(q.lead(&spec, &name, || standby_wait(&name))?)
        }
        _ => None,
    };
    let mut search = match config {
        None => Search::resume(store, a.name.as_deref(), a.cfg.samples)?,
        Some(c) => Search::start(store, c, a.name.clone())?,
    };
    if let Some(q) = &queue {
        if leadership.is_none() {
            let name = search.experiment().name.clone();
            leadership = Some(q.lead(&spec, &name, || standby_wait(&name))?);
        }
        search.use_remote_workers(q, a.max_attempts);
        eprintln!("children are trained by `nas worker --store {shown}` processes; waiting for them");
    }
    let _leadership = leadership;
    let cfg = search.config().clone();
    if queue.is_some() && cfg.evaluator == EvaluatorSpec::Oneshot {
        bail!("--remote-workers: a one-shot search trains one supernet on this machine; run it without remote workers");
    }
    let exp = search.experiment().clone();
    eprintln!(
        "{} experiment {:?} in {}: {} space, {} strategy, {} samples (batch {}), seed {}",
        if a.resume { "resuming" } else { "starting" },
        exp.name,
        shown,
        cfg.search_space().name(),
        exp.strategy,
        cfg.samples,
        cfg.batch,
        cfg.seed
    );
    eprintln!("{}", search.evaluator_description());
    if matches!(cfg.evaluator, EvaluatorSpec::Toy) {
        eprintln!("note: the toy evaluator trains nothing (a synthetic objective for demos)");
    }

    // Ctrl-C: stop after the children in flight (nothing is lost; `--resume` continues).
    let interrupted = super::stop_on_ctrl_c(None);
    let oneshot = cfg.evaluator == EvaluatorSpec::Oneshot;
    let bars = indicatif::MultiProgress::new();
    if a.quiet {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let bar = bars.add(ProgressBar::new(cfg.samples));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} samples  {msg}")
            .expect("valid template"),
    );
    // One-shot: a second bar runs over each pass of the shared weights over the training images.
    let epoch_bar = if oneshot { bars.add(ProgressBar::new(1000)) } else { ProgressBar::hidden() };
    epoch_bar.set_style(
        ProgressStyle::with_template("  supernet epoch {prefix} {bar:30} {percent:>3}%").expect("valid template"),
    );
    let show_epoch = |id: i64| {
        let m = store.trial(id).ok().flatten().map(|t| t.metrics());
        if let Some(e) = m.as_ref().and_then(|m| m.get("supernet_epoch")).and_then(serde_json::Value::as_f64) {
            epoch_bar.set_prefix(format!("{}", e.floor() as u64 + 1));
            epoch_bar.set_position((e.fract() * 1000.0) as u64);
        }
    };
    // Children with a result so far; results arrive in any order with several replicas.
    let mut finished = search.children_finished()?;
    bar.set_position(finished);
    if oneshot && finished == 0 && cfg.oneshot.warmup_steps > 0 {
        bar.set_message(format!(
            "warming up the shared weights: {} steps with children drawn uniformly",
            cfg.oneshot.warmup_steps
        ));
        // The warm-up moves the supernet-epoch bar; the first child's metrics take over after.
        let epoch_bar = epoch_bar.clone();
        search.watch_warm_up(move |p| {
            epoch_bar.set_prefix(format!("{} (warm-up step {} of {})", p.epochs.floor() as u64 + 1, p.steps, p.of));
            epoch_bar.set_position((p.epochs.fract() * 1000.0) as u64);
        });
    }
    // Children can train for minutes: keep the clock moving between trials.
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    let trial_score = |id: i64| store.trial(id).ok().flatten().as_ref().and_then(super::inspect::val_score);
    let mut best = search.best().map(|b| b.1);
    let mut best_score = search.best().and_then(|b| trial_score(b.0));
    let mut baseline = search.baseline();
    let mut failed = 0u64;
    let mut repeats = 0u64;
    let summary = search.run(|e| {
        match e {
            Event::Trial { trial_id, status, reward, reused, repeat_of, .. } => {
                if oneshot {
                    show_epoch(*trial_id);
                }
                repeats += repeat_of.is_some() as u64;
                if !reused && (repeat_of.is_none() || cfg.count_repeats) {
                    finished += 1;
                    bar.set_position(finished);
                }
                if *status == TrialStatus::Completed && best.is_none_or(|b| *reward > b) {
                    best = Some(*reward);
                    best_score = trial_score(*trial_id);
                }
                if *status == TrialStatus::Failed {
                    failed += 1;
                }
            }
            Event::Update(s) => {
                if s.policy_version > 0 {
                    baseline = Some(s.baseline);
                }
            }
        }
        let fmt = |x: Option<f64>| x.map_or("-".into(), super::inspect::format_reward);
        let repeated = if repeats > 0 { format!("  repeats {repeats}") } else { String::new() };
        let acc = best_score.map_or(String::new(), |s| format!(" ({} {})", s.column(), s.value()));
        bar.set_message(format!("best {}{acc}  baseline {}  failed {failed}{repeated}", fmt(best), fmt(baseline)));
        if interrupted.load(Ordering::SeqCst) { Control::Stop } else { Control::Continue }
    })?;
    bar.finish_and_clear();
    epoch_bar.finish_and_clear();
    match &summary.best {
        Some((id, reward, arch)) => {
            let acc = trial_score(*id).map_or(String::new(), |s| format!(", {}", s.words()));
            eprintln!("best: trial {id}, reward {}{acc}, {arch}", super::inspect::format_reward(*reward))
        }
        None => eprintln!("no completed trial yet"),
    }
    let store_flag = if a.store.is_some() { format!(" --store {}", shown) } else { String::new() };
    if summary.repeats > 0 {
        eprintln!(
            "{} draw(s) repeated an architecture evaluated earlier: their results were reused, not trained again{}",
            summary.repeats,
            if cfg.count_repeats { "" } else { ", and they do not count as samples" }
        );
    }
    if summary.exhausted {
        eprintln!(
            "ended early: the last {} draws were all repeats (the strategy has converged or the space is exhausted; \
             `repeat_limit` sets how many)",
            cfg.repeat_limit
        );
    }
    if summary.finished {
        eprintln!(
            "done: {} samples of {:?} in {}. See `nas top{store_flag}`, `nas show TRIAL{store_flag}`.",
            summary.samples, summary.experiment, shown
        );
        let ranked = if oneshot { derive(&mut search, &cfg, &store_flag)? } else { None };
        if cfg.rescore.enabled() && !interrupted.load(Ordering::SeqCst) {
            rescore(
                store,
                &exp,
                &cfg,
                ranked.as_deref(),
                Output { quiet: a.quiet, interrupted: &interrupted, store_flag: &store_flag },
            )?;
        }
    } else {
        // Count what the store holds, so the number printed is the number kept.
        let trials = store.trials(exp.id)?;
        let kept = trials.iter().filter(|t| !matches!(t.status, TrialStatus::Running | TrialStatus::Aborted)).count();
        let pending = trials.len() - kept;
        eprintln!(
            "stopped: {kept} trial(s) stored{}; continue with `nas search --resume --name {}{store_flag}`",
            if pending > 0 { format!(", {pending} in flight to be trained again on resume") } else { String::new() },
            summary.experiment
        );
    }
    if interrupted.load(Ordering::SeqCst) {
        return Err(crate::Exit(130).into());
    }
    Ok(())
}

/// After a one-shot search: its best distinct children by reward scored again on the whole
/// validation split under the final shared weights, the best `top_k` listed; returns their
/// trial ids, best first (what `[rescore]` then re-scores).
fn derive(search: &mut Search, cfg: &SearchConfig, store_flag: &str) -> Result<Option<Vec<i64>>> {
    let o = &cfg.oneshot;
    eprintln!(
        "scoring the best {} distinct children on the whole validation split under the shared weights",
        o.candidates
    );
    let started = std::time::Instant::now();
    let Some(scored) = search.derive(o.candidates)? else { return Ok(None) };
    eprintln!("{:>4} {:>6} {:>10} {:>10}  arch", "rank", "trial", "reward acc", "shared acc");
    for (rank, (t, acc)) in scored.iter().take(o.top_k).enumerate() {
        let reward_acc = super::inspect::val_score(t).map_or("-".to_string(), |s| s.value());
        eprintln!("{:>4} {:>6} {:>10} {:>10.4}  {}", rank + 1, t.id, reward_acc, acc, t.arch);
    }
    if let Some((best, acc)) = scored.first() {
        eprintln!(
            "scored {} children in {:.0} s; best under the shared weights: trial {} (val acc {acc:.4}) → retrain it from \
             scratch with `nas train --trial {}{store_flag}`",
            scored.len(),
            started.elapsed().as_secs_f64(),
            best.id,
            best.id
        );
    }
    Ok(Some(scored.iter().map(|(t, _)| t.id).collect()))
}

/// Where the re-scoring reports to.
struct Output<'a> {
    quiet: bool,
    interrupted: &'a AtomicBool,
    store_flag: &'a str,
}

/// The search's last step (`[rescore]`): train its best children again at a higher fidelity,
/// with a progress bar, and print the new ranking. `ranked` (a one-shot search's derived
/// ranking) picks the children instead of their rewards.
fn rescore(
    store: &dyn nas_store::TrialStore,
    exp: &nas_store::Experiment,
    cfg: &SearchConfig,
    ranked: Option<&[i64]>,
    out: Output<'_>,
) -> Result<()> {
    let Output { quiet, interrupted, store_flag } = out;
    let r = &cfg.rescore;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(r.top_k as u64) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} re-scored  {msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    let started = std::time::Instant::now();
    let control = || if interrupted.load(Ordering::SeqCst) { Control::Stop } else { Control::Continue };
    let observe = |e: &nas_runner::RescoreEvent| {
        match e {
            nas_runner::RescoreEvent::Started { to_train, of, description } => {
                bar.set_length(*of as u64);
                bar.set_position((*of - *to_train) as u64);
                let baselines = match cfg.rescore.baselines.len() {
                    0 => String::new(),
                    n => format!(" and {n} baseline(s)"),
                };
                let children = *of - cfg.rescore.baselines.len();
                bar.suspend(|| {
                    eprintln!(
                        "re-scoring the best {children} children{baselines} ({to_train} to train) at a higher \
                         fidelity: {description}"
                    )
                });
            }
            nas_runner::RescoreEvent::Finished(row) => {
                bar.inc(1);
                let acc = row.accuracy.map_or("failed".to_string(), |a| format!("{a:.4}"));
                let what = row.source_trial.map_or_else(|| "baseline".to_string(), |t| format!("trial {t}"));
                bar.set_message(format!("{what} → val acc {acc}"));
            }
        }
        control()
    };
    let rows = match ranked {
        Some(ids) => nas_runner::rescore_ranked(store, exp, cfg, ids, observe)?,
        None => nas_runner::rescore(store, exp, cfg, observe)?,
    };
    bar.finish_and_clear();
    let name = nas_runner::rescore_name(&exp.name);
    let fmt = |a: Option<f64>| a.map_or("-".to_string(), |a| format!("{a:.4}"));
    eprintln!("{:>6} {:>6} {:>10} {:>10}  arch", "trial", "from", "search acc", "rescored");
    for row in &rows {
        let acc = match (&row.accuracy, &row.failure) {
            (Some(a), _) => format!("{a:.4}"),
            (None, f) => format!("failed: {}", f.clone().unwrap_or_default()),
        };
        let from = row.source_trial.map_or_else(|| "ref".to_string(), |t| t.to_string());
        eprintln!("{:>6} {:>6} {:>10} {:>10}  {}", row.trial_id, from, fmt(row.search_accuracy), acc, row.arch);
    }
    if interrupted.load(Ordering::SeqCst) {
        eprintln!("re-scoring stopped: finish it with `nas search --resume --name {}{store_flag}`", exp.name);
        return Ok(());
    }
    let children = rows.iter().filter(|r| r.source_trial.is_some()).count();
    match rows.iter().find(|r| r.source_trial.is_some() && r.accuracy.is_some()) {
        Some(best) => {
            eprintln!(
                "re-scored {children} children in {:.0} s (experiment {name:?}); best: trial {} (trial {} of the \
                 search), val acc {} → `nas train --trial {}{store_flag}`",
                started.elapsed().as_secs_f64(),
                best.trial_id,
                best.source_trial.unwrap_or_default(),
                fmt(best.accuracy),
                best.trial_id
            );
            if let Some(b) = rows.iter().find(|r| r.source_trial.is_none() && r.accuracy > best.accuracy) {
                eprintln!("note: the baseline {} scored higher ({}) at this fidelity", b.arch, fmt(b.accuracy));
            }
        }
        None => eprintln!("re-scoring: no child completed (experiment {name:?})"),
    }
    Ok(())
}
