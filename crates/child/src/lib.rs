//! The child compiler: an architecture → a burn module. CNNs with the paper's repair rules; for
//! the recurrent-cell space, the cell and the language model around it ([`rnn`]).
//!
//! [`Plan`] infers every layer's shapes without tensors (and so counts parameters and FLOPs and
//! enforces size caps before anything is allocated); [`ChildNet`] is the burn module built from a
//! plan. Each layer is convolution (no bias) → batch norm → ReLU (→ 2×2 max-pool when the layer
//! asks for it). The paper's repair rules (Zoph & Le 2017, §3.3):
//! 1. a layer with no chosen input reads the image;
//! 2. every layer whose output feeds no later layer is concatenated into the classifier's input
//!    (then global average pooling and a linear layer);
//! 3. inputs of different spatial sizes are zero-padded (centred) to the largest before they are
//!    concatenated along depth.

mod config;
pub mod kernels;
mod model;
mod plan;
pub mod rnn;
mod supernet;

pub use config::ChildConfig;
pub use model::{ChildNet, ChildWeights, LayerWeights, RunningStatistics};
pub use plan::{InputShape, LayerPlan, Plan, PlanError, Source, Widening, widest_within};
pub use supernet::{Sliced, SlicedLayer, SuperNet, SuperShape};
