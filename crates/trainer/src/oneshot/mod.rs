//! [`OneShotEvaluator`]: rewards CNN children under one set of shared weights (ENAS, Pham et
//! al. 2018) instead of training each from scratch.
//!
//! The search's loop is unchanged: the strategy draws a child, the evaluator rewards it, the
//! strategy learns. The evaluator alternates the two phases of ENAS child by child: child `n`
//! is first scored — accuracy on a fresh, seeded draw of `reward_images` validation images under
//! the current shared weights, batch norm by that batch's statistics — and then trains the
//! shared weights for `train_steps` SGD steps on the next training minibatches. So the shared
//! weights are trained by children freshly drawn from the strategy, each reward is measured by
//! weights no child has yet fitted to it, and everything is a function of the sequence of
//! children: the minibatch of step `k`, its augmentation and a child's reward images are seeded
//! by `k` and by the child's index, not by generator positions.
//!
//! With `warmup_steps`, the shared weights first train that many steps with children drawn
//! uniformly from the space (seeded by the step), before the first child is rewarded: under
//! freshly initialised weights the strategy's first rewards favour whatever fits fastest, and a
//! learning strategy then keeps feeding the weights those children. With `train_steps = 0` the
//! warm-up is all the training there is and the strategy searches frozen weights (Single-Path
//! One-Shot: train the supernet uniformly, then search it).
//!
//! The state (weights, optimiser moments, step count, next child) is saved to a file every
//! `checkpoint_every` warm-up steps and children, before the next child is scored, so the file
//! never holds a child the store has not recorded. A resumed search restores it and replays the training steps of
//! the children the store recorded since ([`nas_evaluator::Evaluator::replay`]), so it continues
//! exactly where the killed run was.

mod config;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use nas_child::{ChildConfig, InputShape, Plan, SuperNet, SuperShape};
use nas_data::ImageSet;
use nas_evaluator::{EvalContext, EvalError, Evaluation, Evaluator, ExperimentTag, WarmUpProgress, WarmUpReport};
use nas_space::{Architecture, CnnArch, CnnSpace};
use rand::RngExt;
use rand::seq::SliceRandom;
use serde_json::{Map, json};

pub use config::OneShotConfig;
use state::SupernetState;

use crate::batches::rng_for;
use crate::train::{correct_on, fraction};
use crate::{PreparedData, TrainConfig};

/// What the evaluator needs to know of the search it serves.
#[derive(Debug, Clone)]
pub struct OneShotSetup {
    pub train: TrainConfig,
    pub child: ChildConfig,
    pub oneshot: OneShotConfig,
    /// The CNN space (its largest kernel and filter count size the supernet).
    pub space: CnnSpace,
    /// The depth schedule's first depth (the shallowest warm-up children).
    pub first_layers: usize,
    /// The depth schedule's largest depth.
    pub layers: usize,
    /// Children the search rewards in all (the learning-rate schedule's length).
    pub samples: u64,
    pub seed: u64,
}

/// Rewards children by accuracy under weights shared by the whole space.
pub struct OneShotEvaluator {
    data: Arc<PreparedData>,
    setup: OneShotSetup,
    shape: SuperShape,
    device: Device,
    net: SuperNet,
    optim: ModuleOptimizer,
    loss: CrossEntropyLoss,
    /// Shared-weight steps taken.
    steps: u64,
    /// Index of the next child to fold in (every earlier one is).
    next_seq: u64,
    /// `next_seq` when the state was last saved (or loaded).
    saved_seq: u64,
    /// The file the state is kept in, once the experiment is known.
    path: Option<PathBuf>,
    /// Why the saved state could not be restored: reported by the next evaluation.
    broken: Option<String>,
    /// The training order of the current supernet epoch: (epoch, permutation).
    order: Option<(u64, Vec<usize>)>,
    /// Told of each warm-up step (a progress bar).
    warm_up_report: Option<WarmUpReport>,
}

