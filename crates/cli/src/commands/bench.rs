//! `nas bench controller`: what the controller costs per child (sampling plus its share of a
//! REINFORCE update), against the 5 ms per child budget, measured in the same run.

use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use nas_space::{CnnSpace, SearchSpace, SpaceKind};
use nas_strategy::{ControllerConfig, Feedback, Menu, Reinforce, Sample, Strategy};

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Subcommand)]
pub enum BenchWhat {
    /// Child training throughput on three fixed paper-space CNNs (28×28×1 input, 10 classes),
    /// beside the same children in PyTorch (installed with pip when missing), at 1 and every
    /// thread, with GFLOP/s against the sgemm peak measured at that thread count. Times every
    /// CPU path built in: burn's `flex` with our convolutions (the default), `flex` with burn's
    /// own convolutions, and libtorch when built with `--features nas-cli/tch`.
    Child {
        /// Timed training steps per measurement (after two warm-up steps).
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// Batch sizes.
        #[arg(long, value_delimiter = ',', default_values_t = vec![64usize, 256])]
        batch: Vec<usize>,
        /// Thread counts, each measured for every backend and for PyTorch (default: 1 and every
        /// core).
        #[arg(long, value_delimiter = ',')]
        threads: Vec<usize>,
        /// Only these children (chain3, skip6, stride4).
        #[arg(long, value_delimiter = ',')]
        arch: Vec<String>,
        /// Only these backends (flex, flex/burn-ops, tch).
        #[arg(long, value_delimiter = ',')]
        backend: Vec<String>,
        /// Skip the PyTorch reference.
        #[arg(long)]
        no_pytorch: bool,
    },
    /// Language-model training throughput (tokens/s): a base-8 tree cell and our fused LSTM
    /// beside burn's nn::Lstm and a PyTorch LSTM of the same size, one layer, batch × bptt
    /// random tokens over a PTB-sized vocabulary.
    Cell {
        /// Hidden sizes (embedding = hidden).
        #[arg(long, value_delimiter = ',', default_values_t = vec![64usize, 200])]
        hidden: Vec<usize>,
        #[arg(long, default_value_t = 10_000)]
        vocab: usize,
        #[arg(long, default_value_t = 20)]
        batch: usize,
        #[arg(long, default_value_t = 35)]
        bptt: usize,
        /// Timed training steps per measurement (after two warm-up steps).
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Threads for PyTorch.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Skip the PyTorch reference.
        #[arg(long)]
        no_pytorch: bool,
    },
    /// Trials per hour of a real search (preset tiny: CNN children on the shipped subset), in
    /// one run: one worker on one thread, one worker on every core, one worker per core with one
    /// controller replica (batches synchronous), and one worker per core with enough replicas
    /// that no worker waits for a batch's slowest child. Also the loop's own time (drawing,
    /// updates, store writes) as a share of the children's training time, and worker time idle.
    /// Children are drawn by random search, so every layout trains the same children.
    Workers {
        /// Children per run.
        #[arg(long, default_value_t = 32)]
        samples: u64,
        /// Children per controller update.
        #[arg(long, default_value_t = 4)]
        batch: usize,
    },
    /// Trials per second a store records and completes (SQLite, and PostgreSQL with --pg).
    Store {
        /// Trials per configuration.
        #[arg(long, default_value_t = 2000)]
        trials: u64,
        /// A PostgreSQL database to include (`postgres://user@host/db`; tables are created).
        #[arg(long, value_name = "URL")]
        pg: Option<String>,
    },
    /// Does the search's reward rank architectures as longer training does? Draws --archs
    /// architectures from the configuration's CNN space (fixed seed), trains each at the
    /// search's fidelity ([train]: scored on the validation split three ways — running batch-norm
    /// statistics, recalibrated, batch statistics) and at a high fidelity (--high-epochs on
    /// --high-subset images, cosine, the retrain's augmentation; test accuracy), and prints
    /// Spearman, Kendall τ-b and top-k overlap between the rankings, with the time each costs.
    Fidelity {
        #[command(flatten)]
        cfg: Box<super::search::ConfigArgs>,
        /// Architectures to draw and train twice.
        #[arg(long, default_value_t = 16)]
        archs: usize,
        /// Epochs of the high-fidelity run (default: retrain.epochs).
        #[arg(long, value_name = "N")]
        high_epochs: Option<usize>,
        /// Training images of the high-fidelity run (default: retrain.train_subset, else all).
        #[arg(long, value_name = "N")]
        high_subset: Option<usize>,
        /// k of the top-k overlap.
        #[arg(long, default_value_t = 4)]
        top_k: usize,
    },
    /// Do the one-shot evaluator's shared weights rank children as stand-alone training does?
    /// Trains a supernet of the configuration's CNN space with --supernet-children uniformly
    /// drawn children (one shared-weight step each, as `--evaluator oneshot` with random
    /// search), then scores --archs other architectures under it (whole validation split with
    /// batch statistics; one 256-image reward minibatch; batch norm recalibrated) and trains each
    /// stand-alone (--epochs on --subset images, cosine from 0.1, batch norm recalibrated), and
    /// prints Kendall τ-b, Spearman and top-k overlap. With `[oneshot] reward_flops` both score
    /// each child at its equal-cost width. E.g. `nas bench oneshot --preset fashion-oneshot`.
    Oneshot {
        #[command(flatten)]
        cfg: Box<super::search::ConfigArgs>,
        /// Children that train the supernet before it ranks.
        #[arg(long, default_value_t = 3000)]
        supernet_children: u64,
        /// Architectures ranked both ways.
        #[arg(long, default_value_t = 16)]
        archs: usize,
        /// Epochs of each stand-alone run.
        #[arg(long, default_value_t = 2)]
        epochs: usize,
        /// Training images of each stand-alone run (0: all).
        #[arg(long, default_value_t = 10_000)]
        subset: usize,
        /// k of the top-k overlap.
        #[arg(long, default_value_t = 4)]
        top_k: usize,
    },
    /// Controller sample + update time per child, paper-sized controller.
    Controller {
        /// Batches to time per configuration.
        #[arg(long, default_value_t = 50)]
        batches: usize,
        /// Children per update (the paper's m).
        #[arg(long, default_value_t = 8)]
        batch: usize,
    },
}

