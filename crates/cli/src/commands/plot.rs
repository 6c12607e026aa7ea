//! `nas plot`: one experiment's reward per sample, the controller's moving baseline and the
//! best reward so far, as PNG and SVG (and the CSV behind them).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use nas_plot::{Chart, Figure, Series, SeriesStyle, write_csv};
use nas_store::{TrialStatus, TrialStore};

use super::inspect::{StoreArg, pick_experiment};

#[derive(Args)]
pub struct PlotArgs {
    /// Experiment name (default: the latest experiment).
    pub experiment: Option<String>,
    #[command(flatten)]
    pub store: StoreArg,
    /// Output prefix: writes PREFIX.png, PREFIX.svg and PREFIX.csv (default: the experiment's name).
    #[arg(long, short, value_name = "PREFIX")]
    pub out: Option<PathBuf>,
}

pub fn run(a: PlotArgs) -> Result<()> {
    let (store, _) = a.store.open()?;
    let Some(exp) = pick_experiment(&store, a.experiment.as_deref())? else {
        bail!("nas plot draws one experiment; name it (not `all`)");
    };
    let trials = store.trials(exp.id)?;
    let done: Vec<_> =
        trials.iter().filter(|t| matches!(t.status, TrialStatus::Completed | TrialStatus::Failed)).collect();
    if done.is_empty() {
        bail!("experiment {:?} has no finished trial yet", exp.name);
    }
    let rewards: Vec<(f64, f64)> = done.iter().map(|t| (t.seq as f64, t.reward.unwrap_or(0.0))).collect();
    let mut best = f64::NEG_INFINITY;
    let best_so_far: Vec<(f64, f64)> = rewards
        .iter()
        .map(|&(x, r)| {
            best = best.max(r);
            (x, best)
        })
        .collect();
    let baseline: Vec<(f64, f64)> =
        store.updates(exp.id)?.iter().filter_map(|u| u.baseline.map(|b| (u.samples as f64, b))).collect();
    let mut series = vec![
        Series { name: "reward".into(), style: SeriesStyle::Points, points: rewards.clone() },
        Series { name: "best so far".into(), style: SeriesStyle::Line, points: best_so_far.clone() },
    ];
    if !baseline.is_empty() {
        series.push(Series { name: "moving baseline".into(), style: SeriesStyle::Line, points: baseline.clone() });
    }
    let chart = Chart {
        title: format!("{} ({}, {})", exp.name, exp.space, exp.strategy),
        x_label: "sample".into(),
        y_label: "reward".into(),
        series,
    };
    let prefix = a.out.unwrap_or_else(|| PathBuf::from(&exp.name));
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", prefix.display()));
    let fig = Figure::single(chart);
    fig.write(&with("png"))?;
    fig.write(&with("svg"))?;
    let mut rows: Vec<Vec<String>> = rewards
        .iter()
        .zip(&best_so_far)
        .map(|((x, r), (_, b))| vec!["reward".into(), x.to_string(), format!("{r:.6}"), format!("{b:.6}")])
        .collect();
    rows.extend(baseline.iter().map(|(x, b)| vec!["baseline".into(), x.to_string(), format!("{b:.6}"), String::new()]));
    write_csv(&with("csv"), &["series", "sample", "value", "best_so_far"], &rows)?;
    println!(
        "wrote {} {} {} ({} samples, {} controller updates)",
        with("png").display(),
        with("svg").display(),
        with("csv").display(),
        rewards.len(),
        baseline.len()
    );
    Ok(())
}
