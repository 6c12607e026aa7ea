//! Search strategies behind one [`Strategy`] interface: the paper's LSTM controller trained by
//! policy gradient (`reinforce/`), regularized evolution, local search and random search.
//!
//! Every strategy walks a space's *decision program* (`Decision::Token` / `Decision::Anchor`),
//! so each works on every space. The controller (Zoph & Le 2017, Section 3) is a 2-layer LSTM
//! with 35 hidden units per layer: at a token decision a per-token-type softmax picks a value
//! whose embedding is the next input; at an anchor decision a content-based sigmoid attention,
//! P(j → i) = σ(vᵀ tanh(W_prev·h_j + W_curr·h_i)), samples each skip connection. It is written
//! directly on `f64` slices with a hand-written backward pass through time instead of on burn
//! (ARCHITECTURE.md says why), checked against finite differences in the tests.
//!
//! Evolution and local search are *asynchronous* ([`Strategy::asynchronous`]): they take each
//! result as it arrives, so the search keeps every worker busy. Random search, evolution and
//! local search remember what they drew ([`Seen`]) and do not propose it again.
//!
//! Every strategy's whole state (weights, Adam moments, population, RNG position…) checkpoints
//! as plain numbers, so a resumed search continues exactly. This crate needs no tensors.

mod evolution;
mod local;
pub mod moves;
mod random;
mod reinforce;
mod rng;
mod seen;
mod strategy;
pub mod tagged;
#[cfg(test)]
mod testing;

pub use evolution::{Evolution, EvolutionConfig, EvolutionState, Member};
pub use local::{LocalConfig, LocalSearch, LocalState, Point};
pub use random::RandomSearch;
pub use reinforce::{
    Adam, Controller, ControllerConfig, Layout, Params, Reinforce, ReinforceState, Trajectory, UpdateRule,
};
pub use rng::SeededRng;
pub use seen::{Seen, fingerprint};
pub use strategy::{
    Feedback, Gradient, Menu, PolicySnapshot, Replayed, Sample, Settings, Strategy, StrategyError, StrategyKind,
    StrategyState, UpdateStats,
};
