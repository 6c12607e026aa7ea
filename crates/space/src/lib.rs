//! Search spaces (the paper's CNN space, its recurrent-cell space, NAS-Bench-201 cells): the typed
//! architectures a search explores, and the description of the
//! decisions a controller makes to produce one.
//!
//! A space turns a depth into a *program* of [`Decision`]s (categorical tokens and skip-connection
//! anchors). Any strategy — the LSTM controller or random search — walks that program and emits
//! one [`Action`] per decision; the space then decodes the actions into a typed [`Architecture`].
//! Adding a space means describing its decisions; the controller does not change.
//!
//! This crate needs no tensors: it builds without burn.

mod arch;
mod cnn;
mod decision;
mod error;
pub mod limits;
mod nb201;
mod rnn;
mod sample;
mod space;

pub use arch::Architecture;
pub use cnn::{CnnArch, CnnLayer, CnnSpace, Pool};
pub use decision::{Action, Decision, TokenType};
pub use error::SpaceError;
pub use nb201::{NB201_EDGES, Nb201Arch, Nb201Op, Nb201Space};
pub use rnn::{Activation, Combine, NodeInputs, RnnCell, RnnNode, RnnSpace};
pub use sample::{Draw, uniform_actions};
pub use space::{SearchSpace, SpaceKind};
