//! [`LanguageModel`]: the child of the recurrent-cell search — embedding, N recurrent layers of
//! one cell kind, dropout, and a decoder (optionally tied to the embedding) over the vocabulary.
//! Input `[batch, time]` token ids, output logits `[batch·time, vocab]`; the recurrent state
//! (h, c per layer) is carried between segments by the trainer (truncated BPTT).
//!
//! Dropout masks come from the caller ([`MaskSource`]) rather than burn's process-wide random
//! generator, so a model trained beside others in parallel workers still depends on its own
//! seed only. Without a mask source (evaluation) there is no dropout.

use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::TensorData;
use serde::{Deserialize, Serialize};

use super::cell::{CellKind, RecurrentCell};
use crate::kernels::{Kernels, decoder_cross_entropy};

/// Sizes and regularisation of the child language model. Defaults: Zaremba et al.'s "medium"
/// PTB model, which the paper's search used for its children (2 layers of 650, dropout 0.5).
/// Largest `lm.embed` / `lm.hidden`.
pub const MAX_LM_WIDTH: usize = 16_384;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmConfig {
    /// Embedding width (must equal `hidden` when `tie_weights`). Default 650.
    pub embed: usize,
    /// Units per recurrent layer. Default 650.
    pub hidden: usize,
    /// Recurrent layers. Default 2.
    pub layers: usize,
    /// Dropout on the embedding output. Default 0.5.
    pub dropout_embedding: f64,
    /// Dropout between layers and before the decoder. Default 0.5.
    pub dropout_output: f64,
    /// Variational dropout on h_{t-1} (one mask per segment). Default 0.
    pub dropout_recurrent: f64,
    /// Decoder weights = embedding weights (Press & Wolf). Default false (the paper's era).
    pub tie_weights: bool,
    /// Weights are drawn from U(−s, s). Default 0.05.
    pub init_scale: f64,
    /// `fast` (default): the recurrent layers and the decoder's softmax loss on the project's
    /// CPU kernels where tensors live on `flex`; `burn`: burn's operations step by step.
    pub kernels: Kernels,
}

impl Default for LmConfig {
    fn default() -> Self {
        LmConfig {
            embed: 650,
            hidden: 650,
            layers: 2,
            dropout_embedding: 0.5,
            dropout_output: 0.5,
            dropout_recurrent: 0.0,
            tie_weights: false,
            init_scale: 0.05,
            kernels: Kernels::Fast,
        }
    }
}

impl LmConfig {
    /// Check the sizes; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        use nas_space::limits::count;
        count("lm.embed", self.embed, 1, MAX_LM_WIDTH)?;
        count("lm.hidden", self.hidden, 1, MAX_LM_WIDTH)?;
        count("lm.layers", self.layers, 1, 64)?;
        if self.tie_weights && self.embed != self.hidden {
            return Err(format!("lm.tie_weights needs lm.embed = lm.hidden (got {} and {})", self.embed, self.hidden));
        }
        for (name, p) in [
            ("dropout_embedding", self.dropout_embedding),
            ("dropout_output", self.dropout_output),
            ("dropout_recurrent", self.dropout_recurrent),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("lm.{name} = {p}: must be in [0, 1)"));
            }
        }
        if self.init_scale.is_nan() || self.init_scale <= 0.0 {
            return Err(format!("lm.init_scale = {}: must be positive", self.init_scale));
        }
        Ok(())
    }

    /// Trainable parameters of a model over `vocab` tokens with cells projecting into `slices`.
    pub fn params(&self, vocab: usize, slices: usize) -> u64 {
        let mut p = vocab * self.embed + vocab;
        if !self.tie_weights {
            p += self.hidden * vocab;
        }
        for l in 0..self.layers {
            let input = if l == 0 { self.embed } else { self.hidden };
            p += (input + 1) * slices * self.hidden + self.hidden * slices * self.hidden;
        }
        p as u64
    }

    /// This configuration with its hidden size (and embedding, when tied) changed so that a
    /// model with `slices`-slice cells has as close to `target` parameters as possible: an
    /// LSTM (4 slices) as large as a tree cell of base 8, say.
    pub fn matching(&self, vocab: usize, slices: usize, target: u64) -> LmConfig {
        let resized = |h: usize| {
            let mut m = self.clone();
            m.hidden = h;
            if m.tie_weights {
                m.embed = h;
            }
            m
        };
        let best =
            (1..=16_384).min_by_key(|&h| resized(h).params(vocab, slices).abs_diff(target)).unwrap_or(self.hidden);
        resized(best)
    }
}

