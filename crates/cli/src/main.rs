//! `nas`: neural architecture search with reinforcement learning (Zoph & Le, 2017).
//!
//! A thin command-line layer over the library crates: it parses flags, opens the store and
//! prints; the work happens in `nas-runner`, `nas-strategy`, `nas-evaluator` and `nas-store`.

mod allocator;
mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The default store, in the current directory.
pub const DEFAULT_STORE: &str = "nas.db";

#[derive(Parser)]
#[command(
    name = "nas",
    version,
    about = "Neural architecture search with reinforcement learning (Zoph & Le, ICLR 2017)",
    long_about = "Neural architecture search with reinforcement learning (Zoph & Le, ICLR 2017).\n\n\
        An LSTM controller samples architectures token by token, each is evaluated, and the controller \
        learns from the rewards with REINFORCE. Every trial and controller checkpoint is kept in a store \
        (SQLite by default), so a search can be inspected while it runs and resumed after a crash.\n\n\
        Start with `nas search` (the embedded default: real child CNNs trained on a Fashion-MNIST subset \
        shipped in the binary), then `nas top` and `nas show TRIAL`.",
    after_help = "Examples:\n  \
        nas search                                   # embedded default (preset tiny), results in ./nas.db\n  \
        nas search --preset fashion-cpu --store runs/fashion.db\n  \
        nas search --preset fashion-oneshot --store runs/os.db   # one-shot: shared weights, thousands of children\n  \
        nas search --space nb201 --evaluator table:nb201_cifar10.csv --samples 500\n  \
        nas search --space rnn --preset ptb-cpu --dataset ptb:DIR   # recurrent cells on Penn Treebank\n  \
        nas train-lm --cell lstm --match-params --preset ptb-cpu --dataset ptb:DIR\n  \
        nas search --resume                          # continue the latest experiment\n  \
        nas top -k 5 --json\n  \
        nas show 17\n  \
        nas export-arch 17 > arch.json\n  \
        nas draw 17 > arch.svg\n  \
        nas dashboard                                # live view on http://127.0.0.1:8080/\n  \
        nas train --trial 17 --preset fashion-cpu    # final grid + retrain → models/trial-17/\n  \
        nas eval models/trial-17; nas predict models/trial-17 shoe.png\n  \
        nas compare --space nb201 --evaluator table:nb201_cifar10.csv --seeds 10   # + Figure 6\n  \
        nas search --store postgres://u:p@db/nas --remote-workers   # coordinator; then on any machine:\n  \
        nas worker --store postgres://u:p@db/nas"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log more (repeat for more detail); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    /// Run (or resume) a search.
    Search(commands::search::SearchArgs),
    /// Train the children a `nas search --remote-workers` coordinator queues in a PostgreSQL
    /// store (run any number, on any machine).
    Worker(commands::worker::WorkerArgs),
    /// The best trials of an experiment.
    Top(commands::inspect::TopArgs),
    /// Everything about one trial.
    Show(commands::inspect::ShowArgs),
    /// Print a trial's architecture as JSON (`nas export-arch 17 > arch.json`).
    ExportArch(commands::inspect::ExportArgs),
    /// List the experiments in a store.
    Experiments(commands::inspect::StoreArg),
    /// Print the configuration a search would use, as TOML (a starting point for --config).
    Config(commands::search::ConfigArgs),
    /// Compare strategies (REINFORCE vs random) at equal budgets over several seeds; writes the
    /// paper's Figure 6 (top-k mean reward every N samples) as CSV, PNG and SVG.
    Compare(commands::compare::CompareArgs),
    /// Plot one experiment: reward per sample, moving baseline, best so far (PNG, SVG, CSV).
    Plot(commands::plot::PlotArgs),
    /// The paper's final step: grid over lr / weight decay / BN ε / decay epoch on the validation
    /// split, retrain the best on train + validation, test accuracy once; writes a model bundle.
    Train(commands::model::TrainArgs),
    /// Test accuracy of model bundles with 95 % intervals (`nas eval models/trial-7`); for a
    /// model trained on flipped images also with flip test-time augmentation. Given several
    /// (`nas eval A B C`), each after the first is compared with it on the same test images:
    /// the difference, its 95 % interval and McNemar's exact p — is B really above A?
    Eval(commands::eval::EvalArgs),
    /// Classify PNG images or IDX image files with a model bundle.
    Predict(commands::model::PredictArgs),
    /// Write a model bundle's network as ONNX (opset 13; input pixels in [0, 1], normalisation
    /// inside the graph, dynamic batch; output logits). `nas train` writes BUNDLE/model.onnx
    /// itself; this is for older bundles or another path.
    ExportOnnx(commands::model::ExportOnnxArgs),
    /// Benchmarks: controller cost, child and LM training speed beside PyTorch, workers, stores.
    Bench(commands::bench::BenchArgs),
    /// Train one language model (a searched cell, a cell string or the LSTM baseline); val. and
    /// test perplexity.
    TrainLm(commands::lm::TrainLmArgs),
    /// Live web dashboard over a store (read-only; http://127.0.0.1:8080/ by default).
    Dashboard(commands::view::DashboardArgs),
    /// Draw a trial's architecture as SVG on stdout (`nas draw 17 > arch.svg`).
    Draw(commands::view::DrawArgs),
}

fn main() -> ExitCode {
    allocator::keep_freed_buffers();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Search(_) | Command::Worker(_) | Command::Dashboard(_)) {
        restore_sigpipe();
    }
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Search(a) => commands::search::run(a),
        Command::Worker(a) => commands::worker::run(a),
        Command::Top(a) => commands::inspect::top(a),
        Command::Show(a) => commands::inspect::show(a),
        Command::ExportArch(a) => commands::inspect::export_arch(a),
        Command::Experiments(a) => commands::inspect::experiments(a),
        Command::Config(a) => commands::search::print_config(a),
        Command::Compare(a) => commands::compare::run(a),
        Command::Plot(a) => commands::plot::run(a),
        Command::Train(a) => commands::model::train(a),
        Command::Eval(a) => commands::eval::eval(a),
        Command::Predict(a) => commands::model::predict(a),
        Command::ExportOnnx(a) => commands::model::export_onnx(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::TrainLm(a) => commands::lm::run(a),
        Command::Dashboard(a) => commands::view::dashboard(a),
        Command::Draw(a) => commands::view::draw(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(ref e) if let Some(Exit(code)) = e.downcast_ref::<Exit>() => ExitCode::from(*code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Commands that print and exit die quietly of SIGPIPE when their reader goes away (`nas top |
/// head`, status 141 as for `cat`), instead of panicking on the write; Rust ignores the signal
/// by default. The long-running commands keep ignoring it: a closed socket is an error they
/// handle, not a reason to die.
fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition to its default before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A command that has said what it had to say and ends with this status (130 after Ctrl-C, as
/// shells expect of an interrupted program).
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// The `--store` flag shared by every command.
pub fn store_path(p: &Option<PathBuf>) -> PathBuf {
    p.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_STORE))
}
