//! `nas worker`: train the children a coordinator (`nas search --remote-workers`) queues in a
//! PostgreSQL store, on this machine, until stopped.

use anyhow::{Result, bail};
use clap::Args;
use nas_runner::{WorkerEvent, WorkerOptions, run_worker};
use nas_store::{PgStore, is_postgres_url, redact};

#[derive(Args)]
pub struct WorkerArgs {
    /// The coordinator's PostgreSQL store (`postgres://user[:password]@host[:port]/db`; the
    /// password may also come from PGPASSWORD).
    #[arg(long, value_name = "URL", env = "NAS_STORE")]
    pub store: String,
    /// Lease length in seconds; renewed every third while a child trains. A worker that dies
    /// loses its trial to another worker after this long.
    #[arg(long, value_name = "S", default_value_t = 60.0)]
    pub lease_seconds: f64,
    /// Exit after this many seconds without work (default: wait for work forever).
    #[arg(long, value_name = "S")]
    pub idle_exit: Option<f64>,
    /// Exit after this many trials.
    #[arg(long, value_name = "N")]
    pub max_trials: Option<u64>,
    /// Save a training child's state (weights, optimiser, data position) in the store at the
    /// first epoch end this many seconds after the last save; a worker that takes over the
    /// trial after this one dies resumes from it. 0 = after every epoch.
    #[arg(long, value_name = "S", default_value_t = 60.0)]
    pub checkpoint_every: f64,
    /// Name shown as the owner of this worker's leases (default: host:pid).
    #[arg(long)]
    pub name: Option<String>,
}

pub fn run(a: WorkerArgs) -> Result<()> {
    if !is_postgres_url(&a.store) {
        bail!("--store must be a postgres:// URL: workers on other machines share the coordinator's database");
    }
    if !(a.lease_seconds > 0.0 && a.lease_seconds.is_finite()) {
        bail!("--lease-seconds must be positive, got {}", a.lease_seconds);
    }
    if !(a.checkpoint_every >= 0.0 && a.checkpoint_every.is_finite()) {
        bail!("--checkpoint-every must be 0 or more seconds, got {}", a.checkpoint_every);
    }
    let store = PgStore::connect(&a.store)?;
    let mut opts = WorkerOptions {
        lease_seconds: a.lease_seconds,
        checkpoint_seconds: a.checkpoint_every,
        idle_exit_seconds: a.idle_exit,
        max_trials: a.max_trials,
        ..Default::default()
    };
    if let Some(n) = a.name {
        opts.name = n;
    }
    // Ctrl-C: finish the child in training, then exit (a second Ctrl-C kills; the lease expires).
    let stop = super::stop_on_ctrl_c(Some("stopping after the current child (Ctrl-C again to quit now)"));
    eprintln!("worker {} on {}: waiting for trials", opts.name, redact(&a.store));
    let mut idle_said = false;
    let summary = run_worker(&store, &opts, &stop, |e| match e {
        WorkerEvent::Claimed { trial_id, arch, attempt, resumed_after } => {
            idle_said = false;
            let again = if *attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
            eprintln!("trial {trial_id}{again}: {arch}");
            if let Some(epochs) = resumed_after {
                eprintln!("trial {trial_id}: resuming after epoch {epochs}, saved by the previous attempt");
            }
        }
        WorkerEvent::Completed { trial_id, reward, seconds } => {
            eprintln!("trial {trial_id}: reward {reward:.4} in {seconds:.1} s")
        }
        WorkerEvent::Rejected { trial_id } => {
            eprintln!("trial {trial_id}: lease lost to another worker; this result was not recorded")
        }
        WorkerEvent::Idle if !idle_said => {
            idle_said = true;
            eprintln!("idle: waiting for work")
        }
        WorkerEvent::Idle => {}
    })?;
    println!("worker {}: {} trial(s) completed, {} rejected", opts.name, summary.completed, summary.rejected);
    Ok(())
}
