//! [`TrainEvaluator`]: the `Evaluator` that trains each sampled CNN for real.

use std::sync::Arc;

use burn::prelude::Device;
use nas_child::ChildConfig;
use nas_evaluator::{EvalContext, EvalError, Evaluation, Evaluator};
use nas_space::Architecture;
use serde_json::{Map, Value, json};

use crate::{PreparedData, TrainConfig, TrainError, train_child};

/// Trains every child on the prepared data; reward from validation accuracy.
pub struct TrainEvaluator {
    data: Arc<PreparedData>,
    train: TrainConfig,
    child: ChildConfig,
    device: Device,
}

impl TrainEvaluator {
    /// An evaluator on burn's default CPU backend (or the GPU backend built in).
    pub fn new(data: Arc<PreparedData>, train: TrainConfig, child: ChildConfig) -> Self {
        TrainEvaluator { data, train, child, device: Device::default().autodiff() }
    }
}

impl Evaluator for TrainEvaluator {
    fn describe(&self) -> String {
        format!(
            "train evaluator: {}; {} epochs, batch {}, lr {}, reward {:?}(best val. accuracy of last {})",
            self.data.description,
            self.train.epochs,
            self.train.batch_size,
            self.train.learning_rate,
            self.train.reward_transform,
            self.train.reward_window
        )
    }

    fn evaluate(&mut self, arch: &Architecture, ctx: &EvalContext) -> Result<Evaluation, EvalError> {
        let Architecture::Cnn(cnn) = arch else {
            return Err(EvalError::Fatal(format!(
                "the train evaluator trains CNNs; a {} architecture cannot be trained (use a table evaluator)",
                arch.space_name()
            )));
        };
        // Each trial's seed depends on the experiment seed and its sample index only.
        let seed = ctx.seed.wrapping_mul(1_000_003).wrapping_add(ctx.seq);
        match train_child(cnn, &self.data, &self.train, &self.child, &self.device, seed, |_| {}) {
            Ok(out) => {
                let mut metrics = Map::new();
                metrics.insert("val_accuracy".into(), json!(out.val_accuracy));
                metrics.insert("params".into(), json!(out.params));
                metrics.insert("flops".into(), json!(out.flops));
                metrics.insert("images_per_second".into(), json!(out.images_per_second));
                metrics.insert("epochs".into(), serde_json::to_value(&out.epochs).unwrap_or(Value::Null));
                Ok(Evaluation { reward: out.reward, metrics })
            }
            Err(e @ (TrainError::Plan(_) | TrainError::Diverged { .. })) => Err(EvalError::Failed(e.to_string())),
        }
    }
}
