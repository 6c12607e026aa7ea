//! The data a search trains every child on, prepared once: the seeded validation split, the
//! optional training subset, normalisation statistics, and batch assembly into tensors.

use burn::prelude::*;
use nas_data::{Augment, DatasetSpec, ImageSet, Normalization, augment_into};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::TrainConfig;

/// Training and validation images with their statistics.
#[derive(Debug, Clone)]
pub struct PreparedData {
    pub train: ImageSet,
    pub validation: ImageSet,
    pub norm: Normalization,
    pub augment: Augment,
    /// One line saying what was loaded.
    pub description: String,
}

impl PreparedData {
    /// Load `spec`, hold out the validation split (seeded), subset the rest if asked. The test
    /// set is not kept: a search never sees it.
    pub fn load(spec: &DatasetSpec, train: &TrainConfig, seed: u64) -> Result<Self, String> {
        let (splits, what) = spec.load().map_err(|e| e.to_string())?;
        Self::from_set(splits.train, train, seed, Self::augment_for(spec, train), what)
    }

    /// The configured augmentation, else the dataset's usual one: crop(4)+flip for CIFAR, none
    /// for MNIST-like data.
    pub fn augment_for(spec: &DatasetSpec, train: &TrainConfig) -> Augment {
        train.augment.unwrap_or(if spec.is_cifar() {
            Augment { crop_padding: 4, flip: true, erase: 0.0 }
        } else {
            Augment::default()
        })
    }

    /// Train on all of `full` (a final retrain on train + validation), subset to `subset`
    /// images when given; nothing is held out (`validation` is empty).
    pub fn whole(
        full: ImageSet,
        subset: Option<usize>,
        seed: u64,
        augment: Augment,
        what: String,
    ) -> Result<Self, String> {
        let train = match subset {
            Some(n) if n < full.len() => full.subset(n, seed).map_err(|e| e.to_string())?,
            _ => full,
        };
        let norm = train.normalization();
        let validation = train.select(&[]);
        let description = format!(
            "{what}: {} training images (no validation split){}",
            train.len(),
            if augment.is_active() { ", augmented" } else { "" }
        );
        Ok(PreparedData { train, validation, norm, augment, description })
    }

    /// Prepare from an in-memory training set.
    pub fn from_set(
        full: ImageSet,
        train: &TrainConfig,
        seed: u64,
        augment: Augment,
        what: String,
    ) -> Result<Self, String> {
        let (rest, validation) = full.split(train.validation, seed).map_err(|e| format!("train.validation: {e}"))?;
        let rest = match train.train_subset {
            Some(n) if n < rest.len() => rest.subset(n, seed).map_err(|e| e.to_string())?,
            _ => rest,
        };
        let norm = rest.normalization();
        let description = format!(
            "{what}: {} training / {} validation images{}",
            rest.len(),
            validation.len(),
            if augment.is_active() { ", augmented" } else { "" }
        );
        Ok(PreparedData { train: rest, validation, norm, augment, description })
    }

    /// A shuffled order of the training images for one epoch.
    pub fn epoch_order(&self, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        order.shuffle(rng);
        order
    }

    /// Images `[n, c, h, w]` (normalised, augmented when `augment`) and labels `[n]`.
    pub fn batch(
        &self,
        set: &ImageSet,
        indices: &[usize],
        augment: Option<&mut ChaCha8Rng>,
        device: &Device,
    ) -> (Tensor<4>, Tensor<1, Int>) {
        match augment {
            Some(rng) if self.augment.is_active() => {
                let size = set.image_size();
                let mut scratch = vec![0u8; size];
                let mut x = vec![0f32; indices.len() * size];
                for (k, &i) in indices.iter().enumerate() {
                    augment_into(set.image(i), set.channels, set.height, set.width, &self.augment, rng, &mut scratch);
                    self.norm.apply(&scratch, set.height * set.width, &mut x[k * size..(k + 1) * size]);
                }
                (images_tensor(x, set, indices.len(), device), labels_tensor(set, indices, device))
            }
            _ => image_batch(set, indices, &self.norm, device),
        }
    }
}

/// Images `[n, c, h, w]` of `set` at `indices`, normalised with `norm`, and their labels `[n]`.
pub fn image_batch(
    set: &ImageSet,
    indices: &[usize],
    norm: &Normalization,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    let size = set.image_size();
    let mut x = vec![0f32; indices.len() * size];
    for (k, &i) in indices.iter().enumerate() {
        norm.apply(set.image(i), set.height * set.width, &mut x[k * size..(k + 1) * size]);
    }
    (images_tensor(x, set, indices.len(), device), labels_tensor(set, indices, device))
}

fn images_tensor(x: Vec<f32>, set: &ImageSet, n: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(x, [n, set.channels, set.height, set.width]), device)
}

fn labels_tensor(set: &ImageSet, indices: &[usize], device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = indices.iter().map(|&i| set.labels[i] as i64).collect();
    Tensor::from_data(TensorData::new(labels, [indices.len()]), device)
}

/// A generator seeded from several numbers.
pub(crate) fn rng_for(parts: &[u64]) -> ChaCha8Rng {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for &p in parts {
        s = (s ^ p).wrapping_mul(0x100_0000_01b3).rotate_left(17);
    }
    ChaCha8Rng::seed_from_u64(s)
}
