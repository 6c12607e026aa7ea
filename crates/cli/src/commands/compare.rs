//! `nas compare`: REINFORCE vs random search at equal budgets over several seeds.

use anyhow::{Result, bail};
use clap::Args;
use nas_controller::StrategyKind;
use nas_runner::compare_strategies;

use super::search::ConfigArgs;

#[derive(Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub cfg: ConfigArgs,
    /// Seeds per strategy (0..N).
    #[arg(long, default_value_t = 10)]
    pub seeds: u64,
    /// Budgets (samples) at which to report the best reward found.
    #[arg(long, value_delimiter = ',', default_values_t = vec![100u64, 200, 500])]
    pub at: Vec<u64>,
}

pub fn run(a: CompareArgs) -> Result<()> {
    if a.seeds == 0 || a.at.is_empty() || a.at.contains(&0) {
        bail!("--seeds must be at least 1 and --at a list of positive sample counts");
    }
    let base = a.cfg.resolve()?;
    let seeds: Vec<u64> = (0..a.seeds).collect();
    eprintln!(
        "comparing reinforce and random on the {} space, {} seeds, budgets {:?}",
        base.search_space().name(),
        a.seeds,
        a.at
    );
    let report =
        compare_strategies(&base, &[StrategyKind::Reinforce, StrategyKind::Random], &seeds, &a.at, |s, seed| {
            eprintln!("  {s:?} seed {seed} done");
        })?;
    print!("{}", report.to_table());
    Ok(())
}
