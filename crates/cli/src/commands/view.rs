//! Seeing a search: `nas dashboard` (the live web view) and `nas draw` (one architecture as SVG).

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use clap::Args;
use nas_dashboard::SharedStore;
use nas_space::Architecture;

use super::inspect::{StoreArg, get_trial, parse_arch_arg};

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
    /// Draw this architecture instead: a JSON file (as written by `nas export-arch`) or a CNN
    /// string such as "3x3-32;5x5-64<0".
    #[arg(long, value_name = "FILE|STRING")]
    pub arch: Option<String>,
    #[command(flatten)]
    pub store: StoreArg,
}

pub fn dashboard(a: DashboardArgs) -> Result<()> {
    let (store, shown) = a.store.open()?;
    nas_dashboard::run_blocking(SharedStore::new(store), a.bind, |addr| {
        println!("dashboard on http://{addr}/ (read-only over {shown}); Ctrl-C stops");
    })?;
    Ok(())
}

pub fn draw(a: DrawArgs) -> Result<()> {
    let arch = match (&a.arch, a.trial) {
        (Some(text), _) => parse_arch_arg("--arch", text)?,
        (None, Some(id)) => {
            let (store, shown) = a.store.open()?;
            let t = get_trial(&store, &shown, id)?;
            Architecture::from_json(&t.arch_json).with_context(|| format!("trial {id}"))?
        }
        (None, None) => bail!("give a trial id or --arch FILE"),
    };
    print!("{}", nas_dashboard::draw(&arch));
    Ok(())
}
