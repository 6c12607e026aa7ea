//! From search to model: the paper's final step. [`retrain`] scores a grid of learning rate,
//! weight decay, batch-norm ε and decay epoch on the validation split, trains the best cell on
//! training + validation images and measures test accuracy once. [`save_bundle`] writes the
//! result as a model bundle (burn record + safetensors + ONNX + manifest); [`load_bundle`] reads one
//! back for `nas eval` and `nas predict`, which read images with [`read_inputs`]; [`Paired`]
//! says whether one model's test accuracy is really above another's.

mod bundle;
mod config;
mod grid;
mod images;
pub mod onnx;
mod paired;
mod saved;
mod timed;

pub use bundle::{
    ARCH, BundleError, FORMAT, MANIFEST, Manifest, Model, ModelMetrics, Prediction, RECORD, SAFETENSORS, export_onnx,
    load_bundle, predict, read_manifest, save_bundle, write_onnx,
};
pub use config::{GridCell, RetrainConfig, RetrainSchedule, decay_epoch, default_augment};
pub use grid::{
    GridResult, Phase, RetrainError, RetrainInputs, Retrained, cell_settings, fitted_width, grid_search, retrain,
};
pub use images::{Inputs, read_inputs};
pub use paired::{Paired, wilson_interval};
pub use saved::SavedRun;
pub use timed::{TimedWidth, epoch_seconds, timed_width};

/// The device a retrain trains on: burn's default (the CPU `flex` backend, or the GPU backend
/// built in), with autodiff.
pub fn training_device() -> burn::prelude::Device {
    burn::prelude::Device::default().autodiff()
}

/// The device a loaded model classifies on.
pub fn inference_device() -> burn::prelude::Device {
    burn::prelude::Device::default()
}
