//! Children of the recurrent-cell search: a cell (tree or LSTM) as a burn module, and the
//! language model built from it.

mod cell;
mod lm;

pub use cell::{CellKind, RecurrentCell, tree_step};
pub use lm::{LanguageModel, LmConfig, LmState, MaskSource};
