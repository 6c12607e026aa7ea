//! Training tokens/s of one of our language models alone (no PyTorch, no burn reference), for
//! profiling: `cargo run --release -p nas-trainer --example lm_rate -- [tree|lstm] [hidden]
//! [steps] [fast|burn]` (defaults: tree 64 20 fast), vocabulary 10,000, batch 20 × bptt 35.

use nas_child::kernels::Kernels;
use nas_child::rnn::CellKind;
use nas_trainer::{BENCH_CELL, LmBenchModel, lm_training_rate};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let kind = match arg(0, "tree").as_str() {
        "lstm" => CellKind::Lstm,
        _ => CellKind::Tree(BENCH_CELL.parse().expect("the benchmark cell parses")),
    };
    let hidden: usize = arg(1, "64").parse().expect("hidden: a number");
    let steps: usize = arg(2, "20").parse().expect("steps: a number");
    let kernels = if arg(3, "fast") == "burn" { Kernels::Burn } else { Kernels::Fast };
    let rate = lm_training_rate(&LmBenchModel::Ours(kind, kernels), 10_000, hidden, 20, 35, steps);
    println!("{rate:.0} tokens/s");
}