/// The recurrent state of every layer: (h, c), each `[batch, hidden]`.
pub type LmState = Vec<(Tensor<2>, Tensor<2>)>;

/// Dropout masks during training: `(n, keep)` → `n` values, each `1/keep` with probability
/// `keep`, else 0.
pub type MaskSource<'a> = &'a mut dyn FnMut(usize, f64) -> Vec<f32>;

/// Inverted dropout with a mask from `masks` (none: identity).
fn dropout<const D: usize>(x: Tensor<D>, p: f64, masks: &mut Option<MaskSource>) -> Tensor<D> {
    let Some(source) = masks.as_mut().filter(|_| p > 0.0) else { return x };
    let dims = x.dims();
    let mask = source(dims.iter().product(), 1.0 - p);
    let mask = Tensor::<D>::from_data(TensorData::new(mask, dims), &x.device());
    x * mask
}

/// Embedding → recurrent layers → decoder.
#[derive(Module, Debug)]
pub struct LanguageModel {
    embedding: Embedding,
    layers: Vec<RecurrentCell>,
    #[module(skip)]
    dropout: [f64; 3],
    /// `[hidden, vocab]`, absent when tied to the embedding.
    decoder: Option<Linear>,
    decoder_bias: Param<Tensor<1>>,
    #[module(skip)]
    kernels: Kernels,
}

impl LanguageModel {
    pub fn new(kind: &CellKind, vocab: usize, cfg: &LmConfig, device: &Device) -> Self {
        let s = cfg.init_scale;
        let init = Initializer::Uniform { min: -s, max: s };
        let layers = (0..cfg.layers)
            .map(|l| {
                let input = if l == 0 { cfg.embed } else { cfg.hidden };
                RecurrentCell::new(kind.clone(), input, cfg.hidden, &init, device)
            })
            .collect();
        LanguageModel {
            embedding: EmbeddingConfig::new(vocab, cfg.embed).with_initializer(init.clone()).init(device),
            layers,
            dropout: [cfg.dropout_embedding, cfg.dropout_output, cfg.dropout_recurrent],
            decoder: (!cfg.tie_weights)
                .then(|| LinearConfig::new(cfg.hidden, vocab).with_bias(false).with_initializer(init).init(device)),
            decoder_bias: Param::from_tensor(Tensor::zeros([vocab], device)),
            kernels: cfg.kernels,
        }
    }

    /// Zero state for `batch` sequences.
    pub fn zero_state(&self, batch: usize, device: &Device) -> LmState {
        self.layers
            .iter()
            .map(|l| (Tensor::zeros([batch, l.hidden()], device), Tensor::zeros([batch, l.hidden()], device)))
            .collect()
    }

    /// Token ids `[batch, time]` and the state → logits `[batch·time, vocab]` and the new state.
    /// With `masks` (training), dropout as configured; without, none.
    pub fn forward(&self, tokens: Tensor<2, Int>, state: LmState, masks: Option<MaskSource>) -> (Tensor<2>, LmState) {
        let (x, state) = self.hidden_states(tokens, state, masks);
        (self.decode(x), state)
    }

    /// Mean cross-entropy (nats per token) of `targets` (`[batch·time]`, row-major like the
    /// logits) and the new state. On [`Kernels::Fast`] over `flex` the decoder, softmax and loss
    /// are one fused operation; otherwise burn's decoder and `CrossEntropyLoss`.
    pub fn loss(
        &self,
        tokens: Tensor<2, Int>,
        targets: Tensor<1, Int>,
        state: LmState,
        masks: Option<MaskSource>,
    ) -> (Tensor<1>, LmState) {
        let (x, state) = self.hidden_states(tokens, state, masks);
        let fused = self.kernels.run(|| {
            let ids: Vec<u32> = targets.clone().into_data().convert::<i64>().iter::<i64>().map(|t| t as u32).collect();
            let bias = self.decoder_bias.val();
            match &self.decoder {
                Some(d) => decoder_cross_entropy(&x, &d.weight.val(), &bias, &ids, false),
                None => decoder_cross_entropy(&x, &self.embedding.weight.val(), &bias, &ids, true),
            }
        });
        let loss = fused.unwrap_or_else(|| {
            let device = x.device();
            burn::nn::loss::CrossEntropyLossConfig::new().init(&device).forward(self.decode(x), targets)
        });
        (loss, state)
    }

