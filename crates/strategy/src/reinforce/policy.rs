//! The LSTM controller's forward pass (sampling or scoring a decision program) and its
//! hand-written backward pass through time.

use nas_space::{Action, Decision};

use crate::{Params, SeededRng, StrategyError};

/// The controller network: parameters plus the forward/backward passes.
#[derive(Debug, Clone, PartialEq)]
pub struct Controller {
    pub params: Params,
}

/// Activations of one LSTM layer at one step, kept for the backward pass.
#[derive(Debug, Clone)]
struct LayerCache {
    /// `[x; h_prev]`, length 2H.
    z: Vec<f64>,
    /// Gate activations i, f, g, o (after σ / tanh), length 4H.
    gates: Vec<f64>,
    c_prev: Vec<f64>,
    /// tanh(c), length H.
    tc: Vec<f64>,
}

/// Where a step's input came from (for routing its gradient).
#[derive(Debug, Clone, Copy)]
enum Input {
    Start,
    Token { token_type: usize, choice: usize },
    Anchor,
}

/// One sampled skip decision j → i.
#[derive(Debug, Clone)]
struct Link {
    /// The step whose top hidden state is h_j.
    from_step: usize,
    /// tanh(W_prev·h_j + W_curr·h_i), length H.
    tanh_u: Vec<f64>,
    /// The attention logit s = vᵀ tanh_u.
    s: f64,
    bit: bool,
}

#[derive(Debug, Clone)]
enum StepKind {
    Token { token_type: usize, probs: Vec<f64>, log_probs: Vec<f64>, entropy: f64, choice: usize },
    Anchor { links: Vec<Link> },
}

#[derive(Debug, Clone)]
struct Step {
    input: Input,
    layers: Vec<LayerCache>,
    /// Top-layer hidden state.
    h: Vec<f64>,
    kind: StepKind,
}

/// A walked decision program: the actions, their total log-probability and entropy, and the
/// activations needed to differentiate them.
#[derive(Debug, Clone)]
pub struct Trajectory {
    pub actions: Vec<Action>,
    /// Σ_t log P(a_t | a_<t).
    pub log_prob: f64,
    /// Σ_t entropy of the distribution each action was drawn from.
    pub entropy: f64,
    steps: Vec<Step>,
}

impl Trajectory {
    /// Number of decisions walked.
    pub fn steps_len(&self) -> usize {
        self.steps.len()
    }
}

