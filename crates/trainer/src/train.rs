//! [`train_child`]: SGD training of one child with per-epoch validation, divergence detection and
//! the paper's reward.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use nas_child::{ChildConfig, ChildNet, InputShape, Plan, PlanError};
use nas_data::{ImageSet, Normalization};
use nas_space::CnnArch;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use nas_evaluator::Progress;

use crate::batches::{image_batch, rng_for};
use crate::bn::{BnScoring, score};
use crate::resume::EpochState;
use crate::{PreparedData, TrainConfig};

/// Why a child produced no reward (each is recorded as a failed trial).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TrainError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("diverged: training loss is {loss} at epoch {epoch}, step {step}")]
    Diverged { epoch: usize, step: usize, loss: f32 },
}

/// What one epoch measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    /// Accuracy on the evaluation images; absent for epochs that were not evaluated (a final
    /// retrain looks at its test set once, after the last epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    pub learning_rate: f64,
    pub seconds: f64,
}

/// A trained child's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOutcome {
    pub reward: f64,
    /// Best validation accuracy over the reward window.
    pub val_accuracy: f64,
    pub epochs: Vec<EpochMetrics>,
    pub params: u64,
    pub flops: u64,
    pub images_per_second: f64,
    /// Why training ended before its last epoch (the median-stopping rule), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
}

/// When [`fit`] measures accuracy on its evaluation images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalEvery {
    /// After every epoch (a search child: the reward window needs the curve).
    Epoch,
    /// Once, after the last epoch (a final retrain scored on the test set).
    End,
}

/// A trained network with its results.
pub struct Trained {
    pub model: ChildNet,
    pub outcome: TrainOutcome,
}

/// The configured SGD: momentum without dampening (as in the paper and PyTorch; burn's default
/// dampening is 0.1), Nesterov when asked, L2 weight decay ([`crate::sgd`]).
pub(crate) fn optimizer(cfg: &TrainConfig) -> burn::optim::ModuleOptimizer {
    crate::sgd::optimizer(cfg)
}

/// Train `arch` on `data` and score it on the validation split. Same seed ⇒ same result on CPU.
pub fn train_child(
    arch: &CnnArch,
    data: &PreparedData,
    cfg: &TrainConfig,
    child: &ChildConfig,
    device: &Device,
    seed: u64,
    mut on_epoch: impl FnMut(&EpochMetrics),
) -> Result<TrainOutcome, TrainError> {
    let on_epoch = |m: &EpochMetrics| {
        on_epoch(m);
        ControlFlow::Continue(())
    };
    fit(arch, data, &data.validation, EvalEvery::Epoch, cfg, child, device, seed, on_epoch, None).map(|t| t.outcome)
}

