//! Model bundles: a directory holding what a retrain produced, loadable without the store.
//!
//! ```text
//! DIR/manifest.json      what the model is: architecture, input shape, normalisation, class
//!                        names, dataset, the final training settings and metrics, commit, seed
//! DIR/arch.json          the architecture alone (`nas draw --arch`, `nas train --arch`)
//! DIR/model.bpk          weights as a burn record (burnpack; `Module::load_file`)
//! DIR/model.safetensors  the same weights as safetensors, for other tools
//! DIR/model.onnx         the whole network as ONNX (pixels in [0, 1] → logits; see `onnx`)
//! ```

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn_store::{ModuleSnapshot, SafetensorsStore};
use nas_child::{ChildConfig, ChildNet, InputShape, Plan};
use nas_data::{DatasetSpec, ImageSet, Normalization};
use nas_space::Architecture;
use nas_trainer::{
    EpochMetrics, TrainConfig, accuracy, accuracy_with_mirror, correct, correct_with_mirror, image_batch,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::onnx::{ONNX, OnnxInfo, onnx_model};
use crate::{GridCell, GridResult};

/// The manifest's format version; bumped on incompatible changes.
pub const FORMAT: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const ARCH: &str = "arch.json";
pub const RECORD: &str = "model.bpk";
pub const SAFETENSORS: &str = "model.safetensors";

/// How the model was trained and what it scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetrics {
    /// Test accuracy, measured once after the final run.
    pub test_accuracy: f64,
    /// Test accuracy with flip test-time augmentation (softmax of each image and its mirror
    /// averaged), measured with it when the final run trained on randomly flipped images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy_mirror: Option<f64>,
    /// The grid cell the final run used, and every cell's score.
    pub chosen: Option<GridCell>,
    pub grid: Vec<GridResult>,
    /// The final run, epoch by epoch.
    pub epochs: Vec<EpochMetrics>,
    pub seconds: f64,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub nas_version: String,
    /// The git commit `nas` was built from.
    pub commit: String,
    pub architecture: Architecture,
    pub input: InputShape,
    pub child: ChildConfig,
    /// What the final run trained on.
    pub dataset: String,
    /// The dataset as `--dataset` names it, so `nas eval` finds its test part by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_spec: Option<DatasetSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_names: Option<Vec<String>>,
    /// Applied to every image before the network sees it (pixel / 255, then (x − mean) / std).
    pub normalization: Normalization,
    pub seed: u64,
    pub train: TrainConfig,
    pub params: u64,
    pub flops: u64,
    pub metrics: ModelMetrics,
    /// The trial the architecture came from, when it came from a store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_trial: Option<i64>,
}

impl Manifest {
    /// The version and commit of this build.
    pub fn build_info() -> (String, String) {
        (env!("CARGO_PKG_VERSION").to_string(), env!("NAS_COMMIT").to_string())
    }
}

/// Why a bundle could not be written or read; each names the file.
#[derive(Debug, Error)]
pub enum BundleError {
    // Not a `source` field: the message already holds the I/O error's text, and `{:#}` would
    // print it twice.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path}: not a model manifest: {why}")]
    Manifest { path: PathBuf, why: String },
    #[error("{path}: manifest format {found}, this nas reads format {FORMAT}; retrain or upgrade nas")]
    Format { path: PathBuf, found: u32 },
    #[error(
        "{path}: holds a {space} architecture; nas eval, nas predict and nas export-onnx take image classifiers (cnn)"
    )]
    Space { path: PathBuf, space: String },
    #[error("{path}: {why}")]
    Weights { path: PathBuf, why: String },
    #[error("{0}")]
    Data(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |error| BundleError::Io { path: path.to_path_buf(), error }
}

