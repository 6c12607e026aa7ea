//! Throughput of language-model training for `nas bench cell`: a tree cell and our fused LSTM
//! (both [`LanguageModel`]s) beside burn's built-in `nn::Lstm` in the same model, on random
//! tokens, one layer, no dropout.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, Lstm, LstmConfig};
use burn::optim::SgdConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use nas_child::kernels::Kernels;
use nas_child::rnn::{CellKind, LanguageModel, LmConfig};

use crate::bench::time_steps;

/// The tree cell timed by `nas bench cell`: base 8, a mix of every combination and activation.
pub const BENCH_CELL: &str = "add:tanh mul:sigmoid add:relu add:identity mul:tanh add:sigmoid add:tanh mul:relu \
     add:tanh mul:sigmoid add:identity add:tanh mul:relu add:sigmoid add:tanh | add:tanh | c=9 inject=4";

/// Which model to time.
#[derive(Debug, Clone)]
pub enum LmBenchModel {
    /// Ours: a tree cell or the fused LSTM, on the project's kernels or (`Kernels::Burn`) on
    /// burn's operations step by step.
    Ours(CellKind, Kernels),
    /// burn's `nn::Lstm` between the same embedding and decoder.
    BurnLstm,
}

/// Embedding → burn's LSTM → decoder.
#[derive(Module, Debug)]
struct BurnLstmLm {
    embedding: Embedding,
    lstm: Lstm,
    decoder: Linear,
}

impl BurnLstmLm {
    fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<2> {
        let [b, t] = tokens.dims();
        let (out, _) = self.lstm.forward(self.embedding.forward(tokens), None);
        let h = out.dims()[2];
        self.decoder.forward(out.reshape([b * t, h]))
    }
}

/// Training tokens per second of `model` (`hidden` units, `vocab` tokens) at `batch` × `bptt`,
/// timed over `steps` SGD steps after two warm-up steps.
pub fn lm_training_rate(
    model: &LmBenchModel,
    vocab: usize,
    hidden: usize,
    batch: usize,
    bptt: usize,
    steps: usize,
) -> f64 {
    let device = Device::default().autodiff();
    device.seed(0);
    let tokens = Tensor::<2, Int>::random([batch, bptt], Distribution::Uniform(0.0, vocab as f64), &device);
    let targets = Tensor::<1, Int>::random([batch * bptt], Distribution::Uniform(0.0, vocab as f64), &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut optim = SgdConfig::new().init();
    let secs = match model {
        LmBenchModel::Ours(kind, kernels) => {
            let cfg = LmConfig {
                embed: hidden,
                hidden,
                layers: 1,
                dropout_embedding: 0.0,
                dropout_output: 0.0,
                kernels: *kernels,
                ..LmConfig::default()
            };
            let lm = LanguageModel::new(kind, vocab, &cfg, &device);
            time_steps(lm, &mut optim, 0.1, steps, |lm| {
                lm.loss(tokens.clone(), targets.clone(), lm.zero_state(batch, &device), None).0
            })
        }
        LmBenchModel::BurnLstm => {
            let lm = BurnLstmLm {
                embedding: EmbeddingConfig::new(vocab, hidden).init(&device),
                lstm: LstmConfig::new(hidden, hidden, true).init(&device),
                decoder: LinearConfig::new(hidden, vocab).init(&device),
            };
            time_steps(lm, &mut optim, 0.1, steps, |lm| loss_fn.forward(lm.forward(tokens.clone()), targets.clone()))
        }
    };
    (steps * batch * bptt) as f64 / secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_trains_and_is_timed() {
        for m in [
            LmBenchModel::Ours(CellKind::Lstm, Kernels::Fast),
            LmBenchModel::Ours(CellKind::Lstm, Kernels::Burn),
            LmBenchModel::BurnLstm,
        ] {
            let r = lm_training_rate(&m, 50, 8, 4, 5, 2);
            assert!(r.is_finite() && r > 0.0, "{m:?}: {r}");
        }
    }
}
