//! CIFAR-style augmentation on CHW bytes: random crop after zero padding, random horizontal flip.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// Augmentation settings. The default (all off) suits MNIST-like data; CIFAR uses
/// `crop_padding = 4, flip = true`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augment {
    /// Pad by this many zero pixels on each side, then crop back to size at a random offset.
    pub crop_padding: usize,
    /// Mirror left-right with probability ½.
    pub flip: bool,
}

impl Augment {
    /// Whether any augmentation is on.
    pub fn is_active(&self) -> bool {
        self.crop_padding > 0 || self.flip
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
            augment_into(&img, 1, 3, 4, &Augment { crop_padding: 0, flip: true }, &mut rng, &mut out);
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
            augment_into(&img, 1, 4, 4, &Augment { crop_padding: 2, flip: false }, &mut rng, &mut out);
            let zeros = out.iter().filter(|&&v| v == 0).count();
            assert!(out.iter().all(|&v| v == 0 || v == 9));
            assert!(zeros <= 16 - 4, "at most 2 rows and 2 columns are padding");
            saw_pad |= zeros > 0;
        }
        assert!(saw_pad);
    }
}
