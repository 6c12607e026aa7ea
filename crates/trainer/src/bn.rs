//! How a trained child's batch norms are set before it is scored.
//!
//! Running statistics are exponential averages over training steps taken under *older* weights;
//! after a short, high-learning-rate run they describe a network that no longer exists, and
//! validation accuracy measured with them is mostly noise (see docs/RESULTS.md, "Fidelity").
//! [`recalibrated_statistics`] recomputes them under the final weights: the cumulative average of
//! the per-batch mean and variance over a fixed, seeded set of training batches (what PyTorch's
//! `momentum=None` gives, and Once-for-All's `set_running_statistics`).

use burn::prelude::*;
use nas_child::{ChildNet, RunningStatistics};
use nas_data::ImageSet;
use rand::seq::SliceRandom;

use crate::batches::{image_batch, rng_for};
use crate::train::accuracy_of;
use crate::{PreparedData, accuracy};

/// How batch norm normalises when a trained child is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BnScoring {
    /// The running statistics training left (burn's and PyTorch's default).
    Running,
    /// Running statistics recomputed from this many training batches under the final weights.
    Recalibrated { batches: usize },
    /// Each evaluation batch (256 images) normalised by its own statistics.
    BatchStatistics,
}

impl BnScoring {
    /// `[train] bn_recalibration_batches`: 0 means the running statistics.
    pub fn from_batches(batches: usize) -> Self {
        if batches == 0 { BnScoring::Running } else { BnScoring::Recalibrated { batches } }
    }

    /// Short name for tables.
    pub fn name(self) -> String {
        match self {
            BnScoring::Running => "running".into(),
            BnScoring::Recalibrated { batches } => format!("recal-{batches}"),
            BnScoring::BatchStatistics => "batch-stats".into(),
        }
    }
}

/// The training images recalibration looks at: `batches` batches of `batch_size` from a
/// permutation fixed by `seed` (no augmentation), so the same weights always get the same
/// statistics.
fn recalibration_images(train: &ImageSet, batches: usize, batch_size: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..train.len()).collect();
    order.shuffle(&mut rng_for(&[seed, 3]));
    order.truncate(batches.saturating_mul(batch_size.max(1)));
    order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

/// Per layer, the cumulative average of the batch mean and of the batch variance over the
/// recalibration batches, under `model`'s current weights (an inference module). Empty
/// training set or `batches == 0`: `model`'s own running statistics.
pub fn recalibrated_statistics(
    model: &ChildNet,
    data: &PreparedData,
    batches: usize,
    batch_size: usize,
    seed: u64,
    device: &Device,
) -> Vec<RunningStatistics> {
    let chunks = recalibration_images(&data.train, batches, batch_size, seed);
    if chunks.is_empty() {
        return model.running_statistics();
    }
    let mut sums: Option<Vec<(Tensor<1>, Tensor<1>)>> = None;
    for chunk in &chunks {
        let (x, _) = image_batch(&data.train, chunk, &data.norm, device);
        let stats = model.batch_statistics(x);
        sums = Some(match sums {
            None => stats,
            Some(acc) => acc.into_iter().zip(stats).map(|((m, v), (bm, bv))| (m.add(bm), v.add(bv))).collect(),
        });
    }
    let n = chunks.len() as f64;
    let values = |t: Tensor<1>| t.div_scalar(n).into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
    sums.unwrap_or_default()
        .into_iter()
        .map(|(m, v)| RunningStatistics { mean: values(m), variance: values(v) })
        .collect()
}