const BUDGET_MS: f64 = 5.0;

pub fn run(a: BenchArgs) -> Result<()> {
    match a.what {
        BenchWhat::Controller { batches, batch } => controller(batches, batch),
        BenchWhat::Child { steps, batch, threads, arch, backend, no_pytorch } => {
            child(steps, &batch, &threads, &arch, &backend, no_pytorch)
        }
        BenchWhat::Workers { samples, batch } => workers(samples, batch),
        BenchWhat::Store { trials, pg } => super::bench_store::store(trials, pg),
        BenchWhat::Fidelity { cfg, archs, high_epochs, high_subset, top_k } => {
            super::bench_fidelity::fidelity_bench(&cfg, archs, high_epochs, high_subset, top_k)
        }
        BenchWhat::Oneshot { cfg, supernet_children, archs, epochs, subset, top_k } => {
            let subset = (subset > 0).then_some(subset);
            let args = super::bench_oneshot::OneShotBenchArgs { supernet_children, archs, epochs, subset, top_k };
            super::bench_oneshot::oneshot_bench(&cfg, args)
        }
        BenchWhat::Cell { hidden, vocab, batch, bptt, steps, threads, no_pytorch } => {
            cell(&hidden, vocab, batch, bptt, steps, threads, no_pytorch)
        }
    }
}

/// The three benchmark children: a plain chain, a 6-layer net with skips, a strided/pooled one.
pub const BENCH_ARCHS: [(&str, &str); 3] = [
    ("chain3", "3x3-36;3x3-48<0;3x3-64<1"),
    ("skip6", "5x5-24;3x3-36<0;1x1-48<0,1;7x7-24<1,2;3x3-64<2,3;5x3-36<3,4"),
    ("stride4", "3x3s2x2-48;5x5-64<0;3x3-64-mp<0,1;3x3-64<2"),
];

const PYTORCH_SCRIPT: &str = include_str!("../../../../benches/child_pytorch.py");
const PYTORCH_LM_SCRIPT: &str = include_str!("../../../../benches/lm_pytorch.py");
/// The PyTorch child builder `child_pytorch.py` imports (the user-facing trainer's one copy).
const PYTORCH_TRAINER: (&str, &str) = ("train.py", include_str!("../../../../examples/pytorch-trainer/train.py"));