impl OneShotEvaluator {
    /// A fresh supernet for `setup`'s space over `data` (seeded by the experiment seed).
    pub fn new(data: Arc<PreparedData>, setup: OneShotSetup) -> Self {
        let t = &data.train;
        let input = InputShape { channels: t.channels, height: t.height, width: t.width, classes: t.classes };
        let mut shape = SuperShape::of(&setup.space, setup.layers, input, &setup.child);
        // Room above the space's filter counts for `reward_flops` to widen children into.
        if let Some(f) = setup.oneshot.supernet_filters {
            shape.filters = shape.filters.max(f as usize + setup.child.extra_filters as usize);
        }
        let device = Device::default().autodiff();
        let net = crate::seeded(&device, setup.seed, || SuperNet::new(shape, &setup.child, &device));
        let smoothing = (setup.train.label_smoothing > 0.0).then_some(setup.train.label_smoothing as f32);
        let loss = CrossEntropyLossConfig::new().with_smoothing(smoothing).init(&device);
        OneShotEvaluator {
            optim: crate::train::optimizer(&setup.train),
            data,
            setup,
            shape,
            device,
            net,
            loss,
            steps: 0,
            next_seq: 0,
            saved_seq: 0,
            path: None,
            broken: None,
            order: None,
            warm_up_report: None,
        }
    }

    /// The supernet's size.
    pub fn shape(&self) -> &SuperShape {
        &self.shape
    }

    /// Shared-weight steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Supernet epochs trained so far (passes over the training images, fractional).
    pub fn epochs(&self) -> f64 {
        (self.steps as f64 * self.setup.train.batch_size as f64) / self.data.train.len().max(1) as f64
    }

    /// `arch`'s plan, checked against the supernet and the memory cap.
    fn plan(&self, arch: &Architecture) -> Result<Plan, EvalError> {
        self.scored_plan(arch).map(|s| s.plan)
    }

    /// `arch`'s plan at the width it is scored at, and that width under `[oneshot] reward_flops`.
    fn scored_plan(&self, arch: &Architecture) -> Result<ScoredPlan, EvalError> {
        let Architecture::Cnn(cnn) = arch else {
            return Err(EvalError::Fatal(format!(
                "the one-shot evaluator shares weights among CNNs; a {} architecture has none (use --space cnn)",
                arch.space_name()
            )));
        };
        self.cnn_plan(cnn).map_err(|e| EvalError::Failed(e.to_string()))
    }

    /// The size caps (`[child] max_params / max_flops`, memory) apply to the network that is
    /// scored and trained: under `[oneshot] reward_flops` that is the child at its equal-cost
    /// width, so a draw over `max_flops` as drawn is narrowed to the budget, not failed (a
    /// random search lost a third of its draws that way; REINFORCE learnt to avoid them).
    fn cnn_plan(&self, cnn: &CnnArch) -> Result<ScoredPlan, nas_child::PlanError> {
        let width = self.reward_width(cnn);
        let plan = Plan::new(&at_width(cnn, width), self.shape.input, &self.setup.child)?;
        self.shape.check(&plan)?;
        plan.check_memory(self.setup.train.batch_size, &self.setup.child)?;
        Ok(ScoredPlan { plan, width })
    }

    /// `cnn` as the shared weights score it: at its equal-cost width under `[oneshot]
    /// reward_flops`, as drawn without it — what a stand-alone run must train to be compared.
    pub fn scored_arch(&self, cnn: &CnnArch) -> CnnArch {
        at_width(cnn, self.reward_width(cnn))
    }

    /// The width `[oneshot] reward_flops` scores `cnn` at: the widest that costs at most that
    /// many FLOPs and fits the supernet's filters (`None` without the setting).
    fn reward_width(&self, cnn: &CnnArch) -> Option<f64> {
        let cap = self.setup.oneshot.reward_flops?;
        let max = (self.shape.filters - self.setup.child.extra_filters as usize) as u32;
        let widest_layer = cnn.layers.iter().map(|l| l.filters).max().unwrap_or(max).max(1);
        let top = max as f64 / widest_layer as f64;
        let w = nas_child::Widening { start: top, cap, max_filters: Some(max), multiple: 1 };
        Some(nas_child::widest_within(cnn, self.shape.input, &self.setup.child, &w))
    }

    /// Accuracy of `plan`'s child under the shared weights on `images` of `set`, in batches of
    /// `batch` (each normalised by its own statistics).
    fn accuracy(&self, plan: &Plan, set: &ImageSet, images: &[usize], batch: usize) -> f64 {
        let net = self.net.valid();
        let device = self.device.clone().inner();
        let logits = |x| net.forward(plan, x).expect("checked plans fit the supernet");
        fraction(&correct_on(set, images, batch, &self.data.norm, &device, logits))
    }

