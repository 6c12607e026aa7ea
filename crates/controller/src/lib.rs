//! Search strategies: the paper's LSTM controller trained with REINFORCE, and random search,
//! behind one [`Strategy`] interface.
//!
//! The controller (Zoph & Le 2017, Section 3) is a 2-layer LSTM with 35 hidden units per layer
//! that walks a space's decision program: at a token decision a per-token-type softmax picks a
//! value whose embedding is the next input; at an anchor decision a content-based sigmoid
//! attention, P(j → i) = σ(vᵀ tanh(W_prev·h_j + W_curr·h_i)), samples each skip connection.
//!
//! The network is small (≈ 25k parameters), so it is written directly on `f64` slices with a
//! hand-written backward pass through time instead of on burn: a sample plus its share of an
//! update costs well under a millisecond (`nas bench controller`), it is bit-for-bit
//! reproducible, its whole state (weights, Adam moments, baseline, RNG position) checkpoints as
//! plain numbers, and this crate builds without a tensor library. The backward pass is checked
//! against finite differences in the tests.

mod adam;
mod config;
mod params;
mod policy;
mod random;
mod reinforce;
mod rng;
mod strategy;

pub use adam::Adam;
pub use config::ControllerConfig;
pub use params::{Layout, Params};
pub use policy::{Controller, Trajectory};
pub use random::RandomSearch;
pub use reinforce::Reinforce;
pub use rng::SeededRng;
pub use strategy::{
    Feedback, Gradient, PolicySnapshot, Sample, Strategy, StrategyError, StrategyKind, StrategyState, UpdateStats,
};