/// Train `arch` on `data.train`, measuring accuracy on `eval` as `every` says, and return the
/// network with its results. `on_epoch` may stop training early by returning `Break(reason)`;
/// the reward then comes from the epochs trained. With `progress`, training continues from the
/// state it holds (if any) and saves its state after the epochs it says are due.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    arch: &CnnArch,
    data: &PreparedData,
    eval: &ImageSet,
    every: EvalEvery,
    cfg: &TrainConfig,
    child: &ChildConfig,
    device: &Device,
    seed: u64,
    mut on_epoch: impl FnMut(&EpochMetrics) -> ControlFlow<String>,
    mut progress: Option<&mut dyn Progress>,
) -> Result<Trained, TrainError> {
    let t = &data.train;
    let input = InputShape { channels: t.channels, height: t.height, width: t.width, classes: t.classes };
    let plan = Plan::new(arch, input, child)?;
    plan.check_memory(cfg.batch_size, child)?;
    let (params, flops) = (plan.params, plan.flops);
    let mut model = crate::seeded(device, seed, || ChildNet::new(plan, child, device));
    let mut optim = optimizer(cfg);
    let smoothing = (cfg.label_smoothing > 0.0).then_some(cfg.label_smoothing as f32);
    let loss_fn = CrossEntropyLossConfig::new().with_smoothing(smoothing).init(device);
    let steps_per_epoch = t.len().div_ceil(cfg.batch_size);
    // The run's length: `cfg.epochs`, or under `fill_seconds` re-planned after every epoch.
    let mut planned = cfg.epochs;
    let mut order_rng = rng_for(&[seed, 1]);
    let mut aug_rng = rng_for(&[seed, 2]);
    let mut epochs = Vec::with_capacity(cfg.epochs);
    let (mut images, mut train_secs) = (0usize, 0.0);
    let mut stopped_early = None;
    // Scores with batch norm as configured; the statistics of the last recalibration are written
    // into the returned network, so what is saved classifies as it was scored.
    let scoring = BnScoring::from_batches(cfg.bn_recalibration_batches);
    let mut last_stats = None;
    let mut evaluate = |model: &ChildNet| {
        let (acc, stats) = score(model, data, eval, scoring, cfg.batch_size, seed, device);
        last_stats = stats;
        acc
    };
    if let Some((_, bytes)) = progress.as_mut().and_then(|p| p.load()) {
        match EpochState::decode(&bytes).and_then(|mut st| {
            let of = st.planned_epochs.unwrap_or(cfg.epochs);
            if st.epochs.is_empty() || st.epochs.len() >= of {
                return Err(format!("it holds {} of {of} epochs", st.epochs.len()));
            }
            let weights = Bytes::from_bytes_vec(std::mem::take(&mut st.model));
            let record = ModuleRecord::from_bytes(weights).map_err(|e| e.to_string())?;
            let restored = model.clone().try_load_record(record).map_err(|e| e.to_string())?;
            let moments = Bytes::from_bytes_vec(std::mem::take(&mut st.optimizer));
            let moments = optimizer(cfg).from_bytes(moments).map_err(|e| e.to_string())?;
            Ok((restored, moments, st))
        }) {
            Ok((restored, moments, st)) => {
                model = restored;
                optim = moments;
                order_rng.set_word_pos(st.order_position);
                aug_rng.set_word_pos(st.augment_position);
                planned = st.planned_epochs.unwrap_or(cfg.epochs);
                (epochs, images, train_secs) = (st.epochs, st.images, st.train_seconds);
            }
            Err(e) => tracing::warn!("training from scratch: the saved training state cannot be used: {e}"),
        }
    }
    while epochs.len() < planned {
        let epoch = epochs.len();
        let total = steps_per_epoch * planned;
        let started = Instant::now();
        let order = data.epoch_order(&mut order_rng);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let mut lr = cfg.learning_rate;
        for (s, idx) in order.chunks(cfg.batch_size).enumerate() {
            let step = epoch * steps_per_epoch + s;
            lr = cfg.lr_at(step, total, epoch);
            let (x, y) = data.batch(t, idx, Some(&mut aug_rng), device);
            let loss = loss_fn.forward(model.forward(x), y);
            let value: f32 = loss.clone().into_scalar();
            if !value.is_finite() {
                return Err(TrainError::Diverged { epoch, step: s, loss: value });
            }
            loss_sum += value as f64 * idx.len() as f64;
            seen += idx.len();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
        }
        images += seen;
        train_secs += started.elapsed().as_secs_f64();
        if let Some(budget) = cfg.fill_seconds {
            planned = crate::config::planned_epochs(cfg.epochs, epoch + 1, train_secs, budget);
        }
        let last = epoch + 1 == planned;
        let val_accuracy = (every == EvalEvery::Epoch || last).then(|| evaluate(&model));
        let m = EpochMetrics {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            val_accuracy,
            learning_rate: lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        let control = on_epoch(&m);
        epochs.push(m);
        if let Some(p) = progress.as_mut().filter(|_| !last && control.is_continue())
            && p.due(epochs.len() as u64)
        {
            let state = (|| -> Result<Vec<u8>, burn::store::RecordError> {
                Ok(EpochState {
                    epochs: epochs.clone(),
                    images,
                    train_seconds: train_secs,
                    order_position: order_rng.get_word_pos(),
                    augment_position: aug_rng.get_word_pos(),
                    planned_epochs: cfg.fill_seconds.map(|_| planned),
                    model: model.clone().into_record().into_bytes()?.to_vec(),
                    optimizer: optim.into_bytes()?.to_vec(),
                }
                .encode())
            })();
            match state {
                Ok(bytes) => p.save(epochs.len() as u64, bytes),
                Err(e) => tracing::warn!("could not save the training state after epoch {}: {e}", epochs.len()),
            }
        }
        if let ControlFlow::Break(reason) = control {
            if !last {
                if every == EvalEvery::End {
                    // Stopped before the one evaluation: evaluate now so the outcome has a score.
                    let acc = evaluate(&model);
                    epochs.last_mut().expect("one epoch").val_accuracy = Some(acc);
                }
                stopped_early = Some(reason);
            }
            break;
        }
    }
    if let Some(stats) = last_stats {
        model.set_running_statistics(&stats);
    }
    let window = cfg.reward_window.min(epochs.len());
    let best = epochs[epochs.len() - window..].iter().filter_map(|e| e.val_accuracy).fold(0.0, f64::max);
    let outcome = TrainOutcome {
        reward: cfg.reward_transform.apply(best),
        val_accuracy: best,
        epochs,
        params,
        flops,
        images_per_second: images as f64 / train_secs.max(1e-9),
        stopped_early,
    };
    Ok(Trained { model, outcome })
}

/// Fraction of `set`'s images that `model` (an inference module) classifies correctly, the
/// images normalised with `norm`.
pub fn accuracy(model: &ChildNet, set: &ImageSet, norm: &Normalization, device: &Device) -> f64 {
    fraction(&correct(model, set, norm, device))
}

/// Flip test-time augmentation: the fraction of `set`'s images classified correctly when each
/// image's softmax is averaged with its mirror image's. Meaningful for a model trained with random
/// horizontal flips (a mirrored shoe is a shoe); one more forward pass over `set`.
pub fn accuracy_with_mirror(model: &ChildNet, set: &ImageSet, norm: &Normalization, device: &Device) -> f64 {
    fraction(&correct_with_mirror(model, set, norm, device))
}

/// Per image of `set`, in order: does `model` classify it correctly? What a paired comparison of
/// two models on the same images needs ([`accuracy`] is its mean).
pub fn correct(model: &ChildNet, set: &ImageSet, norm: &Normalization, device: &Device) -> Vec<bool> {
    correct_on(set, &all(set), 256, norm, device, |x| model.forward(x))
}

/// [`correct`] under flip test-time augmentation ([`accuracy_with_mirror`]).
pub fn correct_with_mirror(model: &ChildNet, set: &ImageSet, norm: &Normalization, device: &Device) -> Vec<bool> {
    // Images are [batch, channels, height, width]: the mirror reverses axis 3.
    correct_on(set, &all(set), 256, norm, device, |x| {
        softmax(model.forward(x.clone()), 1) + softmax(model.forward(x.flip([3])), 1)
    })
}

fn all(set: &ImageSet) -> Vec<usize> {
    (0..set.len()).collect()
}

pub(crate) fn fraction(correct: &[bool]) -> f64 {
    correct.iter().filter(|&&c| c).count() as f64 / correct.len().max(1) as f64
}

/// Fraction of `set`'s images whose argmax of `logits(batch)` is the label, in 256-image batches.
pub(crate) fn accuracy_of(
    set: &ImageSet,
    norm: &Normalization,
    device: &Device,
    logits: impl Fn(Tensor<4>) -> Tensor<2>,
) -> f64 {
    fraction(&correct_on(set, &all(set), 256, norm, device, logits))
}

/// Per image of `set` at `indices`, in order: is the argmax of `logits(batch)` its label? In
/// batches of `batch` images ([`fraction`] of it is the accuracy).
pub(crate) fn correct_on(
    set: &ImageSet,
    indices: &[usize],
    batch: usize,
    norm: &Normalization,
    device: &Device,
    logits: impl Fn(Tensor<4>) -> Tensor<2>,
) -> Vec<bool> {
    let mut out = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(batch.max(1)) {
        let (x, y) = image_batch(set, chunk, norm, device);
        let pred = logits(x).argmax(1).reshape([chunk.len()]);
        let hits = pred.equal(y).int().into_data().convert::<i64>().try_into_vec::<i64>().expect("i64 hits");
        out.extend(hits.into_iter().map(|h| h != 0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_data::Augment;

    fn data(cfg: &TrainConfig) -> PreparedData {
        PreparedData::from_set(ImageSet::quadrants(400, 0), cfg, 0, Augment::default(), "quadrants".into()).unwrap()
    }

    fn cfg() -> TrainConfig {
        TrainConfig { epochs: 3, batch_size: 32, validation: 80, learning_rate: 0.05, ..Default::default() }
    }

    #[test]
    fn a_tiny_run_lowers_the_loss_and_learns() {
        let c = cfg();
        let d = data(&c);
        let arch: CnnArch = "3x3-8;3x3-8<0".parse().unwrap();
        let device = Device::flex().autodiff();
        let out = train_child(&arch, &d, &c, &ChildConfig::default(), &device, 1, |_| {}).unwrap();
        assert!(out.epochs[2].train_loss < out.epochs[0].train_loss, "{:?}", out.epochs);
        assert!(out.val_accuracy > 0.9, "{:?}", out.epochs);
        assert!((out.reward - out.val_accuracy.powi(3)).abs() < 1e-12);
        assert!(out.images_per_second > 0.0);
    }

    /// The quadrant classes are mirror pairs (left ↔ right), so the mirrored view votes for the
    /// wrong class and flip test-time augmentation must lose accuracy there; on images that are
    /// their own mirror it must change nothing.
    #[test]
    fn flip_test_time_augmentation_averages_each_image_with_its_mirror() {
        let c = cfg();
        let d = data(&c);
        let arch: CnnArch = "3x3-8;3x3-8<0".parse().unwrap();
        let device = Device::flex().autodiff();
        let t = fit(
            &arch,
            &d,
            &d.validation,
            EvalEvery::End,
            &c,
            &ChildConfig::default(),
            &device,
            1,
            |_| ControlFlow::Continue(()),
            None,
        )
        .unwrap();
        let model = t.model.valid();
        let dev = Device::flex();
        let plain = accuracy(&model, &d.validation, &d.norm, &dev);
        let flipped = accuracy_with_mirror(&model, &d.validation, &d.norm, &dev);
        assert!(plain > 0.9, "{plain}");
        assert!(flipped < plain - 0.1, "plain {plain}, with mirror {flipped}");
        let mut symmetric = d.validation.clone();
        for row in symmetric.pixels.chunks_exact_mut(symmetric.width) {
            let w = row.len();
            for x in 0..w / 2 {
                row[w - 1 - x] = row[x];
            }
        }
        let dev = &dev;
        assert_eq!(accuracy_with_mirror(&model, &symmetric, &d.norm, dev), accuracy(&model, &symmetric, &d.norm, dev));
    }

    /// With smoothing ε over K classes no prediction can push the loss below the entropy of the
    /// smoothed target, so every epoch's training loss stays above it while the net still learns.
    #[test]
    fn label_smoothing_bounds_the_loss_by_the_targets_entropy() {
        let plain = TrainConfig { epochs: 8, learning_rate: 0.1, ..cfg() };
        let smoothed = TrainConfig { label_smoothing: 0.2, ..plain.clone() };
        let d = data(&plain);
        let arch: CnnArch = "3x3-8;3x3-8<0".parse().unwrap();
        let device = Device::flex().autodiff();
        let run = |c: &TrainConfig| train_child(&arch, &d, c, &ChildConfig::default(), &device, 1, |_| {}).unwrap();
        let (a, b) = (run(&plain), run(&smoothed));
        let k = d.train.classes as f64;
        let (on, off) = (1.0 - 0.2 + 0.2 / k, 0.2 / k);
        let floor = -(on * on.ln()) - (k - 1.0) * off * off.ln();
        for e in &b.epochs {
            assert!(e.train_loss >= floor - 1e-4, "loss {} below the entropy floor {floor}", e.train_loss);
        }
        assert!(a.epochs[7].train_loss < floor, "without smoothing the loss falls below it: {:?}", a.epochs);
        assert!(b.val_accuracy > 0.9, "{:?}", b.epochs);
        assert!(
            TrainConfig { label_smoothing: 0.7, ..cfg() }.validate().unwrap_err().contains("train.label_smoothing")
        );
    }

    #[test]
    fn same_seed_same_reward() {
        let c = TrainConfig { epochs: 1, ..cfg() };
        let d = data(&c);
        let arch: CnnArch = "3x3-4;1x1-4<0".parse().unwrap();
        let device = Device::flex().autodiff();
        let run = |seed| train_child(&arch, &d, &c, &ChildConfig::default(), &device, seed, |_| {}).unwrap();
        let (a, b) = (run(5), run(5));
        assert_eq!(a.epochs[0].train_loss, b.epochs[0].train_loss);
        assert_eq!(a.reward, b.reward);
        assert_ne!(run(6).epochs[0].train_loss, a.epochs[0].train_loss);
    }

    /// Keeps states in memory; hands out `preload` once.
    #[derive(Default)]
    struct Memory {
        preload: Option<(u64, Vec<u8>)>,
        saved: Vec<(u64, Vec<u8>)>,
    }

    impl Progress for Memory {
        fn load(&mut self) -> Option<(u64, Vec<u8>)> {
            self.preload.take()
        }
        fn due(&mut self, _epochs: u64) -> bool {
            true
        }
        fn save(&mut self, epochs: u64, state: Vec<u8>) {
            self.saved.push((epochs, state));
        }
    }

    #[test]
    fn a_child_resumed_from_its_saved_state_ends_exactly_as_the_uninterrupted_run() {
        let c = TrainConfig { epochs: 4, momentum: 0.9, ..cfg() };
        let d = data(&c);
        let arch: CnnArch = "3x3-8;3x3-8<0;1x1-8<0,1".parse().unwrap();
        let device = Device::flex().autodiff();
        let run = |progress: &mut Memory| {
            let go = |_: &EpochMetrics| ControlFlow::Continue(());
            let t = fit(
                &arch,
                &d,
                &d.validation,
                EvalEvery::Epoch,
                &c,
                &ChildConfig::default(),
                &device,
                3,
                go,
                Some(progress),
            );
            t.unwrap().outcome
        };
        let key = |o: &TrainOutcome| -> Vec<(f64, Option<f64>, f64)> {
            o.epochs.iter().map(|e| (e.train_loss, e.val_accuracy, e.learning_rate)).collect()
        };
        let mut first = Memory::default();
        let full = run(&mut first);
        assert_eq!(
            first.saved.iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![1, 2, 3],
            "saved after every epoch but the last"
        );
        // A worker died after epoch 2: the next one continues from there.
        let mut second = Memory { preload: Some(first.saved[1].clone()), ..Default::default() };
        let resumed = run(&mut second);
        assert_eq!(second.saved.iter().map(|s| s.0).collect::<Vec<_>>(), vec![3], "epochs 1–2 were not trained again");
        assert_eq!(key(&resumed), key(&full));
        assert_eq!(resumed.reward, full.reward);
        assert!(resumed.images_per_second > 0.0);
        // An unreadable state is ignored: training starts over and still gives the same result.
        let mut junk = Memory { preload: Some((2, b"NASC garbage".to_vec())), ..Default::default() };
        assert_eq!(key(&run(&mut junk)), key(&full));
        assert_eq!(junk.saved.len(), 3);
    }

    /// `fill_seconds`: the run re-plans its length after every epoch from the epochs' own times
    /// — never below `epochs`, longer when the budget holds more — the cosine schedule follows
    /// the new length, and the saved state keeps the plan for a resume.
    #[test]
    fn a_filled_run_replans_its_length_from_its_epoch_times() {
        let arch: CnnArch = "3x3-8;3x3-8<0".parse().unwrap();
        let device = Device::flex().autodiff();
        let run = |c: &TrainConfig, progress: &mut Memory| {
            let d = data(c);
            let go = |_: &EpochMetrics| ControlFlow::Continue(());
            let child = ChildConfig::default();
            fit(&arch, &d, &d.validation, EvalEvery::End, c, &child, &device, 3, go, Some(progress)).unwrap().outcome
        };
        let base = TrainConfig { epochs: 2, schedule: crate::Schedule::Cosine, ..cfg() };
        // A budget no epoch fits: exactly the epochs asked for, the plan kept in the state.
        let mut kept = Memory::default();
        let short = run(&TrainConfig { fill_seconds: Some(1e-9), ..base.clone() }, &mut kept);
        assert_eq!(short.epochs.len(), 2);
        assert_eq!(EpochState::decode(&kept.saved[0].1).unwrap().planned_epochs, Some(2));
        let fixed = run(&base, &mut Memory::default());
        assert_eq!(fixed.epochs.len(), 2);
        // A budget of ~20 epochs (timed on the same machine just before): well over 2.
        let per_epoch = fixed.epochs.iter().map(|e| e.seconds).sum::<f64>() / 2.0;
        let c = TrainConfig { epochs: 1, fill_seconds: Some(20.0 * per_epoch), ..base };
        let long = run(&c, &mut Memory::default());
        let n = long.epochs.len();
        assert!(n > 2, "{n} epochs for a budget of 20 (per epoch {per_epoch} s)");
        let (first, last) = (long.epochs[0].learning_rate, long.epochs[n - 1].learning_rate);
        assert!(last < 0.3 * first, "the cosine follows the filled length: {first} → {last}");
    }

    /// The fast kernels (im2col + gemm convolutions, fused batch norm + ReLU) train a child to
    /// burn's loss curve and accuracy: same seed, same data order, differences only from float
    /// rounding. A different seed moves the curve far more than the kernels do.
    #[test]
    fn fast_kernels_train_to_burns_loss_curve_and_accuracy() {
        use nas_child::kernels::Kernels;
        let c = TrainConfig { epochs: 4, momentum: 0.9, ..cfg() };
        let d = data(&c);
        let arch: CnnArch = "3x3-8;5x5s2x2-8<0;1x1-8-mp<0,1".parse().unwrap();
        let device = Device::flex().autodiff();
        let run = |kernels, seed| {
            let child = ChildConfig { kernels, ..Default::default() };
            train_child(&arch, &d, &c, &child, &device, seed, |_| {}).unwrap()
        };
        let (fast, burn) = (run(Kernels::Fast, 4), run(Kernels::Burn, 4));
        let other_seed = run(Kernels::Burn, 5);
        let gap = |a: &TrainOutcome, b: &TrainOutcome| {
            a.epochs.iter().zip(&b.epochs).map(|(x, y)| (x.train_loss - y.train_loss).abs()).fold(0.0, f64::max)
        };
        assert_eq!(fast.epochs.len(), 4);
        assert!(gap(&fast, &burn) < 1e-3, "fast {:?}\nburn {:?}", fast.epochs, burn.epochs);
        // Different summation orders: identical curves would mean the fast kernels never ran.
        assert!(gap(&fast, &burn) > 0.0, "the fast kernels did not run");
        assert!(gap(&other_seed, &burn) > 10.0 * gap(&fast, &burn), "{:?}", other_seed.epochs);
        assert!(
            (fast.val_accuracy - burn.val_accuracy).abs() <= 1.0 / 80.0 + 1e-9,
            "{} vs {}",
            fast.val_accuracy,
            burn.val_accuracy
        );
        assert!(fast.epochs[3].train_loss < fast.epochs[0].train_loss);
    }

    #[test]
    fn divergence_and_size_caps_are_reported() {
        let c = TrainConfig { epochs: 2, learning_rate: 1e30, ..cfg() };
        let d = data(&c);
        let arch: CnnArch = "3x3-8;3x3-8<0".parse().unwrap();
        let device = Device::flex().autodiff();
        let e = train_child(&arch, &d, &c, &ChildConfig::default(), &device, 1, |_| {}).unwrap_err();
        assert!(matches!(e, TrainError::Diverged { .. }), "{e}");
        let capped = ChildConfig { max_params: Some(10), ..Default::default() };
        let e = train_child(&arch, &d, &cfg(), &capped, &device, 1, |_| {}).unwrap_err();
        assert!(e.to_string().contains("exceeds the cap"), "{e}");
    }
}