enum Choose<'a> {
    Sample(&'a mut SeededRng),
    Given(&'a [Action]),
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// log σ(x), stable for large |x|.
fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 { -(-x).exp().ln_1p() } else { x - x.exp().ln_1p() }
}

/// a · b with eight independent partial sums, so the compiler can vectorise it (a plain
/// `sum()` is a serial dependency chain; this is ~3× faster on the controller's 70-wide rows).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// out = W x, W `[rows × cols]` row-major.
fn matvec(w: &[f64], cols: usize, x: &[f64], out: &mut [f64]) {
    for (r, o) in out.iter_mut().enumerate() {
        *o = dot(&w[r * cols..(r + 1) * cols], x);
    }
}

/// dx += Wᵀ dy.
fn matvec_t_acc(w: &[f64], cols: usize, dy: &[f64], dx: &mut [f64]) {
    for (r, &g) in dy.iter().enumerate() {
        if g == 0.0 {
            continue;
        }
        let row = &w[r * cols..(r + 1) * cols];
        for (d, &a) in dx.iter_mut().zip(row) {
            *d += a * g;
        }
    }
}

/// G += dy ⊗ x.
fn outer_acc(g: &mut [f64], cols: usize, dy: &[f64], x: &[f64]) {
    for (r, &d) in dy.iter().enumerate() {
        if d == 0.0 {
            continue;
        }
        let row = &mut g[r * cols..(r + 1) * cols];
        for (gv, &xv) in row.iter_mut().zip(x) {
            *gv += d * xv;
        }
    }
}

fn add_into(dst: &mut [f64], src: &[f64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

impl Controller {
    /// Sample one action per decision.
    pub fn sample(&self, decisions: &[Decision], rng: &mut SeededRng) -> Result<Trajectory, StrategyError> {
        self.run(decisions, Choose::Sample(rng))
    }

    /// Walk the program with the given actions (to recompute their log-probability).
    pub fn score(&self, decisions: &[Decision], actions: &[Action]) -> Result<Trajectory, StrategyError> {
        if actions.len() != decisions.len() {
            return Err(StrategyError::Mismatch(format!(
                "{} actions for {} decisions",
                actions.len(),
                decisions.len()
            )));
        }
        self.run(decisions, Choose::Given(actions))
    }

    fn run(&self, decisions: &[Decision], mut choose: Choose) -> Result<Trajectory, StrategyError> {
        let p = &self.params;
        let lay = &p.layout;
        let h = lay.hidden;
        let nl = lay.layers;
        let mut hs = vec![vec![0.0; h]; nl];
        let mut cs = vec![vec![0.0; h]; nl];
        let mut x = p.at(lay.start, h).to_vec();
        let mut input = Input::Start;
        // Per anchor already placed: (its step, W_prev·h_j).
        let mut anchors: Vec<(usize, Vec<f64>)> = Vec::new();
        let mut steps = Vec::with_capacity(decisions.len());
        let mut actions = Vec::with_capacity(decisions.len());
        let (mut log_prob, mut entropy) = (0.0, 0.0);
        let mut pre = vec![0.0; 4 * h];

        for (t, d) in decisions.iter().enumerate() {
            let mut layers = Vec::with_capacity(nl);
            let mut inp = x;
            for l in 0..nl {
                let (w, b) = lay.lstm[l];
                let mut z = inp;
                z.extend_from_slice(&hs[l]);
                matvec(p.at(w, 8 * h * h), 2 * h, &z, &mut pre);
                let bias = p.at(b, 4 * h);
                let mut gates = vec![0.0; 4 * h];
                for k in 0..4 * h {
                    let a = pre[k] + bias[k];
                    gates[k] = if (2 * h..3 * h).contains(&k) { a.tanh() } else { sigmoid(a) };
                }
                let c_prev = std::mem::take(&mut cs[l]);
                let mut c = vec![0.0; h];
                let mut tc = vec![0.0; h];
                let mut hn = vec![0.0; h];
                for k in 0..h {
                    c[k] = gates[h + k] * c_prev[k] + gates[k] * gates[2 * h + k];
                    tc[k] = c[k].tanh();
                    hn[k] = gates[3 * h + k] * tc[k];
                }
                cs[l] = c;
                hs[l] = hn.clone();
                layers.push(LayerCache { z, gates, c_prev, tc });
                inp = hn;
            }
            let top = inp;

            let (kind, action, next_x, next_input) = match *d {
                Decision::Token { token_type } => {
                    let tl = lay.tokens.get(token_type).ok_or_else(|| {
                        StrategyError::Mismatch(format!("decision {t} names unknown token type {token_type}"))
                    })?;
                    let v = tl.choices;
                    let mut logits = vec![0.0; v];
                    matvec(p.at(tl.cls_w, v * h), h, &top, &mut logits);
                    add_into(&mut logits, p.at(tl.cls_b, v));
                    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let lse = m + logits.iter().map(|l| (l - m).exp()).sum::<f64>().ln();
                    let log_probs: Vec<f64> = logits.iter().map(|l| l - lse).collect();
                    let probs: Vec<f64> = log_probs.iter().map(|l| l.exp()).collect();
                    let ent = -probs.iter().zip(&log_probs).map(|(p, l)| p * l).sum::<f64>();
                    let choice = match &mut choose {
                        Choose::Sample(rng) => {
                            let u = rng.uniform();
                            let mut acc = 0.0;
                            let mut k = v - 1;
                            for (i, p) in probs.iter().enumerate() {
                                acc += p;
                                if u < acc {
                                    k = i;
                                    break;
                                }
                            }
                            k
                        }
                        Choose::Given(a) => match a[t] {
                            Action::Token(k) if k < v => k,
                            ref other => {
                                return Err(StrategyError::Mismatch(format!(
                                    "decision {t}: {other:?} is not a choice of {v}"
                                )));
                            }
                        },
                    };
                    log_prob += log_probs[choice];
                    entropy += ent;
                    let next = p.at(tl.emb + choice * h, h).to_vec();
                    (
                        StepKind::Token { token_type, probs, log_probs, entropy: ent, choice },
                        Action::Token(choice),
                        next,
                        Input::Token { token_type, choice },
                    )
                }
                Decision::Anchor { layer } => {
                    if layer != anchors.len() {
                        return Err(StrategyError::Mismatch(format!(
                            "decision {t}: anchor of layer {layer} after {} anchors",
                            anchors.len()
                        )));
                    }
                    let mut wc_h = vec![0.0; h];
                    matvec(p.at(lay.w_curr, h * h), h, &top, &mut wc_h);
                    let vv = p.at(lay.v, h);
                    let mut links = Vec::with_capacity(layer);
                    let mut bits = Vec::with_capacity(layer);
                    for (j, (from_step, wp_h)) in anchors.iter().enumerate() {
                        let tanh_u: Vec<f64> = wp_h.iter().zip(&wc_h).map(|(a, b)| (a + b).tanh()).collect();
                        let s = dot(vv, &tanh_u);
                        let pr = sigmoid(s);
                        let bit = match &mut choose {
                            Choose::Sample(rng) => rng.uniform() < pr,
                            Choose::Given(a) => match &a[t] {
                                Action::Skips(f) if f.len() == layer => f[j],
                                other => {
                                    return Err(StrategyError::Mismatch(format!(
                                        "decision {t}: {other:?} is not {layer} skip flags"
                                    )));
                                }
                            },
                        };
                        log_prob += if bit { log_sigmoid(s) } else { log_sigmoid(-s) };
                        if pr > 0.0 && pr < 1.0 {
                            entropy -= pr * pr.ln() + (1.0 - pr) * (1.0 - pr).ln();
                        }
                        bits.push(bit);
                        links.push(Link { from_step: *from_step, tanh_u, s, bit });
                    }
                    let mut wp_h = vec![0.0; h];
                    matvec(p.at(lay.w_prev, h * h), h, &top, &mut wp_h);
                    anchors.push((t, wp_h));
                    (StepKind::Anchor { links }, Action::Skips(bits), p.at(lay.anchor_emb, h).to_vec(), Input::Anchor)
                }
            };
            steps.push(Step { input, layers, h: top, kind });
            actions.push(action);
            x = next_x;
            input = next_input;
        }
        Ok(Trajectory { actions, log_prob, entropy, steps })
    }

    /// Accumulate into `grad` the gradient of `coef_logp · log_prob + coef_ent · entropy` of a
    /// trajectory walked with these parameters.
    pub fn backward(&self, traj: &Trajectory, coef_logp: f64, coef_ent: f64, grad: &mut [f64]) {
        let p = &self.params;
        let lay = &p.layout;
        let h = lay.hidden;
        let nl = lay.layers;
        assert_eq!(grad.len(), lay.len);
        let n = traj.steps.len();
        // Gradient on each step's top hidden state coming from later anchors' attention.
        let mut dh_extra = vec![vec![0.0; h]; n];
        let mut dh_next = vec![vec![0.0; h]; nl];
        let mut dc_next = vec![vec![0.0; h]; nl];
        let mut dpre = vec![0.0; 4 * h];

        for t in (0..n).rev() {
            let step = &traj.steps[t];
            let mut dtop = std::mem::take(&mut dh_extra[t]);
            add_into(&mut dtop, &dh_next[nl - 1]);
            match &step.kind {
                StepKind::Token { token_type, probs, log_probs, entropy, choice } => {
                    let tl = &lay.tokens[*token_type];
                    let dlogits: Vec<f64> = (0..tl.choices)
                        .map(|k| {
                            let onehot = if k == *choice { 1.0 } else { 0.0 };
                            coef_logp * (onehot - probs[k]) - coef_ent * probs[k] * (log_probs[k] + entropy)
                        })
                        .collect();
                    outer_acc(&mut grad[tl.cls_w..tl.cls_w + tl.choices * h], h, &dlogits, &step.h);
                    add_into(&mut grad[tl.cls_b..tl.cls_b + tl.choices], &dlogits);
                    matvec_t_acc(p.at(tl.cls_w, tl.choices * h), h, &dlogits, &mut dtop);
                }
                StepKind::Anchor { links } => {
                    let vv = p.at(lay.v, h);
                    for link in links {
                        let pr = sigmoid(link.s);
                        let b = if link.bit { 1.0 } else { 0.0 };
                        let ds = coef_logp * (b - pr) - coef_ent * link.s * pr * (1.0 - pr);
                        add_into(&mut grad[lay.v..lay.v + h], &link.tanh_u.iter().map(|u| ds * u).collect::<Vec<_>>());
                        let du: Vec<f64> =
                            (0..h).map(|k| ds * vv[k] * (1.0 - link.tanh_u[k] * link.tanh_u[k])).collect();
                        let hj = &traj.steps[link.from_step].h;
                        outer_acc(&mut grad[lay.w_prev..lay.w_prev + h * h], h, &du, hj);
                        matvec_t_acc(p.at(lay.w_prev, h * h), h, &du, &mut dh_extra[link.from_step]);
                        outer_acc(&mut grad[lay.w_curr..lay.w_curr + h * h], h, &du, &step.h);
                        matvec_t_acc(p.at(lay.w_curr, h * h), h, &du, &mut dtop);
                    }
                }
            }

            // Back through the LSTM stack, top to bottom.
            let mut dh_l = dtop;
            for l in (0..nl).rev() {
                let cache = &step.layers[l];
                let g = &cache.gates;
                for k in 0..h {
                    let (i, f, gg, o) = (g[k], g[h + k], g[2 * h + k], g[3 * h + k]);
                    let tc = cache.tc[k];
                    let dc = dc_next[l][k] + dh_l[k] * o * (1.0 - tc * tc);
                    dpre[k] = dc * gg * i * (1.0 - i);
                    dpre[h + k] = dc * cache.c_prev[k] * f * (1.0 - f);
                    dpre[2 * h + k] = dc * i * (1.0 - gg * gg);
                    dpre[3 * h + k] = dh_l[k] * tc * o * (1.0 - o);
                    dc_next[l][k] = dc * f;
                }
                let (w, b) = lay.lstm[l];
                outer_acc(&mut grad[w..w + 8 * h * h], 2 * h, &dpre, &cache.z);
                add_into(&mut grad[b..b + 4 * h], &dpre);
                let mut dz = vec![0.0; 2 * h];
                matvec_t_acc(p.at(w, 8 * h * h), 2 * h, &dpre, &mut dz);
                dh_next[l] = dz[h..].to_vec();
                dz.truncate(h);
                if l > 0 {
                    dh_l = dz;
                    add_into(&mut dh_l, &dh_next[l - 1]);
                } else {
                    // dz is now the gradient on this step's input x_t.
                    let off = match step.input {
                        Input::Start => lay.start,
                        Input::Token { token_type, choice } => lay.tokens[token_type].emb + choice * h,
                        Input::Anchor => lay.anchor_emb,
                    };
                    add_into(&mut grad[off..off + h], &dz);
                    dh_l = Vec::new();
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // finite differences index parameters by number
mod tests {
    use super::*;
    use crate::{Layout, Params};
    use nas_space::{CnnSpace, SearchSpace};

    fn tiny(hidden: usize, layers: usize, space: &SearchSpace, seed: u64) -> Controller {
        let choices: Vec<usize> = space.token_types().iter().map(|t| t.choices).collect();
        // A wide init range makes the distributions far from uniform, a sharper test.
        let params = Params::uniform(Layout::new(hidden, layers, &choices), 0.8, &mut SeededRng::new(seed, 1));
        Controller { params }
    }

    fn cnn() -> SearchSpace {
        SearchSpace::Cnn(CnnSpace { strides: vec![1, 2], ..CnnSpace::default() })
    }

    #[test]
    fn sampled_log_prob_matches_a_direct_recomputation() {
        let space = cnn();
        let c = tiny(6, 2, &space, 3);
        let decisions = space.decisions(5);
        let mut rng = SeededRng::new(11, 0);
        for _ in 0..20 {
            let tr = c.sample(&decisions, &mut rng).unwrap();
            // Scoring the same actions walks the same states.
            let again = c.score(&decisions, &tr.actions).unwrap();
            assert_eq!(tr.log_prob, again.log_prob);
            // Independent recomputation from the stored per-step distributions.
            let mut direct = 0.0;
            for s in &tr.steps {
                match &s.kind {
                    StepKind::Token { probs, choice, .. } => direct += probs[*choice].ln(),
                    StepKind::Anchor { links } => {
                        for l in links {
                            let p = 1.0 / (1.0 + (-l.s).exp());
                            direct += if l.bit { p.ln() } else { (1.0 - p).ln() };
                        }
                    }
                }
            }
            assert!((direct - tr.log_prob).abs() < 1e-9, "{direct} vs {}", tr.log_prob);
            assert!(tr.log_prob < 0.0 && tr.entropy > 0.0);
            // Skip decisions contribute: layer 4's anchor has 4 links.
            let anchors = tr.steps.iter().filter(|s| matches!(s.kind, StepKind::Anchor { .. })).count();
            assert_eq!(anchors, 5);
        }
    }

    #[test]
    fn total_probability_over_a_small_program_is_one() {
        // A program small enough to enumerate: two tokens (2 and 3 choices) and three anchors.
        let layout = Layout::new(4, 2, &[2, 3]);
        let c = Controller { params: Params::uniform(layout, 0.8, &mut SeededRng::new(5, 1)) };
        let decisions = [
            Decision::Token { token_type: 0 },
            Decision::Anchor { layer: 0 },
            Decision::Token { token_type: 1 },
            Decision::Anchor { layer: 1 },
            Decision::Anchor { layer: 2 },
        ];
        let mut total = 0.0;
        for a in 0..2 {
            for b in 0..3 {
                for s1 in [false, true] {
                    for s2 in [false, true] {
                        for s3 in [false, true] {
                            let acts = vec![
                                Action::Token(a),
                                Action::Skips(vec![]),
                                Action::Token(b),
                                Action::Skips(vec![s1]),
                                Action::Skips(vec![s2, s3]),
                            ];
                            total += c.score(&decisions, &acts).unwrap().log_prob.exp();
                        }
                    }
                }
            }
        }
        assert!((total - 1.0).abs() < 1e-12, "{total}");
    }

    fn check_gradient(coef_logp: f64, coef_ent: f64) {
        let space = cnn();
        let c = tiny(4, 2, &space, 8);
        let decisions = space.decisions(4);
        let tr = c.sample(&decisions, &mut SeededRng::new(2, 0)).unwrap();
        let f = |c: &Controller| {
            let t = c.score(&decisions, &tr.actions).unwrap();
            coef_logp * t.log_prob + coef_ent * t.entropy
        };
        let mut grad = vec![0.0; c.params.values.len()];
        c.backward(&tr, coef_logp, coef_ent, &mut grad);
        let eps = 1e-6;
        let mut worst: f64 = 0.0;
        for i in 0..grad.len() {
            let mut plus = c.clone();
            plus.params.values[i] += eps;
            let mut minus = c.clone();
            minus.params.values[i] -= eps;
            let fd = (f(&plus) - f(&minus)) / (2.0 * eps);
            let err = (fd - grad[i]).abs() / (1e-4 + fd.abs().max(grad[i].abs()));
            worst = worst.max(err);
            assert!(err < 1e-4, "param {i}: analytic {} vs finite difference {fd}", grad[i]);
        }
        assert!(grad.iter().filter(|g| **g != 0.0).count() > grad.len() / 2);
        assert!(worst < 1e-4);
    }

    #[test]
    fn log_prob_gradient_matches_finite_differences() {
        check_gradient(1.0, 0.0);
    }

    #[test]
    fn entropy_gradient_matches_finite_differences() {
        check_gradient(0.0, 1.0);
        check_gradient(-0.7, 0.3);
    }

    #[test]
    fn mismatched_actions_are_errors() {
        let space = cnn();
        let c = tiny(4, 1, &space, 1);
        let d = space.decisions(2);
        assert!(c.score(&d, &[Action::Token(0)]).is_err());
        let mut acts = c.sample(&d, &mut SeededRng::new(1, 0)).unwrap().actions;
        acts[0] = Action::Token(99);
        assert!(c.score(&d, &acts).unwrap_err().to_string().contains("not a choice"));
    }
}
