//! A seeded, checkpointable random-number generator (ChaCha8), so a resumed search draws
//! exactly the numbers an uninterrupted one would.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// ChaCha8 stream whose position can be saved and restored.
#[derive(Debug, Clone)]
pub struct SeededRng {
    seed: u64,
    stream: u64,
    inner: ChaCha8Rng,
}

/// The saved position of a [`SeededRng`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: u64,
    pub stream: u64,
    pub word_pos: u128,
}

impl SeededRng {
    /// A generator for `seed`; different `stream`s give independent sequences.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream);
        SeededRng { seed, stream, inner }
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform index in 0..n (n ≥ 1).
    pub fn index(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n - 1)
    }

    /// The current position.
    pub fn state(&self) -> RngState {
        RngState { seed: self.seed, stream: self.stream, word_pos: self.inner.get_word_pos() }
    }

    /// Restore a saved position.
    pub fn from_state(s: RngState) -> Self {
        let mut r = SeededRng::new(s.seed, s.stream);
        r.inner.set_word_pos(s.word_pos);
        r
    }
}

/// Random search's and the mutation moves' uniform draws: `index` as above, a coin is
/// `uniform() < 0.5` (one word per draw either way, so seeded searches keep their sequences).
impl nas_space::Draw for SeededRng {
    fn index(&mut self, n: usize) -> usize {
        SeededRng::index(self, n)
    }
    fn coin(&mut self) -> bool {
        self.uniform() < 0.5
    }
}

pub(crate) use RngState as SavedRng;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_continues_the_stream() {
        let mut a = SeededRng::new(7, 0);
        for _ in 0..13 {
            a.uniform();
        }
        let mut b = SeededRng::from_state(a.state());
        let xs: Vec<f64> = (0..20).map(|_| a.uniform()).collect();
        let ys: Vec<f64> = (0..20).map(|_| b.uniform()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert_ne!(SeededRng::new(7, 1).uniform(), SeededRng::new(7, 0).uniform());
    }
}