/// Write `model` (in inference mode) and its manifest into `dir` (created if missing).
pub fn save_bundle(dir: &Path, manifest: &Manifest, model: &ChildNet) -> Result<(), BundleError> {
    let model = model.valid();
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = serde_json::to_string_pretty(manifest).expect("manifests serialise");
    let path = dir.join(MANIFEST);
    std::fs::write(&path, json + "\n").map_err(io(&path))?;
    let path = dir.join(ARCH);
    std::fs::write(&path, manifest.architecture.to_json() + "\n").map_err(io(&path))?;
    let path = dir.join(RECORD);
    model.clone().save_file(&path).map_err(|e| BundleError::Weights { path: path.clone(), why: e.to_string() })?;
    let path = dir.join(SAFETENSORS);
    let _ = std::fs::remove_file(&path);
    let mut store = SafetensorsStore::from_file(&path).metadata("nas_arch", manifest.architecture.to_json());
    model.save_into(&mut store).map_err(|e| BundleError::Weights { path: path.clone(), why: e.to_string() })?;
    write_onnx(&dir.join(ONNX), manifest, &model)
}

/// Write the ONNX graph of `model` (described by `manifest`) to `path`.
pub fn write_onnx(path: &Path, manifest: &Manifest, model: &ChildNet) -> Result<(), BundleError> {
    let mut metadata = vec![("nas_arch".to_string(), manifest.architecture.to_json())];
    if let Some(names) = &manifest.class_names {
        metadata.push(("class_names".into(), serde_json::to_string(names).expect("strings serialise")));
    }
    metadata.push(("dataset".into(), manifest.dataset.clone()));
    let doc = format!(
        "nas {} child {}: input float32 pixels [batch, {}, {}, {}] scaled to [0, 1] (normalisation is inside \
         the graph), output logits [batch, {}]",
        manifest.nas_version,
        manifest.architecture,
        manifest.input.channels,
        manifest.input.height,
        manifest.input.width,
        manifest.input.classes
    );
    let bytes = onnx_model(model.plan(), &model.weights(), &manifest.normalization, &OnnxInfo { metadata, doc })
        .map_err(|why| BundleError::Weights { path: path.to_path_buf(), why })?;
    std::fs::write(path, bytes).map_err(io(path))
}

/// Write the ONNX graph of the bundle in `dir` to `out` (for bundles written before `nas`
/// wrote `model.onnx` itself); returns the bundle's manifest.
pub fn export_onnx(dir: &Path, out: &Path) -> Result<Manifest, BundleError> {
    let model = load_bundle(dir, &crate::inference_device())?;
    write_onnx(out, &model.manifest, &model.net)?;
    Ok(model.manifest)
}

/// A loaded model, ready to classify.
pub struct Model {
    pub manifest: Manifest,
    pub net: ChildNet,
    pub device: Device,
}

/// Read `dir/manifest.json` alone.
pub fn read_manifest(dir: &Path) -> Result<Manifest, BundleError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| BundleError::Manifest { path: path.clone(), why: e.to_string() })?;
    if let Some(found) = value.get("format").and_then(|f| f.as_u64())
        && found != FORMAT as u64
    {
        return Err(BundleError::Format { path, found: found as u32 });
    }
    if let Some(space) = value.pointer("/architecture/space").and_then(|s| s.as_str())
        && space != "cnn"
    {
        return Err(BundleError::Space { path, space: space.to_string() });
    }
    serde_json::from_value(value).map_err(|e| BundleError::Manifest { path, why: e.to_string() })
}

/// Load the bundle in `dir` on `device` (an inference device, not autodiff).
pub fn load_bundle(dir: &Path, device: &Device) -> Result<Model, BundleError> {
    let manifest = read_manifest(dir)?;
    let mpath = dir.join(MANIFEST);
    let Architecture::Cnn(arch) = &manifest.architecture else {
        return Err(BundleError::Space { path: mpath, space: manifest.architecture.space_name().into() });
    };
    let plan = Plan::new(arch, manifest.input, &manifest.child)
        .map_err(|e| BundleError::Manifest { path: mpath.clone(), why: e.to_string() })?;
    if plan.params != manifest.params {
        return Err(BundleError::Manifest {
            path: mpath,
            why: format!(
                "the architecture compiles to {} parameters, the manifest says {}",
                plan.params, manifest.params
            ),
        });
    }
    let path = dir.join(RECORD);
    if !path.exists() {
        return Err(BundleError::Weights { path, why: "missing".into() });
    }
    let net = ChildNet::new(plan, &manifest.child, device).try_load_file(&path).map_err(|e| BundleError::Weights {
        path: path.clone(),
        why: format!("corrupt or not this model's weights ({e})"),
    })?;
    Ok(Model { manifest, net, device: device.clone() })
}

