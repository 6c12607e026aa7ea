//! [`ImageSet`]: images as bytes in CHW order with their labels, plus splits and statistics.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::DataError;

/// Labelled images, each `channels × height × width` bytes (CHW).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub classes: usize,
    /// `len() × channels × height × width` bytes.
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

/// A dataset's standard train and test parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splits {
    pub train: ImageSet,
    pub test: ImageSet,
}

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl ImageSet {
    /// A tiny learnable synthetic set for tests and examples: `n` 8×8 grey images in 4 classes,
    /// the class being which quadrant is bright, with deterministic noise varied by `salt`.
    pub fn quadrants(n: usize, salt: usize) -> ImageSet {
        let mut pixels = Vec::with_capacity(n * 64);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let class = i % 4;
            labels.push(class as u8);
            for y in 0..8 {
                for x in 0..8 {
                    let q = (y / 4) * 2 + x / 4;
                    let noise = ((i * 31 + y * 7 + x * 13 + salt) % 40) as u8;
                    pixels.push(if q == class { 180 + noise } else { noise });
                }
            }
        }
        ImageSet { channels: 1, height: 8, width: 8, classes: 4, pixels, labels }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_size();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_size());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageSet { pixels, labels: indices.iter().map(|&i| self.labels[i]).collect(), ..self.shape_only() }
    }

    fn shape_only(&self) -> ImageSet {
        ImageSet {
            channels: self.channels,
            height: self.height,
            width: self.width,
            classes: self.classes,
            pixels: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Hold out `validation` images chosen by `seed` (class-balanced as far as possible);
    /// returns (rest, validation). The paper holds out 5,000 of CIFAR-10's 50,000.
    pub fn split(&self, validation: usize, seed: u64) -> Result<(ImageSet, ImageSet), DataError> {
        if validation >= self.len() {
            return Err(DataError::Invalid(format!(
                "a validation split of {validation} needs more than the {} training images",
                self.len()
            )));
        }
        let order = self.balanced_order(seed);
        let (val, rest) = order.split_at(validation);
        let mut rest = rest.to_vec();
        rest.sort_unstable();
        let mut val = val.to_vec();
        val.sort_unstable();
        Ok((self.select(&rest), self.select(&val)))
    }

    /// A class-balanced subset of `n` images chosen by `seed`.
    pub fn subset(&self, n: usize, seed: u64) -> Result<ImageSet, DataError> {
        if n > self.len() {
            return Err(DataError::Invalid(format!("a subset of {n} images from a set of {}", self.len())));
        }
        let mut idx = self.balanced_order(seed)[..n].to_vec();
        idx.sort_unstable();
        Ok(self.select(&idx))
    }

    /// All indices, shuffled within each class, then interleaved class by class so that any
    /// prefix is as class-balanced as the data allows.
    fn balanced_order(&self, seed: u64) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.classes.max(1)];
        for (i, &l) in self.labels.iter().enumerate() {
            by_class[l as usize].push(i);
        }
        for c in by_class.iter_mut() {
            c.shuffle(&mut rng);
        }
        let longest = by_class.iter().map(Vec::len).max().unwrap_or(0);
        let mut out = Vec::with_capacity(self.len());
        for k in 0..longest {
            for c in &by_class {
                if let Some(&i) = c.get(k) {
                    out.push(i);
                }
            }
        }
        out
    }

    /// Per-channel statistics of this set (use the training part's for every part).
    pub fn normalization(&self) -> Normalization {
        let (c, hw) = (self.channels, self.height * self.width);
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        // `max(1)`: a set of 0-pixel images has nothing to average (and chunks must not be empty).
        for img in self.pixels.chunks_exact((c * hw).max(1)) {
            for ch in 0..c {
                for &p in &img[ch * hw..(ch + 1) * hw] {
                    let v = p as f64 / 255.0;
                    sum[ch] += v;
                    sq[ch] += v * v;
                }
            }
        }
        let n = (self.len() * hw).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sq.iter().zip(&mean).map(|(s, m)| ((s / n - m * m).max(0.0).sqrt().max(1e-6)) as f32).collect();
        Normalization { mean: mean.into_iter().map(|m| m as f32).collect(), std }
    }

    /// Images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// Check labels against the class count.
    pub(crate) fn check(&self, what: &str) -> Result<(), DataError> {
        if self.image_size() == 0 {
            return Err(DataError::Invalid(format!(
                "{what}: images are {}×{}×{}: no pixels",
                self.channels, self.height, self.width
            )));
        }
        if self.is_empty() {
            return Err(DataError::Invalid(format!("{what}: holds no images")));
        }
        if let Some(&bad) = self.labels.iter().find(|&&l| l as usize >= self.classes) {
            return Err(DataError::Invalid(format!("{what}: label {bad} but only {} classes", self.classes)));
        }
        if self.pixels.len() != self.len() * self.image_size() {
            return Err(DataError::Invalid(format!("{what}: pixel count does not match the number of labels")));
        }
        Ok(())
    }
}

impl Normalization {
    /// Write image bytes as normalised `f32` (CHW) into `out`.
    pub fn apply(&self, image: &[u8], hw: usize, out: &mut [f32]) {
        for (ch, (m, s)) in self.mean.iter().zip(&self.std).enumerate() {
            for k in 0..hw {
                out[ch * hw + k] = (image[ch * hw + k] as f32 / 255.0 - m) / s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn toy(n: usize, classes: usize) -> ImageSet {
        ImageSet {
            channels: 1,
            height: 2,
            width: 2,
            classes,
            pixels: (0..n * 4).map(|i| ((i / 4) % 256) as u8).collect(),
            labels: (0..n).map(|i| (i % classes) as u8).collect(),
        }
    }

    #[test]
    fn split_is_seeded_disjoint_and_balanced() {
        let s = toy(100, 10);
        let (rest, val) = s.split(20, 1).unwrap();
        assert_eq!((rest.len(), val.len()), (80, 20));
        assert_eq!(val.class_counts(), vec![2; 10]);
        assert_eq!(s.split(20, 1).unwrap().1, val);
        assert_ne!(s.split(20, 2).unwrap().1, val);
        // Disjoint: the first pixel byte identifies each toy image.
        let firsts = |x: &ImageSet| (0..x.len()).map(|i| x.image(i)[0]).collect::<Vec<_>>();
        let (a, b) = (firsts(&rest), firsts(&val));
        assert!(b.iter().all(|p| !a.contains(p)));
        assert!(s.split(100, 0).is_err());
    }

    #[test]
    fn subset_is_balanced() {
        let s = toy(1000, 10);
        let sub = s.subset(50, 3).unwrap();
        assert_eq!(sub.class_counts(), vec![5; 10]);
        assert!(s.subset(1001, 0).is_err());
    }

    #[test]
    fn normalization_standardises() {
        let s =
            ImageSet { channels: 2, height: 1, width: 2, classes: 1, pixels: vec![0, 255, 51, 51], labels: vec![0] };
        let n = s.normalization();
        assert!((n.mean[0] - 0.5).abs() < 1e-6 && (n.std[0] - 0.5).abs() < 1e-6);
        assert!((n.mean[1] - 0.2).abs() < 1e-6);
        let mut out = vec![0.0; 4];
        n.apply(s.image(0), 2, &mut out);
        assert!((out[0] + 1.0).abs() < 1e-5 && (out[1] - 1.0).abs() < 1e-5);
    }
}