    /// The validation images child `seq` is rewarded on.
    fn reward_images(&self, seq: u64) -> Vec<usize> {
        let mut all: Vec<usize> = (0..self.data.validation.len()).collect();
        let mut rng = rng_for(&[self.setup.seed, 13, seq]);
        let (chosen, _) = all.partial_shuffle(&mut rng, self.setup.oneshot.reward_images);
        chosen.to_vec()
    }

    /// The training images of step `k`: the `k`-th minibatch of a seeded permutation per epoch.
    fn minibatch(&mut self, k: u64) -> Vec<usize> {
        let n = self.data.train.len();
        let b = self.setup.train.batch_size;
        let per_epoch = n.div_ceil(b) as u64;
        let (epoch, i) = (k / per_epoch, (k % per_epoch) as usize);
        if self.order.as_ref().is_none_or(|o| o.0 != epoch) {
            let mut rng = rng_for(&[self.setup.seed, 11, epoch]);
            self.order = Some((epoch, self.data.epoch_order(&mut rng)));
        }
        let order = &self.order.as_ref().expect("just set").1;
        order[i * b..((i + 1) * b).min(n)].to_vec()
    }

    /// Shared-weight steps the whole search takes (warm-up and children): the length of the
    /// learning-rate schedule.
    fn total_steps(&self) -> u64 {
        let o = &self.setup.oneshot;
        o.warmup_steps.saturating_add(self.setup.samples.saturating_mul(o.train_steps as u64))
    }

    /// `train_steps` SGD steps of the shared weights with `plan`'s child; the mean loss (None
    /// when the search runs on frozen weights).
    fn train_on(&mut self, plan: &Plan) -> Result<Option<f64>, EvalError> {
        let n = self.setup.oneshot.train_steps;
        let mut sum = 0.0;
        for _ in 0..n {
            sum += self.step(plan)?;
        }
        Ok((n > 0).then(|| sum / n as f64))
    }

    /// One SGD step of the shared weights with `plan`'s child on the next training minibatch;
    /// its loss. A non-finite loss stops the search: the shared weights are lost to every child.
    fn step(&mut self, plan: &Plan) -> Result<f64, EvalError> {
        let k = self.steps;
        let idx = self.minibatch(k);
        let mut aug = rng_for(&[self.setup.seed, 12, k]);
        let (x, y) = self.data.batch(&self.data.train, &idx, Some(&mut aug), &self.device);
        let loss = self.loss.forward(self.net.forward(plan, x).expect("checked plans fit the supernet"), y);
        let value: f32 = loss.clone().into_scalar();
        if !value.is_finite() {
            return Err(EvalError::Fatal(format!(
                "the shared weights diverged: loss {value} at step {k} (lower train.learning_rate)"
            )));
        }
        let lr = self.setup.train.lr_at(k as usize, self.total_steps() as usize, 0);
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        self.net = self.optim.step(lr, self.net.clone(), grads);
        self.steps += 1;
        Ok(value as f64)
    }

    /// The warm-up: before the first child, `warmup_steps` steps each with a child drawn
    /// uniformly from the space (seeded by the step). The state is saved every
    /// `checkpoint_every` steps and at the end, so a killed warm-up resumes from its last save
    /// and a resumed search does not repeat it. Nothing to do once it is done.
    fn warm_up(&mut self) -> Result<(), EvalError> {
        let want = self.setup.oneshot.warmup_steps;
        if self.next_seq > 0 || self.steps >= want {
            return Ok(());
        }
        let started = Instant::now();
        tracing::info!(
            "warming up the shared weights: steps {} to {want} with children drawn uniformly from the space",
            self.steps
        );
        self.warm_up_to(want)?;
        tracing::info!(
            "warm-up done in {:.0} s ({:.2} supernet epochs)",
            started.elapsed().as_secs_f64(),
            self.epochs()
        );
        self.save()
    }

    /// Warm-up steps until `stop` steps are done, saving every `checkpoint_every` steps.
    fn warm_up_to(&mut self, stop: u64) -> Result<(), EvalError> {
        let (every, want) = (self.setup.oneshot.checkpoint_every, self.setup.oneshot.warmup_steps);
        while self.steps < stop {
            let plan = self.uniform_child(self.steps)?;
            self.step(&plan)?;
            let progress = WarmUpProgress { steps: self.steps, of: want, epochs: self.epochs() };
            if let Some(report) = &mut self.warm_up_report {
                report(progress);
            }
            if self.steps.is_multiple_of(every) && self.steps < want {
                self.save()?;
                tracing::info!("warm-up: {} of {want} steps ({:.2} supernet epochs)", self.steps, self.epochs());
            }
        }
        Ok(())
    }

