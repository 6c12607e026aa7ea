//! Random draws and one-decision moves over a decision program, shared by random search,
//! evolution and local search.
//!
//! A *unit* is one thing a move can change: a token decision with at least two choices, or one
//! skip flag of an anchor. A mutation re-draws one unit (a token gets a different value, a flag
//! flips); a depth move adds or drops one layer of a CNN program, keeping the other layers and
//! the skip connections between them.

use nas_space::{Action, Decision};

use crate::{SeededRng, StrategyError};

/// A uniform draw: every token uniform over its choices, every skip flag a fair coin
/// ([`nas_space::uniform_actions`]). Returns the actions and their log-probability under that
/// distribution.
pub fn uniform(
    decisions: &[Decision],
    token_choices: &[usize],
    rng: &mut SeededRng,
) -> Result<(Vec<Action>, f64), StrategyError> {
    nas_space::uniform_actions(decisions, token_choices, rng).map_err(|e| StrategyError::Mismatch(e.to_string()))
}

/// A uniform draw that `seen` does not hold: up to `tries` draws, the last one let through
/// even if seen (the search then reuses its earlier result).
pub fn uniform_unseen(
    decisions: &[Decision],
    token_choices: &[usize],
    rng: &mut SeededRng,
    tries: usize,
    seen: impl Fn(&[Action]) -> bool,
) -> Result<(Vec<Action>, f64), StrategyError> {
    let mut draw = uniform(decisions, token_choices, rng)?;
    for _ in 1..tries {
        if !seen(&draw.0) {
            break;
        }
        draw = uniform(decisions, token_choices, rng)?;
    }
    Ok(draw)
}

fn choices_of(token_choices: &[usize], token_type: usize) -> Result<usize, StrategyError> {
    token_choices
        .get(token_type)
        .copied()
        .ok_or_else(|| StrategyError::Mismatch(format!("unknown token type {token_type}")))
}

/// One unit a move can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// The token at this action index.
    Token(usize),
    /// Flag `flag` of the anchor at this action index.
    Skip(usize, usize),
}

/// Every unit of `actions` (which follow `decisions`).
pub fn units(decisions: &[Decision], actions: &[Action], token_choices: &[usize]) -> Result<Vec<Unit>, StrategyError> {
    check(decisions, actions)?;
    let mut out = Vec::new();
    for (i, (d, a)) in decisions.iter().zip(actions).enumerate() {
        match (d, a) {
            (Decision::Token { token_type }, Action::Token(_)) => {
                if choices_of(token_choices, *token_type)? > 1 {
                    out.push(Unit::Token(i));
                }
            }
            (Decision::Anchor { .. }, Action::Skips(flags)) => out.extend((0..flags.len()).map(|f| Unit::Skip(i, f))),
            _ => unreachable!("checked"),
        }
    }
    Ok(out)
}

/// Actions must follow the program decision by decision.
fn check(decisions: &[Decision], actions: &[Action]) -> Result<(), StrategyError> {
    let fits = decisions.len() == actions.len()
        && decisions.iter().zip(actions).all(|(d, a)| match (d, a) {
            (Decision::Token { .. }, Action::Token(_)) => true,
            (Decision::Anchor { layer }, Action::Skips(f)) => f.len() == *layer,
            _ => false,
        });
    if fits {
        Ok(())
    } else {
        Err(StrategyError::Mismatch(format!(
            "{} actions do not follow the decision program of {} decisions",
            actions.len(),
            decisions.len()
        )))
    }
}

/// Every neighbour of `actions` that changes one unit: each other value of each token, each
/// skip flag flipped. In program order.
pub fn neighbours(
    decisions: &[Decision],
    actions: &[Action],
    token_choices: &[usize],
) -> Result<Vec<Vec<Action>>, StrategyError> {
    let mut out = Vec::new();
    for unit in units(decisions, actions, token_choices)? {
        match unit {
            Unit::Token(i) => {
                let Decision::Token { token_type } = decisions[i] else { unreachable!() };
                let Action::Token(now) = actions[i] else { unreachable!() };
                for v in (0..token_choices[token_type]).filter(|&v| v != now) {
                    let mut n = actions.to_vec();
                    n[i] = Action::Token(v);
                    out.push(n);
                }
            }
            Unit::Skip(i, f) => out.push(flip(actions, i, f)),
        }
    }
    Ok(out)
}

fn flip(actions: &[Action], i: usize, f: usize) -> Vec<Action> {
    let mut n = actions.to_vec();
    if let Action::Skips(flags) = &mut n[i] {
        flags[f] = !flags[f];
    }
    n
}

/// Re-draw one unit chosen uniformly (a token gets a different value, a flag flips). A program
/// without units comes back unchanged.
pub fn mutate(
    decisions: &[Decision],
    actions: &[Action],
    token_choices: &[usize],
    rng: &mut SeededRng,
) -> Result<Vec<Action>, StrategyError> {
    let units = units(decisions, actions, token_choices)?;
    if units.is_empty() {
        return Ok(actions.to_vec());
    }
    Ok(match units[rng.index(units.len())] {
        Unit::Token(i) => {
            let Decision::Token { token_type } = decisions[i] else { unreachable!() };
            let Action::Token(now) = actions[i] else { unreachable!() };
            // A different value, uniform over the others.
            let other = rng.index(token_choices[token_type] - 1);
            let mut n = actions.to_vec();
            n[i] = Action::Token(if other >= now { other + 1 } else { other });
            n
        }
        Unit::Skip(i, f) => flip(actions, i, f),
    })
}