/// Run an embedded PyTorch reference script with `args` (the `modules` it imports written beside
/// it) and parse its JSON output lines. A missing python3 or a failing script is reported on
/// stderr and gives no lines: the benchmark then prints its own numbers without the reference.
fn pytorch_reference(
    name: &str,
    script: &str,
    modules: &[(&str, &str)],
    args: &[String],
) -> Result<Vec<serde_json::Value>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(name);
    std::fs::write(&path, script)?;
    for (file, text) in modules {
        std::fs::write(dir.path().join(file), text)?;
    }
    match std::process::Command::new("python3").arg(&path).args(args).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).map_err(|e| anyhow::anyhow!("{name} printed {l:?}: {e}")))
            .collect(),
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr);
            eprintln!("PyTorch reference failed: {}", why.lines().last().unwrap_or(""));
            Ok(vec![])
        }
        Err(e) => {
            eprintln!("PyTorch reference not run (python3: {e})");
            Ok(vec![])
        }
    }
}

fn workers(samples: u64, batch: usize) -> Result<()> {
    use nas_runner::{Control, Search, SearchConfig};
    use nas_store::{SqliteStore, TrialStore};
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut base = SearchConfig::from_layers(Some(("tiny", nas_runner::preset("tiny").expect("tiny"))), None)?;
    base.samples = samples;
    base.batch = batch;
    // Random draws do not depend on when updates happen: every layout trains the same children.
    base.strategy = nas_strategy::StrategyKind::Random;
    println!("preset tiny, {samples} CNN children (random search) in batches of {batch}, {cores} cores");
    println!("{:>34} {:>8} {:>12} {:>9} {:>9} {:>9}", "layout", "wall s", "trials/hour", "vs 1×1", "loop", "idle");
    let replicas = cores.div_ceil(batch) + 1;
    let mut first = None;
    for (w, t, k) in [(1, 1, 1), (1, cores, 1), (cores, 1, 1), (cores, 1, replicas)] {
        let store = SqliteStore::in_memory()?;
        let cfg = SearchConfig { workers: w, threads_per_worker: t, replicas: k, ..base.clone() };
        let started = Instant::now();
        let mut search = Search::start(&store, cfg, Some("bench".into()))?;
        search.run(|_| Control::Continue)?;
        let wall = started.elapsed().as_secs_f64();
        let id = search.experiment().id;
        let busy: f64 = store.trials(id)?.iter().filter_map(|t| t.eval_seconds).sum();
        // The loop's own work (sampling, gradients, updates, store writes) against the time
        // children trained; and worker-seconds not spent training (the loop's work, workers
        // waiting at the end of a synchronous batch or of the run, start-up).
        let loop_share = search.loop_seconds() / busy;
        let idle = 1.0 - busy / (wall * w as f64);
        let per_hour = samples as f64 * 3600.0 / wall;
        let ratio = first.map_or(1.0, |f: f64| per_hour / f);
        first.get_or_insert(per_hour);
        println!(
            "{:>34} {wall:>8.1} {per_hour:>12.0} {:>8.2}× {:>8.2}% {:>8.1}%",
            format!("{w} worker(s) × {t} thread(s), K={k}"),
            ratio,
            loop_share * 100.0,
            idle * 100.0
        );
    }
    Ok(())
}

