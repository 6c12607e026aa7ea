//! The uniform distribution over a decision program: every token uniform over its choices, every
//! skip flag a fair coin. Random search, the mutation moves and the one-shot warm-up all draw from
//! it; each brings its own generator through [`Draw`], so this crate needs no RNG.

use crate::{Action, Decision, SpaceError};

/// A source of the two uniform draws the distribution needs.
pub trait Draw {
    /// Uniform index in `0..n` (`n ≥ 1`).
    fn index(&mut self, n: usize) -> usize;
    /// A fair coin.
    fn coin(&mut self) -> bool;
}

/// One uniform draw of `decisions` (token type `t` has `token_choices[t]` choices), with its
/// log-probability under the distribution.
pub fn uniform_actions(
    decisions: &[Decision],
    token_choices: &[usize],
    draw: &mut impl Draw,
) -> Result<(Vec<Action>, f64), SpaceError> {
    let mut actions = Vec::with_capacity(decisions.len());
    let mut log_prob = 0.0;
    for d in decisions {
        match *d {
            Decision::Token { token_type } => {
                let v = token_choices
                    .get(token_type)
                    .copied()
                    .filter(|&v| v >= 1)
                    .ok_or_else(|| SpaceError::Actions(format!("unknown or empty token type {token_type}")))?;
                actions.push(Action::Token(draw.index(v)));
                log_prob -= (v as f64).ln();
            }
            Decision::Anchor { layer } => {
                actions.push(Action::Skips((0..layer).map(|_| draw.coin()).collect()));
                log_prob -= layer as f64 * std::f64::consts::LN_2;
            }
        }
    }
    Ok((actions, log_prob))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter: indices cycle, coins alternate.
    struct Counter(usize);

    impl Draw for Counter {
        fn index(&mut self, n: usize) -> usize {
            self.0 += 1;
            self.0 % n
        }
        fn coin(&mut self) -> bool {
            self.0 += 1;
            self.0.is_multiple_of(2)
        }
    }

    #[test]
    fn a_draw_follows_the_program_and_its_log_probability_is_the_uniform_one() {
        let program =
            [Decision::Token { token_type: 0 }, Decision::Token { token_type: 1 }, Decision::Anchor { layer: 2 }];
        let (actions, log_prob) = uniform_actions(&program, &[4, 3], &mut Counter(0)).unwrap();
        assert_eq!(actions, vec![Action::Token(1), Action::Token(2), Action::Skips(vec![false, true])]);
        let expected = -(4f64.ln() + 3f64.ln() + 2.0 * 2f64.ln());
        assert!((log_prob - expected).abs() < 1e-12);
    }

    #[test]
    fn an_unknown_or_empty_token_type_is_an_error_naming_it() {
        let program = [Decision::Token { token_type: 2 }];
        assert!(uniform_actions(&program, &[4, 3], &mut Counter(0)).unwrap_err().to_string().contains("token type 2"));
        assert!(uniform_actions(&program, &[4, 3, 0], &mut Counter(0)).is_err());
    }
}