/// Split a layered program's actions into per-layer blocks of `per_layer` actions.
fn layers(actions: &[Action], per_layer: usize) -> Vec<Vec<Action>> {
    actions.chunks(per_layer).map(<[Action]>::to_vec).collect()
}

/// Insert a fresh random layer at a random position of a layered program (`layer_decisions`:
/// one layer's decisions, the anchor, if any, last). Later layers get a flag for the new layer,
/// off, so every connection that existed is kept.
pub fn add_layer(
    actions: &[Action],
    layer_decisions: &[Decision],
    token_choices: &[usize],
    rng: &mut SeededRng,
) -> Result<Vec<Action>, StrategyError> {
    let per = layer_decisions.len().max(1);
    let mut blocks = layers(actions, per);
    let at = rng.index(blocks.len() + 1);
    // The new layer's tokens are uniform; its anchor (flags for the `at` layers below it) too.
    let own: Vec<Decision> = layer_decisions
        .iter()
        .map(|d| match d {
            Decision::Anchor { .. } => Decision::Anchor { layer: at },
            t => *t,
        })
        .collect();
    let (fresh, _) = uniform(&own, token_choices, rng)?;
    for block in blocks.iter_mut().skip(at) {
        if let Some(Action::Skips(flags)) = block.last_mut() {
            flags.insert(at, false);
        }
    }
    blocks.insert(at, fresh);
    Ok(blocks.concat())
}

/// Drop one layer chosen uniformly; later layers lose their flag for it (connections through
/// it are not rerouted).
pub fn drop_layer(actions: &[Action], per_layer: usize, rng: &mut SeededRng) -> Vec<Action> {
    let mut blocks = layers(actions, per_layer.max(1));
    if blocks.len() <= 1 {
        return actions.to_vec();
    }
    let at = rng.index(blocks.len());
    blocks.remove(at);
    for block in blocks.iter_mut().skip(at) {
        if let Some(Action::Skips(flags)) = block.last_mut() {
            flags.remove(at);
        }
    }
    blocks.concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_space::{CnnSpace, SearchSpace};

    #[test]
    fn neighbours_and_mutations_change_exactly_one_unit() {
        let space = SearchSpace::Cnn(CnnSpace::default());
        let choices: Vec<usize> = space.token_types().iter().map(|t| t.choices).collect();
        let d = space.decisions(3);
        let mut rng = SeededRng::new(1, 0);
        let (a, _) = uniform(&d, &choices, &mut rng).unwrap();
        let units = units(&d, &a, &choices).unwrap();
        let tokens: usize = d
            .iter()
            .map(|x| match x {
                Decision::Token { token_type } => choices[*token_type] - 1,
                Decision::Anchor { .. } => 0,
            })
            .sum();
        let n = neighbours(&d, &a, &choices).unwrap();
        assert_eq!(n.len(), tokens + 3, "every other token value and the 0 + 1 + 2 skip flags");
        let diff = |x: &[Action]| {
            let ints = |y: &[Action]| Action::to_ints(y).concat();
            ints(x).iter().zip(ints(&a)).filter(|(p, q)| **p != *q).count()
        };
        assert!(n.iter().all(|x| diff(x) == 1 && space.decode(x).is_ok()));
        for _ in 0..50 {
            let m = mutate(&d, &a, &choices, &mut rng).unwrap();
            assert_eq!(diff(&m), 1);
        }
        assert!(!units.is_empty());
        // Actions of another program are refused.
        assert!(mutate(&space.decisions(2), &a, &choices, &mut rng).is_err());
    }

    #[test]
    fn layers_are_added_and_dropped_keeping_the_other_connections() {
        let space = SearchSpace::Cnn(CnnSpace::default());
        let choices: Vec<usize> = space.token_types().iter().map(|t| t.choices).collect();
        let one = space.decisions(1);
        let mut rng = SeededRng::new(2, 0);
        let (a, _) = uniform(&space.decisions(4), &choices, &mut rng).unwrap();
        for _ in 0..30 {
            let grown = add_layer(&a, &one, &choices, &mut rng).unwrap();
            let nas_space::Architecture::Cnn(g) = space.decode(&grown).unwrap() else { unreachable!() };
            assert_eq!(g.layers.len(), 5);
            let shrunk = drop_layer(&grown, one.len(), &mut rng);
            assert_eq!(shrunk.len(), a.len());
            assert!(space.decode(&shrunk).is_ok());
        }
        // Dropping the layer just added gives the parent back (some seed drops that one).
        let grown = add_layer(&a, &one, &choices, &mut SeededRng::new(3, 0)).unwrap();
        assert!((0..200).any(|s| drop_layer(&grown, one.len(), &mut SeededRng::new(s, 0)) == a));
    }
}