/// One classified image.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub class: usize,
    /// Softmax probability of that class.
    pub probability: f64,
}

/// The most likely class of `logits` and its softmax probability.
pub fn predict(logits: &[f32]) -> Prediction {
    let (class, top) = logits.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
    let sum: f64 = logits.iter().map(|&v| ((v - top) as f64).exp()).sum();
    Prediction { class, probability: 1.0 / sum }
}

impl Model {
    /// Refuse images of another shape or label range than the model's, naming `what`.
    pub fn check(&self, set: &ImageSet, what: &str) -> Result<(), BundleError> {
        let i = &self.manifest.input;
        if (set.channels, set.height, set.width) != (i.channels, i.height, i.width) {
            return Err(BundleError::Data(format!(
                "{what}: images are {}×{}×{} (channels × height × width); the model takes {}×{}×{}",
                set.channels, set.height, set.width, i.channels, i.height, i.width
            )));
        }
        Ok(())
    }

    /// Fraction of `set` classified correctly.
    pub fn accuracy(&self, set: &ImageSet) -> f64 {
        accuracy(&self.net, set, &self.manifest.normalization, &self.device)
    }

    /// Whether the model trained on randomly mirrored images, so that flip test-time
    /// augmentation ([`Model::accuracy_with_mirror`]) is meaningful for it.
    pub fn trained_with_flips(&self) -> bool {
        self.manifest.train.augment.is_some_and(|a| a.flip)
    }

    /// Fraction of `set` classified correctly with each image's softmax averaged with its mirror
    /// image's (flip test-time augmentation).
    pub fn accuracy_with_mirror(&self, set: &ImageSet) -> f64 {
        accuracy_with_mirror(&self.net, set, &self.manifest.normalization, &self.device)
    }

    /// Per image of `set`, in order: classified correctly? (`nas eval A B` pairs two models' lists.)
    pub fn correct(&self, set: &ImageSet) -> Vec<bool> {
        correct(&self.net, set, &self.manifest.normalization, &self.device)
    }

    /// [`Model::correct`] under flip test-time augmentation.
    pub fn correct_with_mirror(&self, set: &ImageSet) -> Vec<bool> {
        correct_with_mirror(&self.net, set, &self.manifest.normalization, &self.device)
    }

    /// The logits `[classes]` of every image of `set`.
    pub fn logits(&self, set: &ImageSet) -> Vec<Vec<f32>> {
        let idx: Vec<usize> = (0..set.len()).collect();
        let mut out = Vec::with_capacity(set.len());
        for chunk in idx.chunks(256) {
            let (x, _) = image_batch(set, chunk, &self.manifest.normalization, &self.device);
            let values: Vec<f32> = self.net.forward(x).into_data().convert::<f32>().try_to_vec().expect("f32 logits");
            out.extend(values.chunks(self.manifest.input.classes).map(<[f32]>::to_vec));
        }
        out
    }

    /// The most likely class of every image of `set`.
    pub fn classify(&self, set: &ImageSet) -> Vec<Prediction> {
        self.logits(set).iter().map(|row| predict(row)).collect()
    }

    /// The name of `class`, or its number.
    pub fn class_name(&self, class: usize) -> String {
        self.manifest.class_names.as_ref().and_then(|n| n.get(class).cloned()).unwrap_or_else(|| class.to_string())
    }
}