fn cell(
    hidden: &[usize],
    vocab: usize,
    batch: usize,
    bptt: usize,
    steps: usize,
    threads: usize,
    no_pytorch: bool,
) -> Result<()> {
    use nas_child::kernels::Kernels;
    use nas_child::rnn::CellKind;
    use nas_trainer::{LmBenchModel, lm_training_rate};
    let mut torch: std::collections::HashMap<usize, f64> = Default::default();
    if !no_pytorch {
        let mut args: Vec<String> =
            ["--vocab", &vocab.to_string(), "--batch", &batch.to_string()].iter().map(|a| a.to_string()).collect();
        args.extend(["--bptt".into(), bptt.to_string(), "--steps".into(), steps.to_string()]);
        args.extend(["--threads".into(), threads.to_string()]);
        for h in hidden {
            args.extend(["--hidden".into(), h.to_string()]);
        }
        for v in pytorch_reference("lm_pytorch.py", PYTORCH_LM_SCRIPT, &[], &args)? {
            torch.insert(
                v["hidden"].as_u64().unwrap_or(0) as usize,
                v["tokens_per_second"].as_f64().unwrap_or(f64::NAN),
            );
            if torch.len() == 1 {
                println!("PyTorch {} ({threads} threads)", v["torch"].as_str().unwrap_or("?"));
            }
        }
    }
    let tree: nas_space::RnnCell = nas_trainer::BENCH_CELL.parse()?;
    println!("language-model training, vocabulary {vocab}, batch {batch} × bptt {bptt}, one layer; tokens/s");
    println!(
        "{:>7} {:>12} {:>12} {:>15} {:>12} {:>12}   {:>10} {:>10}",
        "hidden", "tree (ours)", "lstm (ours)", "tree burn-ops", "burn Lstm", "PyTorch", "tree/PT", "lstm/PT"
    );
    for &h in hidden {
        let rate = |kind: CellKind, kernels| {
            lm_training_rate(&LmBenchModel::Ours(kind, kernels), vocab, h, batch, bptt, steps)
        };
        let t = rate(CellKind::Tree(tree.clone()), Kernels::Fast);
        let l = rate(CellKind::Lstm, Kernels::Fast);
        let tb = rate(CellKind::Tree(tree.clone()), Kernels::Burn);
        let b = lm_training_rate(&LmBenchModel::BurnLstm, vocab, h, batch, bptt, steps);
        let p = torch.get(&h).copied();
        let ratio = |x: f64| p.map_or("–".to_string(), |p| format!("{:.2}×", x / p));
        println!(
            "{h:>7} {t:>12.0} {l:>12.0} {tb:>15.0} {b:>12.0} {:>12}   {:>10} {:>10}",
            p.map_or("–".to_string(), |p| format!("{p:.0}")),
            ratio(t),
            ratio(l)
        );
    }
    println!("tree cell: {}", nas_trainer::BENCH_CELL);
    Ok(())
}

fn child(
    steps: usize,
    batches: &[usize],
    threads: &[usize],
    only: &[String],
    backends: &[String],
    no_pytorch: bool,
) -> Result<()> {
    use nas_child::InputShape;
    let input = InputShape { channels: 1, height: 28, width: 28, classes: 10 };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = if threads.is_empty() { vec![1, cores] } else { threads.to_vec() };
    threads.dedup();
    for name in only {
        if !BENCH_ARCHS.iter().any(|(n, _)| n == name) {
            anyhow::bail!("--arch {name}: not a benchmark child (chain3, skip6, stride4)");
        }
    }
    let paths: Vec<nas_trainer::CpuPath> = nas_trainer::cpu_backends()
        .into_iter()
        .filter(|p| backends.is_empty() || backends.iter().any(|b| b == p.name))
        .collect();
    if paths.is_empty() {
        let built: Vec<&str> = nas_trainer::cpu_backends().iter().map(|p| p.name).collect();
        anyhow::bail!("--backend {}: none of them is built in (built: {})", backends.join(","), built.join(", "));
    }
    let archs: Vec<(&str, &str)> =
        BENCH_ARCHS.into_iter().filter(|(n, _)| only.is_empty() || only.iter().any(|o| o == n)).collect();
    println!(
        "{:<8} {:>6} {:>7} {:>15} {:>11} {:>12} {:>6} {:>8} {:>7}",
        "child", "batch", "threads", "backend", "ours img/s", "torch img/s", "ratio", "GFLOP/s", "% peak"
    );
    for &t in &threads {
        // PyTorch first, so both run on a machine in the same state.
        let mut torch: std::collections::HashMap<(String, usize), f64> = Default::default();
        let mut peak_torch = None;
        if !no_pytorch {
            let mut args = vec!["--steps".to_string(), steps.to_string(), "--threads".into(), t.to_string()];
            for (_, a) in &archs {
                args.extend(["--arch".into(), a.to_string()]);
            }
            for b in batches {
                args.extend(["--batch".into(), b.to_string()]);
            }
            for v in pytorch_reference("child_pytorch.py", PYTORCH_SCRIPT, &[PYTORCH_TRAINER], &args)? {
                if let Some(p) = v["sgemm_gflops"].as_f64() {
                    peak_torch = Some(p);
                    println!("PyTorch {}, {t} thread(s)", v["torch"].as_str().unwrap_or("?"));
                } else {
                    let key = (v["arch"].as_str().unwrap_or("").to_string(), v["batch"].as_u64().unwrap_or(0) as usize);
                    torch.insert(key, v["images_per_second"].as_f64().unwrap_or(f64::NAN));
                }
            }
        }
        let peak_ours = nas_trainer::with_threads(t, || nas_trainer::sgemm_gflops(1024, 5));
        let peak = peak_torch.unwrap_or(peak_ours).max(peak_ours);
        println!(
            "sgemm 1024³, {t} thread(s): burn {peak_ours:.1} GFLOP/s{}; peak used below: {peak:.1}",
            peak_torch.map_or(String::new(), |p| format!(", PyTorch {p:.1} GFLOP/s"))
        );
        for (name, arch) in &archs {
            let parsed: nas_space::CnnArch = arch.parse()?;
            for &b in batches {
                let torch_rate = torch.get(&(arch.to_string(), b)).copied();
                for path in &paths {
                    // libtorch picks its own thread count.
                    let r =
                        nas_trainer::with_threads(t, || nas_trainer::training_rate(&parsed, input, b, steps, path))?;
                    println!(
                        "{name:<8} {b:>6} {t:>7} {:>15} {:>11.1} {:>12} {:>6} {:>8.1} {:>6.1}%",
                        path.name,
                        r.images_per_second,
                        torch_rate.map_or("-".into(), |p| format!("{p:.1}")),
                        torch_rate.map_or("-".into(), |p| format!("{:.2}", r.images_per_second / p)),
                        r.gflops,
                        100.0 * r.gflops / peak
                    );
                }
            }
        }
    }
    Ok(())
}

