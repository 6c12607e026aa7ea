//! [`LmEvaluator`]: the `Evaluator` of the recurrent-cell search — trains a language model with
//! each sampled cell; reward c / (validation perplexity)².

use std::sync::Arc;

use burn::prelude::Device;
use nas_child::rnn::{CellKind, LmConfig};
use nas_data::Corpus;
use nas_evaluator::{EvalContext, EvalError, Evaluation, Evaluator};
use nas_space::Architecture;
use serde_json::{Map, Value, json};

use crate::{LmError, LmTrainConfig, train_lm};

/// Trains every sampled cell as a language model on the corpus.
pub struct LmEvaluator {
    corpus: Arc<Corpus>,
    description: String,
    model: LmConfig,
    train: LmTrainConfig,
    device: Device,
}

impl LmEvaluator {
    /// An evaluator on burn's default CPU backend (or the GPU backend built in).
    pub fn new(corpus: Arc<Corpus>, description: String, model: LmConfig, train: LmTrainConfig) -> Self {
        LmEvaluator { corpus, description, model, train, device: Device::default().autodiff() }
    }
}

impl Evaluator for LmEvaluator {
    fn describe(&self) -> String {
        format!(
            "language-model evaluator: {} ({} words); {} layer(s) of {} units, {} epochs, batch {}, bptt {}, reward {}/ppl²",
            self.description,
            self.corpus.vocab.len(),
            self.model.layers,
            self.model.hidden,
            self.train.epochs,
            self.train.batch_size,
            self.train.bptt,
            self.train.reward_c
        )
    }

    fn evaluate(&mut self, arch: &Architecture, ctx: &EvalContext) -> Result<Evaluation, EvalError> {
        let Architecture::Rnn(cell) = arch else {
            return Err(EvalError::Fatal(format!(
                "the language-model evaluator trains recurrent cells; a {} architecture cannot be trained by it",
                arch.space_name()
            )));
        };
        let seed = ctx.seed.wrapping_mul(1_000_003).wrapping_add(ctx.seq);
        let kind = CellKind::Tree(cell.clone());
        match train_lm(&kind, &self.corpus, &self.model, &self.train, &self.device, seed, |_| {}) {
            Ok((_, out)) => {
                let mut metrics = Map::new();
                metrics.insert("val_perplexity".into(), json!(out.val_perplexity));
                metrics.insert("params".into(), json!(out.params));
                metrics.insert("tokens_per_second".into(), json!(out.tokens_per_second));
                metrics.insert("epochs".into(), serde_json::to_value(&out.epochs).unwrap_or(Value::Null));
                Ok(Evaluation { reward: out.reward, metrics })
            }
            Err(e @ (LmError::Diverged { .. } | LmError::Perplexity(..))) => Err(EvalError::Failed(e.to_string())),
            Err(e @ LmError::Data(_)) => Err(EvalError::Fatal(e.to_string())),
        }
    }
}
