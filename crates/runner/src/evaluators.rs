//! Building the configured evaluator. The train evaluator lives here rather than in
//! `nas-evaluator` so that crate stays free of tensors.

use std::sync::Arc;

use nas_evaluator::{Evaluator, EvaluatorSpec};
use nas_space::SearchSpace;
use nas_trainer::{LmEvaluator, PreparedData, TrainEvaluator};

use crate::{SearchConfig, SearchError};

/// The evaluator a configuration asks for.
pub fn build_evaluator(config: &SearchConfig, space: &SearchSpace) -> Result<Box<dyn Evaluator>, SearchError> {
    match &config.evaluator {
        EvaluatorSpec::Train if matches!(space, SearchSpace::Rnn(_)) => {
            let (corpus, description) =
                config.text.load().map_err(|e| SearchError::Evaluator(format!("text corpus: {e}")))?;
            Ok(Box::new(LmEvaluator::new(Arc::new(corpus), description, config.lm.clone(), config.lm_train.clone())))
        }
        EvaluatorSpec::Train => {
            let data = PreparedData::load(&config.dataset, &config.train, config.seed)
                .map_err(|e| SearchError::Evaluator(format!("dataset: {e}")))?;
            Ok(Box::new(TrainEvaluator::new(Arc::new(data), config.train.clone(), config.child.clone())))
        }
        other => other.build(space).map_err(|e| SearchError::Evaluator(e.to_string())),
    }
}