    /// Warm-up step `k`'s child: a uniform draw from the space that fits the supernet and the
    /// child caps (redrawn up to 1,000 times).
    fn uniform_child(&self, k: u64) -> Result<Plan, EvalError> {
        let space = &self.setup.space;
        let choices: Vec<usize> = space.token_types().iter().map(|t| t.choices).collect();
        let (low, high) = (self.setup.first_layers.min(self.setup.layers), self.setup.layers);
        let mut rng = rng_for(&[self.setup.seed, 14, k]);
        let mut why = String::new();
        for _ in 0..1000 {
            let depth = rng.random_range(low..=high);
            let (actions, _) = nas_space::uniform_actions(&space.decisions(depth), &choices, &mut WarmUpDraw(&mut rng))
                .map_err(|e| EvalError::Fatal(format!("warm-up draw: {e}")))?;
            let cnn = space.decode(&actions).map_err(|e| EvalError::Fatal(format!("warm-up draw: {e}")))?;
            match self.cnn_plan(&cnn) {
                Ok(scored) => return Ok(scored.plan),
                Err(e) => why = e.to_string(),
            }
        }
        Err(EvalError::Fatal(format!(
            "oneshot.warmup_steps: 1,000 uniform draws from the space and none fits the child caps (the last: {why})"
        )))
    }

    /// Save the state when `checkpoint_every` children have passed since the last save.
    fn save_if_due(&mut self) -> Result<(), EvalError> {
        if self.next_seq >= self.saved_seq + self.setup.oneshot.checkpoint_every {
            self.save()?;
        }
        Ok(())
    }

    /// Write the state to its file (atomically: a temporary file renamed over it).
    pub fn save(&mut self) -> Result<(), EvalError> {
        let Some(path) = self.path.clone() else { return Ok(()) };
        let state = SupernetState::capture(&self.net, &self.optim, self.steps, self.next_seq)
            .map_err(|e| EvalError::Fatal(format!("supernet state: {e}")))?;
        state.write(&path).map_err(|e| EvalError::Fatal(format!("supernet state {}: {e}", path.display())))?;
        self.saved_seq = self.next_seq;
        Ok(())
    }

    /// Restore the state saved at `path`, if there is one.
    fn load(&mut self, path: &std::path::Path) -> Result<(), String> {
        let Some(state) = SupernetState::read(path)? else { return Ok(()) };
        let (net, optim) = state.restore(self.net.clone(), &self.setup.train)?;
        (self.net, self.optim) = (net, optim);
        (self.steps, self.next_seq, self.saved_seq) = (state.steps, state.next_seq, state.next_seq);
        self.order = None;
        Ok(())
    }

    /// `arch`'s accuracy under the shared weights on the validation minibatch child `seq` is
    /// rewarded on (what a search's reward measures).
    pub fn score_minibatch(&self, arch: &Architecture, seq: u64) -> Result<f64, EvalError> {
        let plan = self.plan(arch)?;
        let images = self.reward_images(seq);
        Ok(self.accuracy(&plan, &self.data.validation, &images, images.len()))
    }

    /// `arch`'s child as a stand-alone network holding copies of its shared weights.
    pub fn extract(&self, arch: &Architecture) -> Result<nas_child::ChildNet, EvalError> {
        let plan = self.plan(arch)?;
        self.net.extract(plan, &self.setup.child, &self.device).map_err(|e| EvalError::Failed(e.to_string()))
    }

    /// Score `candidates` on the whole validation split under the current shared weights (256
    /// images per batch-norm batch); saves the state first. A candidate outside the supernet
    /// scores 0.
    pub fn score_all(&mut self, candidates: &[Architecture]) -> Result<Vec<f64>, EvalError> {
        self.save()?;
        let all: Vec<usize> = (0..self.data.validation.len()).collect();
        Ok(candidates
            .iter()
            .map(|a| self.plan(a).map_or(0.0, |p| self.accuracy(&p, &self.data.validation, &all, 256)))
            .collect())
    }
}

