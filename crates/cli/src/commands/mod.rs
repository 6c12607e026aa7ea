//! One module per group of sub-commands.

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
