//! The child trainer: trains a compiled child on a real dataset and turns its validation
//! accuracy into the reward (the paper: the cube of the best validation accuracy of the last 5
//! epochs). Language-model children of the recurrent-cell search are trained by [`train_lm`]
//! (reward c / validation perplexity²). [`TrainEvaluator`] and [`LmEvaluator`] plug them into
//! the search as `Evaluator`s.

mod batches;
mod bench;
mod config;
mod evaluator;
mod lm;
mod lm_bench;
mod lm_evaluator;
mod train;

pub use batches::PreparedData;
pub use bench::{StepRate, sgemm_gflops, training_rate};
pub use config::{Schedule, TrainConfig};
pub use evaluator::TrainEvaluator;
pub use lm::{LmEpoch, LmError, LmOutcome, LmTrainConfig, perplexity, train_and_test, train_lm};
pub use lm_bench::{LmBenchModel, lm_training_rate};
pub use lm_evaluator::LmEvaluator;
pub use train::{EpochMetrics, TrainError, TrainOutcome, train_child};