impl Evaluator for OneShotEvaluator {
    fn describe(&self) -> String {
        let s = &self.shape;
        format!(
            "one-shot evaluator: {}; supernet of {} layers, {}x{} kernels, {} filters ({} shared weights); {}{}, \
             reward on {} validation images{}",
            self.data.description,
            s.layers,
            s.kernel.0,
            s.kernel.1,
            s.filters,
            s.params(),
            match self.setup.oneshot.warmup_steps {
                0 => String::new(),
                n => format!("{n} warm-up steps with uniform children, then "),
            },
            match self.setup.oneshot.train_steps {
                0 => "the search on frozen shared weights".to_string(),
                n => format!("per child {n} SGD step(s) of batch {}", self.setup.train.batch_size),
            },
            self.setup.oneshot.reward_images,
            match self.setup.oneshot.reward_flops {
                Some(n) => format!(", every child at the width that costs {n} FLOPs (oneshot.reward_flops)"),
                None => String::new(),
            }
        )
    }

    fn stationary(&self) -> bool {
        false
    }

    fn attach(&mut self, experiment: &ExperimentTag) {
        let dir = self.setup.oneshot.state_dir.clone().unwrap_or_else(|| PathBuf::from("nas-oneshot"));
        let path = dir.join(state::file_name(experiment));
        if let Err(e) = self.load(&path) {
            self.broken = Some(format!(
                "the supernet state {} cannot be restored ({e}); move it away to train the supernet afresh",
                path.display()
            ));
        }
        self.path = Some(path);
    }

    fn replay(&mut self, arch: &Architecture, ctx: &EvalContext) -> Result<(), EvalError> {
        if let Some(e) = &self.broken {
            return Err(EvalError::Fatal(e.clone()));
        }
        if ctx.seq < self.next_seq {
            return Ok(());
        }
        self.warm_up()?;
        let plan = self.plan(arch)?;
        self.train_on(&plan)?;
        self.next_seq = ctx.seq + 1;
        Ok(())
    }

    fn evaluate(&mut self, arch: &Architecture, ctx: &EvalContext) -> Result<Evaluation, EvalError> {
        if let Some(e) = &self.broken {
            return Err(EvalError::Fatal(e.clone()));
        }
        if ctx.seq < self.next_seq {
            return Err(EvalError::Fatal(format!(
                "child {} was already folded into the shared weights (the next is {}): the supernet state is ahead \
                 of the store",
                ctx.seq, self.next_seq
            )));
        }
        self.warm_up()?;
        self.save_if_due()?;
        let started = Instant::now();
        let scored = self.scored_plan(arch);
        self.next_seq = ctx.seq + 1;
        let ScoredPlan { plan, width } = scored?;
        let images = self.reward_images(ctx.seq);
        let acc = self.accuracy(&plan, &self.data.validation, &images, images.len());
        let loss = self.train_on(&plan)?;
        let mut metrics = Map::new();
        metrics.insert("val_accuracy".into(), json!(acc));
        metrics.insert("reward_images".into(), json!(images.len()));
        if let Some(loss) = loss {
            metrics.insert("train_loss".into(), json!(loss));
        }
        metrics.insert("supernet_epoch".into(), json!(self.epochs()));
        metrics.insert("shared_steps".into(), json!(self.steps));
        metrics.insert("params".into(), json!(plan.params));
        metrics.insert("flops".into(), json!(plan.flops));
        if let Some(w) = width {
            metrics.insert("reward_width".into(), json!(w));
        }
        metrics.insert("seconds".into(), json!(started.elapsed().as_secs_f64()));
        Ok(Evaluation { reward: self.setup.train.reward_transform.apply(acc), metrics })
    }

    fn derive(&mut self, candidates: &[Architecture]) -> Option<Result<Vec<f64>, EvalError>> {
        Some(self.score_all(candidates))
    }

    fn watch_warm_up(&mut self, report: WarmUpReport) {
        self.warm_up_report = Some(report);
    }
}

/// The warm-up's generator as the space's uniform distribution draws from it.
/// `cnn` with every filter count × `width` (as drawn when there is none, or it is 1).
fn at_width(cnn: &CnnArch, width: Option<f64>) -> CnnArch {
    match width {
        Some(w) if w != 1.0 => cnn.widened(w),
        _ => cnn.clone(),
    }
}

/// A child's plan at the width it is scored at, with that width when `[oneshot] reward_flops` set
/// it (the child as drawn is width 1).
struct ScoredPlan {
    plan: Plan,
    width: Option<f64>,
}

struct WarmUpDraw<'a>(&'a mut rand_chacha::ChaCha8Rng);

impl nas_space::Draw for WarmUpDraw<'_> {
    fn index(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }
    fn coin(&mut self) -> bool {
        self.0.random_bool(0.5)
    }
}

#[cfg(test)]
mod tests;