    /// Embedding → recurrent layers (dropout as configured when `masks` is given) → the last
    /// layer's outputs `[batch·time, hidden]` and the new state.
    fn hidden_states(
        &self,
        tokens: Tensor<2, Int>,
        state: LmState,
        mut masks: Option<MaskSource>,
    ) -> (Tensor<2>, LmState) {
        let [batch, time] = tokens.dims();
        let [p_embedding, p_output, p_recurrent] = self.dropout;
        let mut x = dropout(self.embedding.forward(tokens), p_embedding, &mut masks);
        let mut next_state = Vec::with_capacity(self.layers.len());
        for (layer, (h, c)) in self.layers.iter().zip(state) {
            let xp = layer.project_inputs(x);
            let mask =
                masks.as_mut().filter(|_| p_recurrent > 0.0).map(|s| s(batch * layer.hidden(), 1.0 - p_recurrent));
            let (hs, h, c) = layer.run(xp, h, c, mask, self.kernels);
            next_state.push((h, c));
            x = dropout(hs, p_output, &mut masks);
        }
        let hidden = x.dims()[2];
        (x.reshape([batch * time, hidden]), next_state)
    }

    /// `[rows, hidden]` → logits `[rows, vocab]`.
    fn decode(&self, x: Tensor<2>) -> Tensor<2> {
        let logits = match &self.decoder {
            Some(d) => d.forward(x),
            None => x.matmul(self.embedding.weight.val().transpose()),
        };
        logits + self.decoder_bias.val().unsqueeze_dim(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_space::RnnCell;

    #[test]
    fn shapes_and_parameter_count() {
        let device = Device::default();
        let cfg = LmConfig { embed: 8, hidden: 6, layers: 2, ..LmConfig::default() };
        let cell: RnnCell = "add:tanh mul:relu mul:sigmoid | add:relu | c=1 inject=0".parse().unwrap();
        let kind = CellKind::Tree(cell);
        let lm = LanguageModel::new(&kind, 11, &cfg, &device);
        let tokens = Tensor::<2, Int>::from_ints([[1, 2, 3], [4, 5, 6]], &device);
        let (logits, state) = lm.forward(tokens, lm.zero_state(2, &device), None);
        assert_eq!(logits.dims(), [6, 11]);
        assert_eq!(state.len(), 2);
        assert_eq!(state[1].0.dims(), [2, 6]);
        assert_eq!(lm.num_params() as u64, cfg.params(11, 2));
        let tied = LmConfig { embed: 6, tie_weights: true, ..cfg };
        let lm = LanguageModel::new(&CellKind::Lstm, 11, &tied, &device);
        assert_eq!(lm.num_params() as u64, tied.params(11, 4));
    }

    #[test]
    fn matching_parameter_counts() {
        let cfg = LmConfig { embed: 64, hidden: 64, layers: 1, ..LmConfig::default() };
        let target = cfg.params(10_000, 8);
        let lstm = cfg.matching(10_000, 4, target);
        assert!(lstm.hidden > 64, "an LSTM has half the slices, so more units");
        let err = lstm.params(10_000, 4).abs_diff(target) as f64 / target as f64;
        assert!(err < 0.001, "{err}");
    }

    /// Loss and every parameter's gradient of one training segment (2 layers, dropout on every
    /// path, masks from a fixed sequence) on the given kernels.
    fn loss_and_grads(lm: &LanguageModel, kernels: Kernels) -> (f32, Vec<Vec<f32>>) {
        let lm = LanguageModel { kernels, ..lm.clone() };
        let device = Device::flex().autodiff();
        let tokens = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 0], [5, 6, 7, 8, 9], [10, 11, 12, 0, 3]], &device);
        let targets = Tensor::<1, Int>::from_ints([2, 3, 4, 0, 1, 6, 7, 8, 9, 10, 11, 12, 0, 3, 4], &device);
        let mut i = 0u32;
        let mut masks = |n: usize, keep: f64| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    i = i.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    if (i >> 16) % 100 < (keep * 100.0) as u32 { (1.0 / keep) as f32 } else { 0.0 }
                })
                .collect()
        };
        // A non-zero incoming state, so h_0 and c_0 matter.
        let state: LmState =
            lm.zero_state(3, &device).into_iter().map(|(h, c)| (h.add_scalar(0.3), c.add_scalar(-0.4))).collect();
        let (loss, _) = lm.loss(tokens, targets, state, Some(&mut masks));
        let value: f32 = loss.clone().into_scalar();
        let grads = loss.backward();
        let grad = |t: Tensor<2>| t.grad(&grads).expect("a gradient").into_data().try_to_vec::<f32>().unwrap();
        let mut all = vec![grad(lm.embedding.weight.val())];
        for layer in &lm.layers {
            let (wx, wb, uh) = layer.weights();
            all.push(grad(wx));
            all.push(wb.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap());
            all.push(grad(uh));
        }
        if let Some(d) = &lm.decoder {
            all.push(grad(d.weight.val()));
        }
        all.push(lm.decoder_bias.val().grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap());
        (value, all)
    }

    #[test]
    fn fused_kernels_give_burns_loss_and_gradients_for_every_combination_and_activation() {
        let device = Device::flex().autodiff();
        // Base-8 trees whose 15 nodes use each (combination, activation) pair once, in three
        // orders, with c_t and the inject at leaves, inner nodes and the root, and each inject
        // combination; plus the LSTM.
        let pairs: Vec<String> = ["add", "mul", "max"]
            .iter()
            .flat_map(|c| ["identity", "tanh", "sigmoid", "relu", "sin"].map(|a| format!("{c}:{a}")))
            .collect();
        let tree = |rot: usize, tail: &str| {
            let nodes: Vec<&str> = (0..15).map(|k| pairs[(k * 7 + rot) % 15].as_str()).collect();
            CellKind::Tree(format!("{} | {tail}", nodes.join(" ")).parse::<RnnCell>().unwrap())
        };
        let kinds = [
            tree(0, "add:tanh | c=9 inject=4"),
            tree(3, "mul:sigmoid | c=2 inject=12"),
            tree(11, "max:sin | c=14 inject=14"),
            CellKind::Lstm,
        ];
        for (i, kind) in kinds.iter().enumerate() {
            for tie in [false, true] {
                let cfg = LmConfig {
                    embed: 6,
                    hidden: 6,
                    layers: 2,
                    dropout_embedding: 0.2,
                    dropout_output: 0.3,
                    dropout_recurrent: 0.25,
                    tie_weights: tie,
                    init_scale: 0.4,
                    kernels: Kernels::Fast,
                };
                device.seed(i as u64);
                let lm = LanguageModel::new(kind, 13, &cfg, &device);
                let (fast_loss, fast) = loss_and_grads(&lm, Kernels::Fast);
                let (burn_loss, burn) = loss_and_grads(&lm, Kernels::Burn);
                assert!((fast_loss - burn_loss).abs() < 1e-5 * burn_loss.abs(), "{kind:?}: {fast_loss} vs {burn_loss}");
                for (p, (f, b)) in fast.iter().zip(&burn).enumerate() {
                    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    assert!(scale > 0.0, "{kind:?}: parameter {p} has no gradient");
                    for (x, y) in f.iter().zip(b) {
                        assert!((x - y).abs() <= 1e-4 * scale + 1e-7, "{kind:?} tied={tie} parameter {p}: {x} vs {y}");
                    }
                }
            }
        }
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = LmConfig { tie_weights: true, embed: 10, hidden: 12, ..LmConfig::default() }.validate().unwrap_err();
        assert!(e.contains("lm.tie_weights"), "{e}");
        let e = LmConfig { dropout_output: 1.0, ..LmConfig::default() }.validate().unwrap_err();
        assert!(e.contains("lm.dropout_output"), "{e}");
    }
}
