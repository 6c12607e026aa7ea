//! The search loop: a strategy samples architectures from a space, an evaluator rewards them,
//! every trial and every controller update goes to the store, and `--resume` continues from the
//! store exactly as an uninterrupted run would.
//!
//! ```text
//! config ─► SearchSpace ─► decisions(depth) ─► Strategy::sample ─► Architecture
//!                                                   ▲                    │
//!        Strategy::gradient / apply │                    ▼ Evaluator (inline, W local
//!        (K replicas, stale grads)  └──── reward ◄───────┘  workers or remote `nas worker`s)
//!                 every trial / update ─► TrialStore (SQLite or PostgreSQL)
//! ```

mod compare;
mod config;
mod depth;
mod evaluators;
mod execute;
mod fidelity;
mod oneshot_rank;
mod presets;
mod rescore;
mod saved;
mod search;
mod worker;

pub use compare::{CompareReport, CompareRow, CompareRun, Contender, CurvePoint, compare_strategies, stored_run};
pub use config::{ConfigError, SearchConfig};
pub use depth::DepthSchedule;
pub use evaluators::build_evaluator;
pub use fidelity::{Agreement, FidelityArch, FidelityOptions, FidelityReport, FidelityStep, draw_archs, fidelity};
pub use oneshot_rank::{OneShotRankOptions, OneShotRankReport, OneShotRankStep, RankedArch, oneshot_ranking};
pub use presets::{PRESETS, preset};
pub use rescore::{
    MAX_RESCORE, RESCORE_STRATEGY, RescoreConfig, RescoreEvent, Rescored, as_scored, is_rescore, latest_search,
    rescore, rescore_name, rescore_ranked, rescore_train_config,
};
pub use search::{Control, Event, Search, SearchError, Summary};
pub use worker::{WorkerEvent, WorkerOptions, WorkerSummary, run_worker};