fn controller(batches: usize, batch: usize) -> Result<()> {
    println!("controller: {} layers x {} units, batch m = {batch}, {batches} batches each", 2, 35);
    println!(
        "{:<22} {:>8} {:>12} {:>12} {:>12} {:>12}",
        "space", "update", "sample ms", "update ms", "total ms", "vs 5 ms"
    );
    let cases: Vec<(String, SearchSpace, usize)> = vec![
        ("nb201".into(), SearchSpace::default_for(SpaceKind::Nb201), 0),
        ("cnn, 6 layers".into(), SearchSpace::Cnn(CnnSpace::default()), 6),
        ("cnn, 12 layers".into(), SearchSpace::Cnn(CnnSpace::default()), 12),
        ("cnn, 20 layers".into(), SearchSpace::Cnn(CnnSpace::default()), 20),
        (
            "cnn+strides, 20 layers".into(),
            SearchSpace::Cnn(CnnSpace { strides: vec![1, 2, 3], ..CnnSpace::default() }),
            20,
        ),
    ];
    let rules = [ControllerConfig::paper(), ControllerConfig::default()];
    for ((name, space, depth), config) in cases.iter().flat_map(|c| rules.iter().map(move |r| (c, r))) {
        let mut rl = Reinforce::new(config.clone(), &space.token_types(), 0)?;
        let d = space.decisions(*depth);
        let menu = Menu { space, depth: *depth, min_depth: *depth };
        let (mut t_sample, mut t_update) = (0.0, 0.0);
        for b in 0..batches {
            let t0 = Instant::now();
            let samples: Vec<Sample> = (0..batch).map(|_| rl.sample(&menu)).collect::<Result<_, _>>()?;
            let t1 = Instant::now();
            let fb: Vec<Feedback> = samples
                .iter()
                .enumerate()
                .map(|(i, s)| Feedback {
                    seq: (b * batch + i) as u64,
                    decisions: &d,
                    actions: &s.actions,
                    reward: ((b * batch + i) % 7) as f64 / 7.0,
                })
                .collect();
            rl.update(&fb)?;
            let t2 = Instant::now();
            t_sample += (t1 - t0).as_secs_f64();
            t_update += (t2 - t1).as_secs_f64();
        }
        let n = (batches * batch) as f64;
        let (s, u) = (t_sample / n * 1e3, t_update / n * 1e3);
        let rule = config.update.name();
        println!("{name:<22} {rule:>8} {s:>12.4} {u:>12.4} {:>12.4} {:>11.1}%", s + u, (s + u) / BUDGET_MS * 100.0);
    }
    Ok(())
}
