//! CIFAR-style augmentation on CHW bytes: random crop after zero padding, random horizontal flip,
//! and random erasing (Zhong et al., 2017: a rectangle of random pixels, with a probability).

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// Augmentation settings. The default (all off) suits MNIST-like data; CIFAR uses
/// `crop_padding = 4, flip = true`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augment {
    /// Pad by this many zero pixels on each side, then crop back to size at a random offset.
    pub crop_padding: usize,
    /// Mirror left-right with probability ½.
    pub flip: bool,
    /// Probability of random erasing (0: off): after crop and flip, a rectangle covering 2–40 % of
    /// the image, aspect ratio 0.3–3.3, is filled with uniformly random pixel values (the
    /// paper's settings; it used 0.5 on Fashion-MNIST).
    pub erase: f32,
}

/// Random erasing's range of erased area, as a fraction of the image (Zhong et al.).
const ERASE_AREA: (f32, f32) = (0.02, 0.4);
/// Random erasing's range of aspect ratios (height / width), drawn log-uniformly.
const ERASE_ASPECT: f32 = 0.3;
/// Draws of a rectangle before giving up for this image (the paper's loop until one fits).
const ERASE_TRIES: usize = 10;

impl Augment {
    /// Whether any augmentation is on.
    pub fn is_active(&self) -> bool {
        self.crop_padding > 0 || self.flip || self.erase > 0.0
    }

    /// The settings in words, for logs: "crop ±2 px + horizontal flip + random erasing p=0.5".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.crop_padding > 0 {
            parts.push(format!("crop ±{} px", self.crop_padding));
        }
        if self.flip {
            parts.push("horizontal flip".to_string());
        }
        if self.erase > 0.0 {
            parts.push(format!("random erasing p={}", self.erase));
        }
        if parts.is_empty() { "none".to_string() } else { parts.join(" + ") }
    }

    /// An error naming the key (`erase`) when a setting is out of range; callers prefix the table.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.erase) {
            return Err(format!("erase must be a probability in [0, 1], not {}", self.erase));
        }
        Ok(())
    }
}

/// Write an augmented copy of `img` (`c × h × w`) into `out`.
pub fn augment_into(img: &[u8], c: usize, h: usize, w: usize, aug: &Augment, rng: &mut impl Rng, out: &mut [u8]) {
    let p = aug.crop_padding as i64;
    let (dy, dx) = if p > 0 { (rng.random_range(-p..=p), rng.random_range(-p..=p)) } else { (0, 0) };
    let flip = aug.flip && rng.random_range(0..2u8) == 1;
    for ch in 0..c {
        for y in 0..h {
            let sy = (y as i64 + dy) as isize;
            for x in 0..w {
                let xx = if flip { w - 1 - x } else { x };
                let sx = (xx as i64 + dx) as isize;
                out[(ch * h + y) * w + x] = if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                    img[(ch * h + sy as usize) * w + sx as usize]
                } else {
                    0
                };
            }
        }
    }
    if aug.erase > 0.0 && rng.random::<f32>() < aug.erase {
        erase_rectangle(out, c, h, w, rng);
    }
}

/// Fill one random rectangle of `img` (`c × h × w`) with random values, every channel.
fn erase_rectangle(img: &mut [u8], c: usize, h: usize, w: usize, rng: &mut impl Rng) {
    let area = (h * w) as f32;
    for _ in 0..ERASE_TRIES {
        let target = area * rng.random_range(ERASE_AREA.0..ERASE_AREA.1);
        let aspect = rng.random_range(ERASE_ASPECT.ln()..(1.0 / ERASE_ASPECT).ln()).exp();
        let eh = (target * aspect).sqrt().round() as usize;
        let ew = (target / aspect).sqrt().round() as usize;
        if eh == 0 || ew == 0 || eh >= h || ew >= w {
            continue;
        }
        let (y0, x0) = (rng.random_range(0..=h - eh), rng.random_range(0..=w - ew));
        for ch in 0..c {
            for y in y0..y0 + eh {
                let row = (ch * h + y) * w;
                for v in &mut img[row + x0..row + x0 + ew] {
                    *v = rng.random();
                }
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn off_is_identity_and_flip_mirrors() {
        let img: Vec<u8> = (1..=12).collect(); // 1 × 3 × 4
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut out = vec![0; 12];
        augment_into(&img, 1, 3, 4, &Augment::default(), &mut rng, &mut out);
        assert_eq!(out, img);
        let mut flips = 0;
        for _ in 0..40 {
            augment_into(&img, 1, 3, 4, &Augment { flip: true, ..Augment::default() }, &mut rng, &mut out);
            if out != img {
                assert_eq!(&out[..4], &[4, 3, 2, 1]);
                flips += 1;
            }
        }
        assert!((10..30).contains(&flips), "{flips}");
    }

    #[test]
    fn crop_shifts_and_pads_with_zeros() {
        let img = vec![9u8; 16]; // 1 × 4 × 4
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut out = vec![0; 16];
        let mut saw_pad = false;
        for _ in 0..20 {
            augment_into(&img, 1, 4, 4, &Augment { crop_padding: 2, ..Augment::default() }, &mut rng, &mut out);
            let zeros = out.iter().filter(|&&v| v == 0).count();
            assert!(out.iter().all(|&v| v == 0 || v == 9));
            assert!(zeros <= 16 - 4, "at most 2 rows and 2 columns are padding");
            saw_pad |= zeros > 0;
        }
        assert!(saw_pad);
    }

    #[test]
    fn erasing_fills_one_rectangle_of_the_papers_size_at_its_rate() {
        let (h, w) = (28, 28);
        let img = vec![7u8; 2 * h * w]; // 2 channels: both erased alike
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut out = vec![0; img.len()];
        let aug = Augment { erase: 0.5, ..Augment::default() };
        let mut erased = 0;
        for _ in 0..400 {
            augment_into(&img, 2, h, w, &aug, &mut rng, &mut out);
            let changed: Vec<usize> = (0..h * w).filter(|&i| out[i] != 7 || out[h * w + i] != 7).collect();
            if changed.is_empty() {
                assert_eq!(out, img);
                continue;
            }
            erased += 1;
            let (ys, xs): (Vec<usize>, Vec<usize>) = changed.iter().map(|&i| (i / w, i % w)).unzip();
            let (y0, y1) = (*ys.iter().min().unwrap(), *ys.iter().max().unwrap());
            let (x0, x1) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap());
            let rect = (y1 - y0 + 1) * (x1 - x0 + 1);
            // Random fill equals 7 now and then, so the changed pixels are most of one rectangle.
            assert!(changed.len() * 100 >= rect * 90, "one rectangle: {} of {rect}", changed.len());
            assert!(rect as f32 <= 0.45 * (h * w) as f32 && rect >= 4, "{rect} pixels");
        }
        assert!((160..240).contains(&erased), "about half the images: {erased} of 400");
    }

    #[test]
    fn settings_read_back_and_bad_probabilities_are_refused() {
        let a = Augment { crop_padding: 2, flip: true, erase: 0.5 };
        assert_eq!(a.describe(), "crop ±2 px + horizontal flip + random erasing p=0.5");
        assert_eq!(Augment::default().describe(), "none");
        assert!(a.validate().is_ok());
        let e = Augment { erase: 1.5, ..a }.validate().unwrap_err();
        assert!(e.starts_with("erase must be a probability"), "{e}");
    }
}
