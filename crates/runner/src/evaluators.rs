//! Building the configured evaluator. The train evaluator lives here rather than in
//! `nas-evaluator` so that crate stays free of tensors.

use std::sync::Arc;

use nas_evaluator::{CommandEvaluator, Evaluator, EvaluatorSpec};
use nas_space::SearchSpace;
use nas_trainer::{LmEvaluator, OneShotEvaluator, OneShotSetup, PreparedData, TrainEvaluator};

use crate::{SearchConfig, SearchError};

/// The evaluator a configuration asks for.
pub fn build_evaluator(config: &SearchConfig, space: &SearchSpace) -> Result<Box<dyn Evaluator>, SearchError> {
    Ok(build_evaluators(config, space, 1)?.remove(0))
}

/// Up to `n` evaluators for parallel workers, sharing one copy of the data. Only training
/// and command evaluators are multiplied; a table or toy evaluator answers in microseconds, so one is built.
pub fn build_evaluators(
    config: &SearchConfig,
    space: &SearchSpace,
    n: usize,
) -> Result<Vec<Box<dyn Evaluator>>, SearchError> {
    let n = n.max(1);
    match &config.evaluator {
        EvaluatorSpec::Train if matches!(space, SearchSpace::Rnn(_)) => {
            let (corpus, description) =
                config.text.load().map_err(|e| SearchError::Evaluator(format!("text corpus: {e}")))?;
            let corpus = Arc::new(corpus);
            Ok((0..n)
                .map(|_| {
                    Box::new(LmEvaluator::new(
                        corpus.clone(),
                        description.clone(),
                        config.lm.clone(),
                        config.lm_train.clone(),
                    )) as Box<dyn Evaluator>
                })
                .collect())
        }
        EvaluatorSpec::Train => {
            let data = Arc::new(
                PreparedData::load(&config.dataset, &config.train, config.seed)
                    .map_err(|e| SearchError::Evaluator(format!("dataset: {e}")))?,
            );
            // Siblings share the data and the median-stopping rule's memory.
            let first = TrainEvaluator::new(data, config.train.clone(), config.child.clone());
            let mut all: Vec<Box<dyn Evaluator>> =
                (1..n).map(|_| Box::new(first.sibling()) as Box<dyn Evaluator>).collect();
            all.insert(0, Box::new(first));
            Ok(all)
        }
        EvaluatorSpec::Oneshot => {
            let SearchSpace::Cnn(cnn) = space else {
                return Err(SearchError::Evaluator("the one-shot evaluator needs the cnn space".into()));
            };
            let data = PreparedData::load(&config.dataset, &config.train, config.seed)
                .map_err(|e| SearchError::Evaluator(format!("dataset: {e}")))?;
            let setup = OneShotSetup {
                train: config.train.clone(),
                child: config.child.clone(),
                oneshot: config.oneshot.clone(),
                space: cnn.clone(),
                first_layers: config.depth.start,
                layers: config.depth.max.max(config.depth.start),
                samples: config.samples,
                seed: config.seed,
            };
            Ok(vec![Box::new(OneShotEvaluator::new(Arc::new(data), setup))])
        }
        EvaluatorSpec::Command(spec) => {
            spec.validate().map_err(SearchError::Evaluator)?;
            let first = CommandEvaluator::new(spec.clone(), space.name(), config.parallelism().1);
            let mut all: Vec<Box<dyn Evaluator>> =
                (1..n).map(|_| Box::new(first.sibling()) as Box<dyn Evaluator>).collect();
            all.insert(0, Box::new(first));
            Ok(all)
        }
        other => Ok(vec![other.build(space).map_err(|e| SearchError::Evaluator(e.to_string()))?]),
    }
}
