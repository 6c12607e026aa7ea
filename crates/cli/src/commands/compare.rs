//! `nas compare`: REINFORCE vs random search at equal budgets over several seeds, as a table,
//! the paper's Figure 6 (top-k mean reward every N samples) in CSV, PNG and SVG.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use nas_controller::StrategyKind;
use nas_plot::{Chart, Figure, Series, SeriesStyle, write_csv};
use nas_runner::{CompareReport, CurvePoint, compare_strategies, strategy_name};
use nas_store::SqliteStore;

use super::search::ConfigArgs;

#[derive(Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub cfg: ConfigArgs,
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
    let base = a.cfg.resolve()?;
    let budget = a.at.iter().copied().max().unwrap_or(1);
    let every = a.every.unwrap_or((budget / 20).max(1));
    let store = match &a.store {
        Some(p) => SqliteStore::open(p).with_context(|| format!("opening {}", p.display()))?,
        None => SqliteStore::in_memory()?,
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    eprintln!(
        "comparing reinforce and random on the {} space, {} seeds, {budget} samples each",
        base.search_space().name(),
        a.seeds,
    );
    let seeds: Vec<u64> = (0..a.seeds).collect();
    let strategies = [StrategyKind::Reinforce, StrategyKind::Random];
    let report = compare_strategies(&store, &base, &strategies, &seeds, budget, &a.at, |s, seed| {
        eprintln!("  {} seed {seed} done", strategy_name(s));
    })?;
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
                strategy_name(p.strategy),
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
                strategy_name(r.strategy),
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
            let mut names: Vec<_> = curves.iter().map(|p| p.strategy).collect();
            names.dedup();
            Chart {
                title: format!("top-{k} mean reward"),
                x_label: "samples".into(),
                y_label: "reward".into(),
                series: names
                    .into_iter()
                    .map(|s| Series {
                        name: strategy_name(s),
                        style: SeriesStyle::Line,
                        points: curves
                            .iter()
                            .filter(|p| p.strategy == s && p.k == k)
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
