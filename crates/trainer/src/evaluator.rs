//! [`TrainEvaluator`]: the `Evaluator` that trains each sampled CNN for real.

use std::ops::ControlFlow;
use std::sync::Arc;

use burn::prelude::Device;
use nas_child::ChildConfig;
use nas_evaluator::{EvalContext, EvalError, Evaluation, Evaluator, Progress};
use nas_space::Architecture;
use serde_json::{Map, Value, json};

use crate::{EpochMetrics, EvalEvery, MedianStopper, PreparedData, TrainConfig, TrainError, fit};

/// Trains every child on the prepared data; reward from validation accuracy.
pub struct TrainEvaluator {
    data: Arc<PreparedData>,
    train: TrainConfig,
    child: ChildConfig,
    device: Device,
    /// The median-stopping rule's memory, shared with sibling evaluators, when the rule is on.
    stopper: Option<Arc<MedianStopper>>,
}

impl TrainEvaluator {
    /// An evaluator on burn's default CPU backend (or the GPU backend built in).
    pub fn new(data: Arc<PreparedData>, train: TrainConfig, child: ChildConfig) -> Self {
        let stopper = train.median_stopping.map(|rule| Arc::new(MedianStopper::new(rule)));
        TrainEvaluator { data, train, child, device: Device::default().autodiff(), stopper }
    }

    /// Another evaluator for a parallel worker: same data, same median-stopping memory.
    pub fn sibling(&self) -> Self {
        TrainEvaluator {
            data: self.data.clone(),
            train: self.train.clone(),
            child: self.child.clone(),
            device: self.device.clone(),
            stopper: self.stopper.clone(),
        }
    }
}

impl TrainEvaluator {
    /// Train the child, resuming from and saving to `progress` when given.
    fn train(
        &mut self,
        arch: &Architecture,
        ctx: &EvalContext,
        progress: Option<&mut dyn Progress>,
    ) -> Result<Evaluation, EvalError> {
        let Architecture::Cnn(cnn) = arch else {
            return Err(EvalError::Fatal(format!(
                "the train evaluator trains CNNs; a {} architecture cannot be trained (use a table evaluator)",
                arch.space_name()
            )));
        };
        // Each trial's seed depends on the experiment seed and its sample index only.
        let seed = ctx.seed.wrapping_mul(1_000_003).wrapping_add(ctx.seq);
        let stopper = self.stopper.clone();
        let on_epoch = |m: &EpochMetrics| match (&stopper, m.val_accuracy) {
            (Some(s), Some(acc)) => s.check(m.epoch, acc).map_or(ControlFlow::Continue(()), ControlFlow::Break),
            _ => ControlFlow::Continue(()),
        };
        let data = &self.data;
        let (train, child, device) = (&self.train, &self.child, &self.device);
        let trained =
            fit(cnn, data, &data.validation, EvalEvery::Epoch, train, child, device, seed, on_epoch, progress);
        match trained.map(|t| t.outcome) {
            Ok(out) => {
                if let (Some(s), None) = (&self.stopper, &out.stopped_early) {
                    s.record(out.epochs.iter().filter_map(|e| e.val_accuracy).collect());
                }
                let mut metrics = Map::new();
                metrics.insert("val_accuracy".into(), json!(out.val_accuracy));
                metrics.insert("params".into(), json!(out.params));
                metrics.insert("flops".into(), json!(out.flops));
                metrics.insert("images_per_second".into(), json!(out.images_per_second));
                metrics.insert("epochs".into(), serde_json::to_value(&out.epochs).unwrap_or(Value::Null));
                if let Some(reason) = out.stopped_early {
                    metrics.insert("stopped_early".into(), json!(reason));
                }
                Ok(Evaluation { reward: out.reward, metrics })
            }
            Err(e @ (TrainError::Plan(_) | TrainError::Diverged { .. })) => Err(EvalError::Failed(e.to_string())),
        }
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
        self.train(arch, ctx, None)
    }

    fn evaluate_resumable(
        &mut self,
        arch: &Architecture,
        ctx: &EvalContext,
        progress: &mut dyn Progress,
    ) -> Result<Evaluation, EvalError> {
        self.train(arch, ctx, Some(progress))
    }

    fn observe_completed(&mut self, metrics: &Map<String, Value>) {
        if let (Some(s), Some(curve)) = (&self.stopper, nas_evaluator::completed_curve(metrics, "val_accuracy")) {
            s.record(curve);
        }
    }
}
