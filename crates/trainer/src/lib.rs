//! The child trainer: trains a compiled child on a real dataset and turns its validation
//! accuracy into the reward (the paper: the cube of the best validation accuracy of the last 5
//! epochs). Language-model children of the recurrent-cell search are trained by [`train_lm`]
//! (reward c / validation perplexity²). [`TrainEvaluator`] and [`LmEvaluator`] plug them into
//! the search as `Evaluator`s.

mod batches;
mod bench;
mod bn;
mod config;
mod evaluator;
mod lm;
mod lm_bench;
mod lm_evaluator;
mod oneshot;
mod resume;
mod sgd;
mod train;

pub use batches::{PreparedData, image_batch};
pub use bench::{CpuPath, StepRate, cpu_backends, sgemm_gflops, training_rate, with_threads};
pub use bn::{BnScoring, recalibrated_statistics, score};
pub use config::{Schedule, TrainConfig, planned_epochs};
pub use evaluator::TrainEvaluator;
pub use lm::{LmEpoch, LmError, LmOutcome, LmTrainConfig, perplexity, train_and_test, train_lm};
pub use lm_bench::{BENCH_CELL, LmBenchModel, lm_training_rate};
pub use lm_evaluator::LmEvaluator;
pub use nas_evaluator::{MedianStopper, MedianStopping, Progress};
pub use oneshot::{OneShotConfig, OneShotEvaluator, OneShotSetup};
pub use resume::{EpochState, write_atomically};
pub use train::{
    EpochMetrics, EvalEvery, TrainError, TrainOutcome, Trained, accuracy, accuracy_with_mirror, correct,
    correct_with_mirror, fit, train_child,
};

/// burn's CPU backend keeps one random generator for the whole process, and burn draws a
/// parameter's initial values lazily, at its first use. Children trained by parallel workers
/// would draw their weights from each other's streams. Seeding, building and materialising every
/// parameter under one lock keeps each child's weights a function of its own seed. (Nothing else
/// in training draws from burn's generator: data order, augmentation and dropout masks come from
/// each trial's own seeded generators.)
pub(crate) fn seeded<M: burn::module::Module>(
    device: &burn::prelude::Device,
    seed: u64,
    init: impl FnOnce() -> M,
) -> M {
    struct Materialise;
    impl burn::module::ModuleVisitor for Materialise {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<burn::prelude::Tensor<D>>) {
            let _ = param.val();
        }
    }
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    let model = init();
    model.visit(&mut Materialise);
    model
}
