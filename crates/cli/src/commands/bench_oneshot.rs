//! `nas bench oneshot`: the shared weights' ranking of children against stand-alone training,
//! architecture by architecture (`nas_runner::oneshot_ranking`).

use anyhow::{Context, Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use nas_runner::{OneShotRankOptions, OneShotRankStep, oneshot_ranking};

use super::search::ConfigArgs;

/// The benchmark's flags besides the configuration.
pub struct OneShotBenchArgs {
    pub supernet_children: u64,
    pub archs: usize,
    pub epochs: usize,
    pub subset: Option<usize>,
    pub top_k: usize,
}

pub fn oneshot_bench(cfg: &ConfigArgs, a: OneShotBenchArgs) -> Result<()> {
    let config = cfg.resolve()?;
    config.validate()?;
    let (splits, what) = config.dataset.load().context("dataset")?;
    let opts = OneShotRankOptions {
        supernet_children: a.supernet_children,
        archs: a.archs,
        epochs: a.epochs,
        subset: a.subset,
        top_k: a.top_k,
        seed: config.seed,
    };
    let bar = ProgressBar::new(a.supernet_children + 2 * a.archs as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} (eta {eta}) {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    let n = a.archs;
    let report = oneshot_ranking(&config, &splits, &what, &opts, |step, arch| {
        let shown = arch.map_or(String::new(), |a| a.to_string());
        match step {
            OneShotRankStep::Supernet { children } => {
                bar.set_position(children);
                bar.set_message("training the supernet with random children");
            }
            OneShotRankStep::Shared { index } => {
                bar.set_position(a.supernet_children + 2 * index as u64);
                bar.set_message(format!("arch {}/{n} under the shared weights: {shown}", index + 1));
            }
            OneShotRankStep::StandAlone { index } => {
                bar.set_position(a.supernet_children + 2 * index as u64 + 1);
                bar.set_message(format!("arch {}/{n} stand-alone: {shown}", index + 1));
            }
        }
    })
    .map_err(|e| anyhow!(e))?;
    bar.finish_and_clear();
    println!(
        "supernet: {} random children in {:.0} s ({:.1} children/s)",
        report.supernet_children,
        report.supernet_seconds,
        report.supernet_children as f64 / report.supernet_seconds.max(1e-9)
    );
    println!("stand-alone: {}", report.alone_setting);
    print!("{:>3} {:>8}", "#", "MFLOPs");
    for name in &report.scorings {
        print!(" {name:>11}");
    }
    println!(" {:>11} {:>7}  arch", "stand-alone", "alone s");
    for (i, r) in report.archs.iter().enumerate() {
        print!("{:>3} {:>8.1}", i + 1, r.flops as f64 / 1e6);
        for v in &r.shared {
            print!(" {v:>11.4}");
        }
        println!(" {:>11.4} {:>7.1}  {}", r.alone, r.alone_seconds, r.arch);
    }
    println!();
    println!("{:>12} {:>9} {:>9} {:>9}", "shared by", "Kendall", "Spearman", format!("top-{}", report.top_k));
    let fmt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
    for (s, name) in report.scorings.iter().enumerate() {
        let (tau, rho, top) = report.agreement(s);
        println!("{name:>12} {:>9} {:>9} {:>9.2}", fmt(tau), fmt(rho), top);
    }
    Ok(())
}
