//! `nas compare`: strategies at equal budgets over paired seeds, as a table, the paper's
//! Figure 6 (top-k mean reward every N samples, one curve per strategy) in CSV, PNG and SVG.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use nas_plot::{Chart, Figure, Series, SeriesStyle, write_csv};
use nas_runner::{CompareReport, Contender, CurvePoint, compare_strategies};
use nas_store::SqliteStore;

use super::search::ConfigArgs;

#[derive(Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub cfg: ConfigArgs,
    /// Strategies to compare, each run with the same seeds: reinforce, evolution, local, random,
    /// or reinforce:RULE for the controller under another update rule (paper, normalized, ppo,
    /// risk-seeking).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["reinforce".to_string(), "random".to_string()])]
    pub strategies: Vec<String>,
    /// Seeds per strategy (0..N).
    #[arg(long, default_value_t = 10)]
    pub seeds: u64,
    /// Budgets (samples) at which the table reports the best reward found; the largest is the
    /// number of samples each run draws.
    #[arg(long, value_delimiter = ',', default_values_t = vec![100u64, 200, 500])]
    pub at: Vec<u64>,
    /// Figure 6: a point every N samples (default: the budget / 20).
    #[arg(long, value_name = "N")]
    pub every: Option<u64>,
    /// Figure 6: the k of each top-k panel.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 5, 15])]
    pub top: Vec<usize>,
    /// Write compare.csv (the curves), compare-budgets.csv, compare.png and compare.svg here.
    #[arg(long, value_name = "DIR", default_value = "compare")]
    pub out: PathBuf,
    /// Keep every run as an experiment of this SQLite store (viewable with `nas dashboard`);
    /// by default the runs live in memory.
    #[arg(long, value_name = "PATH")]
    pub store: Option<PathBuf>,
}

pub fn run(a: CompareArgs) -> Result<()> {
    if a.seeds == 0 || a.at.is_empty() || a.at.contains(&0) || a.top.is_empty() || a.top.contains(&0) {
        bail!("--seeds must be at least 1, --at a list of positive sample counts and --top a list of positive k");
    }
    let contenders: Vec<Contender> = a
        .strategies
        .iter()
        .map(|s| Contender::parse(s))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("--strategies: {e}"))?;
    let base = a.cfg.resolve()?;
    let budget = a.at.iter().copied().max().unwrap_or(1);
    let every = a.every.unwrap_or((budget / 20).max(1));
    let store = match &a.store {
        Some(p) => SqliteStore::open(p).with_context(|| format!("opening {}", p.display()))?,
        None => SqliteStore::in_memory()?,
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let labels: Vec<String> = contenders.iter().map(Contender::label).collect();
    eprintln!(
        "comparing {} on the {} space, {} seeds, {budget} samples each",
        labels.join(", "),
        base.search_space().name(),
        a.seeds,
    );
    let seeds: Vec<u64> = (0..a.seeds).collect();
    let bar = indicatif::ProgressBar::new(contenders.len() as u64 * a.seeds);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs  {msg}")
            .expect("valid template"),
    );
    let report = compare_strategies(&store, &base, &contenders, &seeds, budget, &a.at, |c, seed| {
        bar.set_message(format!("{} seed {seed} done", c.label()));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    print!("{}", report.to_table());
    let curves = report.curves(every, &a.top);
    write_outputs(&report, &curves, &a.top, &a.out)?;
    println!("wrote {0}/compare.csv, {0}/compare-budgets.csv, {0}/compare.png, {0}/compare.svg", a.out.display());
    Ok(())
}

/// The CSV tables and the figure.
pub fn write_outputs(report: &CompareReport, curves: &[CurvePoint], ks: &[usize], out: &std::path::Path) -> Result<()> {
    let rows: Vec<Vec<String>> = curves
        .iter()
        .map(|p| {
            vec![
                p.strategy.clone(),
                p.k.to_string(),
                p.samples.to_string(),
                format!("{:.6}", p.mean),
                format!("{:.6}", p.std),
                p.seeds.to_string(),
            ]
        })
        .collect();
    write_csv(&out.join("compare.csv"), &["strategy", "k", "samples", "mean", "std", "seeds"], &rows)?;
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| {
            vec![
                r.strategy.clone(),
                r.samples.to_string(),
                format!("{:.6}", r.mean()),
                format!("{:.6}", r.std()),
                format!("{:.6}", r.min()),
                format!("{:.6}", r.max()),
                format!("{:.6}", r.top5_mean),
            ]
        })
        .collect();
    write_csv(
        &out.join("compare-budgets.csv"),
        &["strategy", "samples", "best_mean", "best_std", "best_min", "best_max", "top5_mean"],
        &rows,
    )?;
    let panels = ks
        .iter()
        .map(|&k| {
            let mut names: Vec<String> = curves.iter().map(|p| p.strategy.clone()).collect();
            names.dedup();
            Chart {
                title: format!("top-{k} mean reward"),
                x_label: "samples".into(),
                y_label: "reward".into(),
                series: names
                    .into_iter()
                    .map(|s| Series {
                        name: s.clone(),
                        style: SeriesStyle::Line,
                        points: curves
                            .iter()
                            .filter(|p| p.strategy == *s && p.k == k)
                            .map(|p| (p.samples as f64, p.mean))
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    let fig = Figure { panels, panel_size: (520, 420) };
    fig.write(&out.join("compare.png"))?;
    fig.write(&out.join("compare.svg"))?;
    Ok(())
}