/// Accuracy on `eval` of `model` (the training module; left as it is) with batch norm set as
/// `how` says, and the statistics it used when they were recomputed.
pub fn score(
    model: &ChildNet,
    data: &PreparedData,
    eval: &ImageSet,
    how: BnScoring,
    batch_size: usize,
    seed: u64,
    device: &Device,
) -> (f64, Option<Vec<RunningStatistics>>) {
    let plain = model.valid();
    match how {
        BnScoring::Running => (accuracy(&plain, eval, &data.norm, device), None),
        BnScoring::BatchStatistics => {
            (accuracy_of(eval, &data.norm, device, |x| plain.forward_batch_statistics(x)), None)
        }
        BnScoring::Recalibrated { batches } => {
            let stats = recalibrated_statistics(&plain, data, batches, batch_size, seed, device);
            plain.set_running_statistics(&stats);
            (accuracy(&plain, eval, &data.norm, device), Some(stats))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrainConfig;
    use nas_child::{ChildConfig, InputShape, Plan};
    use nas_data::Augment;

    fn setup() -> (ChildNet, PreparedData, Device) {
        setup_with(nas_child::kernels::Kernels::Fast)
    }

    fn setup_with(kernels: nas_child::kernels::Kernels) -> (ChildNet, PreparedData, Device) {
        let cfg = TrainConfig { validation: 40, ..Default::default() };
        let data =
            PreparedData::from_set(ImageSet::quadrants(200, 0), &cfg, 0, Augment::default(), "q".into()).unwrap();
        let device = Device::flex().autodiff();
        let t = &data.train;
        let input = InputShape { channels: t.channels, height: t.height, width: t.width, classes: t.classes };
        let child = ChildConfig { kernels, ..Default::default() };
        let plan = Plan::new(&"3x3-4;3x3s2x2-6-mp<0;1x1-4<0,1".parse().unwrap(), input, &child).unwrap();
        let net = crate::seeded(&device, 7, || ChildNet::new(plan, &child, &device));
        (net, data, device)
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "{what}: {x} vs {y}");
        }
    }

    /// Recalibration sets eval-mode statistics to the plain average of the batch statistics of
    /// the batches it saw, computed here directly: each batch's activations at every layer, with
    /// the layers before it normalised by that batch's statistics.
    #[test]
    fn recalibration_is_the_cumulative_average_of_the_batches_it_saw() {
        let (net, data, device) = setup();
        let plain = net.valid();
        let before = plain.running_statistics();
        let stats = recalibrated_statistics(&plain, &data, 3, 16, 5, &device);
        assert_eq!(plain.running_statistics(), before, "computing statistics changes nothing");
        let chunks = recalibration_images(&data.train, 3, 16, 5);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![16, 16, 16]);
        let per_batch: Vec<Vec<RunningStatistics>> = chunks
            .iter()
            .map(|c| {
                let (x, _) = image_batch(&data.train, c, &data.norm, &device);
                recalibrated_statistics_of_one(&plain, x)
            })
            .collect();
        for (l, s) in stats.iter().enumerate() {
            let avg = |f: fn(&RunningStatistics) -> &Vec<f32>| -> Vec<f32> {
                let n = per_batch.len() as f32;
                (0..f(s).len()).map(|c| per_batch.iter().map(|b| f(&b[l])[c]).sum::<f32>() / n).collect()
            };
            close(&s.mean, &avg(|r| &r.mean), &format!("layer {l} mean"));
            close(&s.variance, &avg(|r| &r.variance), &format!("layer {l} variance"));
        }
        // The training module is left alone by scoring; the statistics are deterministic.
        let (acc, used) = score(&net, &data, &data.validation, BnScoring::Recalibrated { batches: 3 }, 16, 5, &device);
        assert!((0.0..=1.0).contains(&acc));
        assert_eq!(used.as_deref(), Some(stats.as_slice()));
        assert_eq!(net.running_statistics(), before);
        assert_eq!(recalibrated_statistics(&plain, &data, 3, 16, 5, &device), stats);
        assert_ne!(recalibrated_statistics(&plain, &data, 3, 16, 6, &device), stats, "another seed, other images");
        // Written into a network, they are what inference uses.
        plain.set_running_statistics(&stats);
        assert_eq!(plain.running_statistics(), stats);
    }

    /// One batch's statistics computed directly from the activations, layer by layer.
    fn recalibrated_statistics_of_one(net: &ChildNet, x: Tensor<4>) -> Vec<RunningStatistics> {
        let v = |t: Tensor<1>| t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        net.batch_statistics(x).into_iter().map(|(m, var)| RunningStatistics { mean: v(m), variance: v(var) }).collect()
    }

    /// Our convolution kernels and burn's give the same recalibrated statistics (same seed, same
    /// weights, only float rounding between them).
    #[test]
    fn recalibration_agrees_on_both_kernel_paths() {
        use nas_child::kernels::Kernels;
        let stats = |k| {
            let (net, data, device) = setup_with(k);
            recalibrated_statistics(&net.valid(), &data, 2, 16, 3, &device)
        };
        let (fast, burn) = (stats(Kernels::Fast), stats(Kernels::Burn));
        for (l, (a, b)) in fast.iter().zip(&burn).enumerate() {
            close(&a.mean, &b.mean, &format!("layer {l} mean"));
            close(&a.variance, &b.variance, &format!("layer {l} variance"));
        }
    }

    /// Zero batches (or nothing to train on) leaves the running statistics as they are; so does
    /// scoring with them.
    #[test]
    fn zero_batches_is_a_no_op() {
        let (net, data, device) = setup();
        let plain = net.valid();
        assert_eq!(recalibrated_statistics(&plain, &data, 0, 16, 1, &device), plain.running_statistics());
        assert_eq!(BnScoring::from_batches(0), BnScoring::Running);
        let (a, _) = score(&net, &data, &data.validation, BnScoring::Running, 16, 1, &device);
        let (b, _) = score(&net, &data, &data.validation, BnScoring::Running, 16, 1, &device);
        assert_eq!(a, b);
    }
}
