//! [`Seen`]: the architectures a strategy has drawn, as 64-bit fingerprints of their actions, so
//! random search draws without replacement and evolution and local search do not propose an
//! architecture twice. A fingerprint is FNV-1a over a fixed encoding of the actions: the same on
//! every machine and build, so a resumed search sees the same set.

use std::collections::BTreeSet;

use nas_space::Action;
use serde::{Deserialize, Serialize};

/// The fingerprint of a sample's actions.
pub fn fingerprint(actions: &[Action]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(PRIME);
        }
    };
    eat(actions.len() as u64);
    for a in actions {
        match a {
            Action::Token(i) => {
                eat(0);
                eat(*i as u64);
            }
            Action::Skips(flags) => {
                eat(1);
                eat(flags.len() as u64);
                for chunk in flags.chunks(64) {
                    eat(chunk.iter().enumerate().fold(0u64, |w, (i, &f)| w | ((f as u64) << i)));
                }
            }
        }
    }
    h
}

/// A set of fingerprints (ordered, so its checkpoint bytes do not depend on hashing order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen(BTreeSet<u64>);

impl Seen {
    /// Whether these actions were drawn before.
    pub fn contains(&self, actions: &[Action]) -> bool {
        self.0.contains(&fingerprint(actions))
    }

    /// Remember these actions; false when they were already there.
    pub fn insert(&mut self, actions: &[Action]) -> bool {
        self.0.insert(fingerprint(actions))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_actions_apart_and_repeat_exactly() {
        let a = vec![Action::Token(1), Action::Skips(vec![true, false])];
        let b = vec![Action::Token(1), Action::Skips(vec![false, true])];
        let c = vec![Action::Token(1), Action::Skips(vec![true, false, false])];
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c), "a trailing false flag is another architecture");
        assert_ne!(fingerprint(&[Action::Token(0)]), fingerprint(&[Action::Skips(vec![])]));
        let mut s = Seen::default();
        assert!(s.insert(&a) && !s.insert(&a) && s.insert(&b));
        assert!(s.contains(&b) && !s.contains(&c));
        assert_eq!(s.len(), 2);
    }
}
