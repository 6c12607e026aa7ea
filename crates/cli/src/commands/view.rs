//! Seeing a search: `nas dashboard` (the live web view) and `nas draw` (one architecture as SVG).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use nas_dashboard::SharedStore;
use nas_space::Architecture;
use nas_store::open_store;

use super::inspect::StoreArg;
use crate::store_path;

#[derive(Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Address to listen on. The default serves this machine only; to let others see it, bind
    /// an outside address explicitly (e.g. 0.0.0.0:8080) — there is no authentication.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
}

#[derive(Args)]
pub struct DrawArgs {
    /// Trial id (as printed by `nas top`).
    #[arg(required_unless_present = "arch", conflicts_with = "arch")]
    pub trial: Option<i64>,
    /// Draw an architecture JSON file instead (as written by `nas export-arch`).
    #[arg(long, value_name = "FILE")]
    pub arch: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

pub fn dashboard(a: DashboardArgs) -> Result<()> {
    let path = store_path(&a.store.store);
    let store = open_store(&path.to_string_lossy(), false)?;
    let shown = path.display().to_string();
    nas_dashboard::run_blocking(SharedStore::new(store), a.bind, |addr| {
        println!("dashboard on http://{addr}/ (read-only over {shown}); Ctrl-C stops");
    })?;
    Ok(())
}

pub fn draw(a: DrawArgs) -> Result<()> {
    let arch = match (&a.arch, a.trial) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            Architecture::from_json(&text).with_context(|| format!("{}", file.display()))?
        }
        (None, Some(id)) => {
            let store = open_store(&store_path(&a.store.store).to_string_lossy(), false)?;
            let t = store.trial(id)?.ok_or_else(|| anyhow!("no trial {id} in this store (see `nas top`)"))?;
            Architecture::from_json(&t.arch_json).with_context(|| format!("trial {id}"))?
        }
        (None, None) => bail!("give a trial id or --arch FILE"),
    };
    print!("{}", nas_dashboard::draw(&arch));
    Ok(())
}
