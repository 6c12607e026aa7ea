//! The child trainer: trains a compiled child on a real dataset and turns its validation
//! accuracy into the reward (the paper: the cube of the best validation accuracy of the last 5
//! epochs). [`TrainEvaluator`] plugs it into the search as an `Evaluator`.

mod batches;
mod bench;
mod config;
mod evaluator;
mod train;

pub use batches::PreparedData;
pub use bench::{StepRate, sgemm_gflops, training_rate};
pub use config::{Schedule, TrainConfig};
pub use evaluator::TrainEvaluator;
pub use train::{EpochMetrics, TrainError, TrainOutcome, train_child};
