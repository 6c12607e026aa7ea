//! `nas bench controller`: what the controller costs per child (sampling plus its share of a
//! REINFORCE update), against the 5 ms per child budget, measured in the same run.

use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use nas_controller::{ControllerConfig, Feedback, Reinforce, Sample, Strategy};
use nas_space::{CnnSpace, SearchSpace, SpaceKind};

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Subcommand)]
pub enum BenchWhat {
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
    let BenchWhat::Controller { batches, batch } = a.what;
    println!("controller: {} layers x {} units, batch m = {batch}, {batches} batches each", 2, 35);
    println!("{:<22} {:>12} {:>12} {:>12} {:>12}", "space", "sample ms", "update ms", "total ms", "vs 5 ms");
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
    for (name, space, depth) in cases {
        let mut rl = Reinforce::new(ControllerConfig::default(), &space.token_types(), 0)?;
        let d = space.decisions(depth);
        let (mut t_sample, mut t_update) = (0.0, 0.0);
        for b in 0..batches {
            let t0 = Instant::now();
            let samples: Vec<Sample> = (0..batch).map(|_| rl.sample(&d)).collect::<Result<_, _>>()?;
            let t1 = Instant::now();
            let fb: Vec<Feedback> = samples
                .iter()
                .enumerate()
                .map(|(i, s)| Feedback {
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
        println!("{name:<22} {s:>12.4} {u:>12.4} {:>12.4} {:>11.1}%", s + u, (s + u) / BUDGET_MS * 100.0);
    }
    Ok(())
}
