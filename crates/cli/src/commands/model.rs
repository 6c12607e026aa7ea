//! From search to model: `nas train` (the paper's final grid + retrain, written as a model
//! bundle), `nas predict` (classes of images) and `nas export-onnx` (a bundle's network as
//! ONNX); `nas eval` has a file of its own (`eval.rs`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nas_retrain::{
    Manifest, ModelMetrics, Phase, RetrainConfig, RetrainInputs, load_bundle, predict as predict_class, read_inputs,
    retrain, save_bundle,
};
use nas_runner::SearchConfig;
use nas_space::{Architecture, CnnArch};
use nas_store::TrialStore;

use super::inspect::{StoreArg, get_trial, parse_arch_arg};
use super::search::{ConfigArgs, DataArg};

#[derive(Args)]
pub struct TrainArgs {
    /// Retrain this trial's architecture, with the settings of the experiment it came from.
    #[arg(long, value_name = "ID", conflicts_with = "arch", required_unless_present = "arch")]
    pub trial: Option<i64>,
    #[command(flatten)]
    pub store: StoreArg,
    /// …or an architecture: a JSON file (`nas export-arch`, a bundle's arch.json) or a CNN
    /// string such as "3x3-32;5x5-64<0". Settings then come from --preset/--config. (With
    /// --trial, --preset/--config supply only the [retrain] grid and budgets.)
    #[arg(long, value_name = "FILE|STRING")]
    pub arch: Option<String>,
    #[command(flatten)]
    pub cfg: ConfigArgs,
    /// Epochs of the final run (overrides retrain.epochs; under retrain.fill_budget the least
    /// it runs).
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Epochs of each grid run (overrides retrain.grid_epochs).
    #[arg(long, value_name = "N")]
    pub grid_epochs: Option<usize>,
    /// Train the final run on this many images (class-balanced); all by default.
    #[arg(long, value_name = "N")]
    pub train_subset: Option<usize>,
    /// Multiply every layer's filter count by this (overrides retrain.width; the paper's
    /// "more filters" for its final model).
    #[arg(long, value_name = "X")]
    pub width: Option<f64>,
    /// Skip the grid: retrain once with the search's own learning rate, weight decay and ε.
    #[arg(long)]
    pub no_grid: bool,
    /// Bundle directory (default: models/trial-ID, or models/arch for --arch).
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The architecture and settings `nas train` was pointed at.
fn source(a: &TrainArgs) -> Result<(CnnArch, SearchConfig, Option<i64>)> {
    let (arch, mut config, trial) = if let Some(id) = a.trial {
        let (store, path) = a.store.open()?;
        let t = get_trial(&store, &path, id)?;
        let exp = store.experiment(t.experiment_id)?.ok_or_else(|| anyhow!("trial {id} has no experiment"))?;
        let config: SearchConfig = serde_json::from_str(&exp.config_json)
            .with_context(|| format!("experiment {:?} has an unreadable stored config", exp.name))?;
        let arch = Architecture::from_json(&t.arch_json).with_context(|| format!("trial {id}'s architecture"))?;
        let (arch, w) = nas_runner::as_scored(arch, &t.metrics());
        if w != 1.0 {
            eprintln!("trial {id} was scored at filters × {w} (oneshot.reward_flops): retraining that network, {arch}");
        }
        (arch, config, Some(id))
    } else {
        let text = a.arch.as_deref().expect("clap requires --trial or --arch");
        let arch = parse_arch_arg("--arch", text)?;
        (arch, a.cfg.resolve()?, None)
    };
    let Architecture::Cnn(cnn) = arch else {
        bail!("nas train retrains CNNs; this is a {} architecture (recurrent cells: nas train-lm)", arch.space_name());
    };
    if trial.is_some() {
        // Flags still apply over a stored configuration.
        match &a.cfg.dataset {
            Some(DataArg::Images(d)) => config.dataset = d.clone(),
            Some(DataArg::Text(_)) => bail!("--dataset: nas train trains image classifiers"),
            None => {}
        }
        if let Some(s) = a.cfg.seed {
            config.seed = s;
        }
        if a.cfg.preset.is_some() || a.cfg.config.is_some() {
            // The stored search keeps its data and training settings; the grid comes from here.
            config.retrain = a.cfg.resolve()?.retrain;
        }
    }
    if let Some(e) = a.epochs {
        config.retrain.epochs = e;
    }
    if let Some(w) = a.width {
        config.retrain.width = w;
    }
    if a.grid_epochs.is_some() {
        config.retrain.grid_epochs = a.grid_epochs;
    }
    if a.train_subset.is_some() {
        config.retrain.train_subset = a.train_subset;
    }
    if a.no_grid {
        config.retrain = RetrainConfig {
            learning_rate: vec![config.train.learning_rate],
            weight_decay: vec![config.train.weight_decay],
            bn_epsilon: vec![config.child.bn_epsilon],
            decay_at: vec![1.0],
            ..config.retrain
        };
    }
    config.retrain.validate().map_err(|e| anyhow!(e))?;
    Ok((cnn, config, trial))
}

/// Kept beside a final run's saved state: the width `retrain.max_minutes` chose for it.
const TIMED_WIDTH: &str = "timed-width.json";

/// What `retrain.max_minutes` settled for a final run: its width and epochs.
#[derive(Debug, Clone, Copy)]
struct Budgeted {
    width: f64,
    epochs: usize,
}

/// The widest width up to `start` whose final run is predicted to fit `minutes` on this machine
/// (`nas_retrain::timed_width`, 3 × 15 timed steps per width tried); under
/// `retrain.fill_budget` it says how many epochs that timing expects (the run re-plans from its
/// own). A run that resumes into `out` reuses the width and epochs it started with, so the
/// saved state still matches.
fn timed_width(
    arch: &CnnArch,
    input: nas_child::InputShape,
    config: &SearchConfig,
    start: f64,
    minutes: f64,
    images: usize,
    out: &std::path::Path,
) -> Result<Budgeted> {
    let r = &config.retrain;
    let kept = out.join(TIMED_WIDTH);
    if out.join("final-run.state").exists()
        && let Ok(text) = std::fs::read_to_string(&kept)
        && let Ok(w) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(width) = w["width"].as_f64()
    {
        // Bundles from before `fill_budget` kept no epochs: they ran `retrain.epochs`.
        let epochs = w["epochs"].as_u64().map_or(r.epochs, |e| e as usize);
        let least = if r.fill_budget { "at least " } else { "" };
        eprintln!(
            "retrain.max_minutes: filters × {width}, as when this run started, for {least}{epochs} epoch(s) ({})",
            kept.display()
        );
        return Ok(Budgeted { width, epochs });
    }
    let epochs = r.epochs as f64;
    let batch = config.train.batch_size;
    let t = nas_retrain::timed_width(start, minutes * 60.0, |w| {
        nas_retrain::epoch_seconds(&r.widen(arch, w), input, &config.child, batch, images, 15).map(|s| s * epochs)
    })
    .map_err(|e| anyhow!("retrain.max_minutes: timing {arch}: {e}"))?;
    let tried: Vec<String> = t.probes.iter().map(|(w, s)| format!("× {w}: {:.1} min", s / 60.0)).collect();
    // The budget only narrows: a network that fits well inside it at the ceiling stays there.
    let room = if t.width == start && t.predicted_seconds < 0.75 * minutes * 60.0 && !r.fill_budget {
        format!("; × {start} is the ceiling (retrain.width, or retrain.max_flops's width): raise it to use the rest")
    } else {
        String::new()
    };
    eprintln!(
        "retrain.max_minutes = {minutes}: filters × {} predicted {:.1} min for {epochs} epochs{} (timed {}){room}",
        t.width,
        t.predicted_seconds / 60.0,
        if t.fits { "" } else { ", over the budget even at the narrowest width" },
        tried.join(", ")
    );
    if r.fill_budget {
        // What this timing expects; the run itself re-plans from its epochs' times.
        let expected = nas_trainer::planned_epochs(r.epochs, r.epochs, t.predicted_seconds, minutes * 60.0);
        eprintln!(
            "retrain.fill_budget: about {expected} epochs fill the {minutes} minutes by this timing (at least {}); \
             the run re-plans after every epoch from the epochs' own times",
            r.epochs
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let record = serde_json::json!({
        "width": t.width, "epochs": r.epochs, "predicted_seconds": t.predicted_seconds, "probes": t.probes
    });
    std::fs::write(&kept, record.to_string()).with_context(|| format!("writing {}", kept.display()))?;
    Ok(Budgeted { width: t.width, epochs: r.epochs })
}

pub fn train(a: TrainArgs) -> Result<()> {
    let (arch, config, trial) = source(&a)?;
    let out = a.out.clone().unwrap_or_else(|| match trial {
        Some(id) => PathBuf::from(format!("models/trial-{id}")),
        None => PathBuf::from("models/arch"),
    });
    let (splits, what) = config.dataset.load().context("dataset")?;
    let r = &config.retrain;
    let cells = r.cells().len();
    let grid_epochs = r.grid_epochs.unwrap_or(config.train.epochs);
    let t = &splits.train;
    let input = nas_child::InputShape { channels: t.channels, height: t.height, width: t.width, classes: t.classes };
    let threads = a
        .cfg
        .threads_per_worker
        .filter(|&t| t > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("the training thread pool")?;
    let flops_width = nas_retrain::fitted_width(&arch, input, &config.child, r);
    let mut capped = match r.max_flops {
        Some(cap) if flops_width < r.width => format!(", not {}: retrain.max_flops = {cap}", r.width),
        _ => String::new(),
    };
    let images = r.train_subset.unwrap_or(t.len()).min(t.len());
    let budgeted = match r.max_minutes {
        // `--width` pins the width: no timing.
        Some(minutes) if a.width.is_none() => {
            let timed = pool.install(|| timed_width(&arch, input, &config, flops_width, minutes, images, &out))?;
            if timed.width < flops_width {
                capped = format!(", not {flops_width}: retrain.max_minutes = {minutes}");
            }
            timed
        }
        _ => Budgeted { width: flops_width, epochs: r.epochs },
    };
    let width = budgeted.width;
    // The retrain trains at exactly this width, for exactly these epochs.
    let r = &RetrainConfig { width, epochs: budgeted.epochs, max_flops: None, ..r.clone() };
    let trained = r.widen(&arch, width);
    if trained == arch && capped.is_empty() {
        eprintln!("retraining {arch} on {what}");
    } else {
        eprintln!("retraining {arch} with filters × {width}{capped} ({trained}) on {what}");
    }
    let augment = nas_retrain::default_augment(r, &config.dataset);
    // One cell leaves nothing to choose: the retrain skips the grid.
    let (cells, grid_epochs) = if cells == 1 { (0, 0) } else { (cells, grid_epochs) };
    let grid = match cells {
        0 => "no grid (one setting)".to_string(),
        n => format!("grid: {n} cell(s) × {grid_epochs} epoch(s) scored on the validation split"),
    };
    let length = match r.fill_seconds() {
        Some(s) => format!("at least {} epoch(s), as many as fill {:.0} minutes,", r.epochs, s / 60.0),
        None => format!("{} epoch(s)", r.epochs),
    };
    eprintln!(
        "{grid}; then {length} on \
         {} training + validation images; {:?} schedule, augmentation: {}{}; test accuracy once at the end",
        r.train_subset.map_or("all".to_string(), |n| n.to_string()),
        r.schedule,
        augment.describe(),
        if r.label_smoothing > 0.0 { format!(", label smoothing {}", r.label_smoothing) } else { String::new() }
    );
    let total = (cells * grid_epochs + r.epochs) as u64;
    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} epochs (eta {eta}) {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    // The final run's state after every epoch: a killed `nas train` continues from it.
    let saved = out.join("final-run.state");
    let inputs = RetrainInputs {
        splits: &splits,
        dataset: what.clone(),
        augment,
        train: &config.train,
        child: &config.child,
        retrain: r,
        seed: config.seed,
        saved: Some(&saved),
    };
    let cell_list = r.cells();
    let started = Instant::now();
    // The whole run inside a pool of its own: the step's serial parts then run on a pool thread
    // and its parallel kernels split with work stealing, where from outside a pool every one of
    // them (≈ 100 a step) was a job injected into the global pool and a sleep until it ended.
    let result = pool.install(|| {
        retrain(&arch, &inputs, &nas_retrain::training_device(), |phase, m| {
            let label = match phase {
                Phase::Grid { index, of } => format!("grid {}/{of}: {}", index + 1, cell_list[index]),
                Phase::Final => "final run".to_string(),
                Phase::Resume { epochs } => {
                    bar.suspend(|| eprintln!("the final run continues after epoch {epochs} ({})", saved.display()));
                    bar.set_position((cells * grid_epochs) as u64 + epochs);
                    return;
                }
            };
            match m {
                None => {
                    // A cell that diverged early skipped its remaining epochs.
                    let done = match phase {
                        Phase::Grid { index, .. } => index * grid_epochs,
                        // A resumed run's position was set when it was announced.
                        _ => (bar.position() as usize).max(cells * grid_epochs),
                    };
                    bar.set_position(done as u64);
                    bar.set_message(label);
                }
                Some(m) => {
                    bar.inc(1);
                    let acc = m.val_accuracy.map_or(String::new(), |v| format!(", acc {v:.4}"));
                    bar.set_message(format!("{label} — epoch {} loss {:.4}{acc}", m.epoch + 1, m.train_loss));
                }
            }
        })
    });
    bar.finish_and_clear();
    let done = result?;
    if let Some(why) = &done.saved_refused {
        eprintln!("the final run started over: {why}");
    }
    if done.grid.is_empty() {
        println!("no grid (one setting): {}", done.chosen);
    } else {
        println!("{:>4}  {:<46} {:>8}", "cell", "settings", "val acc");
    }
    for (i, g) in done.grid.iter().enumerate() {
        let mark = if g.cell == done.chosen { " ← chosen" } else { "" };
        let score = g
            .val_accuracy
            .map_or_else(|| format!("failed: {}", g.failure.clone().unwrap_or_default()), |v| format!("{v:.4}"));
        println!("{:>4}  {:<46} {:>8}{mark}", i + 1, g.cell.to_string(), score);
    }
    let (nas_version, commit) = Manifest::build_info();
    let model = done.trained.model.clone();
    let manifest = Manifest {
        format: nas_retrain::FORMAT,
        nas_version,
        commit,
        architecture: Architecture::Cnn(done.arch.clone()),
        input: model.plan().input,
        child: done.child.clone(),
        dataset: done.data.description.clone(),
        dataset_spec: Some(config.dataset.clone()),
        class_names: config.dataset.class_names(),
        normalization: done.data.norm.clone(),
        seed: config.seed,
        train: done.train.clone(),
        params: done.trained.outcome.params,
        flops: done.trained.outcome.flops,
        metrics: ModelMetrics {
            test_accuracy: done.test_accuracy,
            test_accuracy_mirror: done.test_accuracy_mirror,
            chosen: Some(done.chosen),
            grid: done.grid.clone(),
            epochs: done.trained.outcome.epochs.clone(),
            seconds: started.elapsed().as_secs_f64(),
        },
        source_trial: trial,
    };
    save_bundle(&out, &manifest, &model)?;
    println!(
        "final run: {} epochs with {}; test accuracy {:.4}{} ({} test images) in {:.0} s",
        done.train.epochs,
        done.chosen,
        done.test_accuracy,
        done.test_accuracy_mirror.map_or(String::new(), |m| format!(", {m:.4} with flip test-time augmentation")),
        splits.test.len(),
        started.elapsed().as_secs_f64()
    );
    println!("model written to {} (manifest.json, arch.json, model.bpk, model.safetensors, model.onnx)", out.display());
    Ok(())
}

#[derive(Args)]
pub struct PredictArgs {
    /// Model bundle directory (written by `nas train`).
    pub model: PathBuf,
    /// PNG images, or IDX image files (gzipped or not; every image in them).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Also print every class's logit (tab-separated, after the probability).
    #[arg(long)]
    pub logits: bool,
}

pub fn predict(a: PredictArgs) -> Result<()> {
    let model = load_bundle(&a.model, &nas_retrain::inference_device())?;
    let inputs = read_inputs(&a.images, &model.manifest.input)?;
    for (name, logits) in inputs.names.iter().zip(model.logits(&inputs.set)) {
        let p = predict_class(&logits);
        let mut line = format!("{name}\t{}\t{}\t{:.4}", p.class, model.class_name(p.class), p.probability);
        if a.logits {
            for v in &logits {
                line += &format!("\t{v:.6}");
            }
        }
        println!("{line}");
    }
    Ok(())
}

#[derive(Args)]
pub struct ExportOnnxArgs {
    /// Model bundle directory (written by `nas train`).
    pub model: PathBuf,
    /// Where to write the ONNX file (default: BUNDLE/model.onnx).
    pub out: Option<PathBuf>,
}

pub fn export_onnx(a: ExportOnnxArgs) -> Result<()> {
    let out = a.out.unwrap_or_else(|| a.model.join(nas_retrain::onnx::ONNX));
    let i = nas_retrain::export_onnx(&a.model, &out)?.input;
    println!(
        "{} written: input \"{}\" float32 [batch, {}, {}, {}] pixels in [0, 1] (normalisation inside), output \"{}\" \
         logits [batch, {}], opset {}",
        out.display(),
        nas_retrain::onnx::INPUT,
        i.channels,
        i.height,
        i.width,
        nas_retrain::onnx::OUTPUT,
        i.classes,
        nas_retrain::onnx::OPSET
    );
    Ok(())
}
