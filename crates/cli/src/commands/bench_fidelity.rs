//! `nas bench fidelity`: the search's reward against a long training run, architecture by
//! architecture, and how well the two rankings agree (`nas_runner::fidelity`).

use anyhow::{Context, Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use nas_runner::{FidelityOptions, FidelityStep, fidelity};

use super::search::ConfigArgs;

pub fn fidelity_bench(
    cfg: &ConfigArgs,
    archs: usize,
    high_epochs: Option<usize>,
    high_subset: Option<usize>,
    top_k: usize,
) -> Result<()> {
    let config = cfg.resolve()?;
    let (splits, what) = config.dataset.load().context("dataset")?;
    let opts = FidelityOptions { archs, seed: config.seed, high_epochs, high_subset, top_k };
    let bar = ProgressBar::new(2 * archs as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs (eta {eta}) {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    let report = fidelity(&config, &splits, &what, &opts, |step, arch| {
        let (pos, which, i) = match step {
            FidelityStep::Low { index } => (2 * index, "search fidelity", index),
            FidelityStep::High { index } => (2 * index + 1, "high fidelity", index),
        };
        bar.set_position(pos as u64);
        bar.set_message(format!("arch {}/{archs} at {which}: {arch}", i + 1));
    })
    .map_err(|e| anyhow!(e))?;
    bar.finish_and_clear();
    println!("search fidelity: {}", report.low_setting);
    println!("high fidelity:   {}", report.high_setting);
    let names: Vec<String> = report.scorings.iter().map(|s| s.name()).collect();
    print!("{:>3} {:>8}", "#", "MFLOPs");
    for n in &names {
        print!(" {n:>11}");
    }
    println!(" {:>9} {:>7} {:>7}  arch", "high", "low s", "high s");
    for (i, a) in report.archs.iter().enumerate() {
        print!("{:>3} {:>8.1}", i + 1, a.flops as f64 / 1e6);
        for v in &a.low {
            print!(" {v:>11.4}");
        }
        println!(" {:>9.4} {:>7.1} {:>7.1}  {}", a.high, a.low_seconds, a.high_seconds, a.arch);
    }
    println!();
    println!("{:>12} {:>9} {:>9} {:>9}", "scoring", "Spearman", "Kendall", format!("top-{}", report.top_k));
    let fmt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
    for (s, n) in names.iter().enumerate() {
        let g = report.agreement(s);
        println!("{n:>12} {:>9} {:>9} {:>9.2}", fmt(g.spearman), fmt(g.kendall), g.top_k);
    }
    let n = report.archs.len().max(1) as f64;
    let low: f64 = report.archs.iter().map(|a| a.low_seconds).sum::<f64>() / n;
    let high: f64 = report.archs.iter().map(|a| a.high_seconds).sum::<f64>() / n;
    println!(
        "time per architecture: {low:.1} s at the search's fidelity (all three scorings), {high:.1} s at high \
         fidelity ({:.1}×)",
        high / low.max(1e-9)
    );
    Ok(())
}
