//! One module per group of sub-commands, and what several of them share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub mod bench;
pub mod bench_fidelity;
pub mod bench_oneshot;
pub mod bench_store;
pub mod compare;
pub mod eval;
pub mod inspect;
pub mod lm;
pub mod model;
pub mod plot;
pub mod search;
pub mod view;
pub mod worker;

/// The flag the first Ctrl-C raises, for a long command to stop where nothing is lost (after
/// printing `first`, if any); a second Ctrl-C kills the process. Trial commands (`--evaluator
/// command:…`) are ended at the first and run again on `--resume`; `kill` (SIGTERM, SIGHUP)
/// ends them with nas.
pub fn stop_on_ctrl_c(first: Option<&'static str>) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    nas_evaluator::command::end_commands_on_terminate();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            nas_evaluator::command::kill_all();
            std::process::exit(130);
        }
        nas_evaluator::command::interrupt();
        if let Some(m) = first {
            eprintln!("{m}");
        }
    });
    stop
}
