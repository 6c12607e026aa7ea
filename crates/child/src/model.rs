//! [`ChildNet`]: the burn module of a compiled [`Plan`].

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::ops::PadMode;
use serde::{Deserialize, Serialize};

use crate::kernels::{self, ConvSpec, Kernels};
use crate::{ChildConfig, Plan, Source};

/// conv → batch norm → ReLU (→ max-pool).
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    bn: BatchNorm,
    relu: Relu,
    pool: Option<MaxPool2d>,
}

/// A child network. Input `[batch, channels, height, width]`, output logits `[batch, classes]`.
#[derive(Module, Debug)]
pub struct ChildNet {
    blocks: Vec<ConvBlock>,
    classifier: Linear,
    #[module(skip)]
    plan: Plan,
    #[module(skip)]
    kernels: Kernels,
}

/// Zero-pad `x` (`[b, c, h, w]`, centred) to `size` when it is smaller.
pub(crate) fn pad_to(x: Tensor<4>, size: (usize, usize)) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if (h, w) == size {
        return x;
    }
    let (dh, dw) = (size.0 - h, size.1 - w);
    x.pad([(dh / 2, dh - dh / 2), (dw / 2, dw - dw / 2)], PadMode::Constant(0.0))
}

/// Layer `l`'s input: the image or the outputs of the earlier layers it reads, padded to its
/// input size and concatenated along channels (repair rules 1 and 3).
pub(crate) fn layer_input(l: &crate::LayerPlan, images: &Tensor<4>, outs: &[Tensor<4>], kernels: Kernels) -> Tensor<4> {
    let ins = l
        .inputs
        .iter()
        .map(|s| match s {
            Source::Image => images.clone(),
            Source::Layer(j) => outs[*j].clone(),
        })
        .collect();
    concat_padded(ins, l.in_size, kernels)
}

/// The classifier's input `[batch, head_channels]`: the sinks' outputs padded, concatenated and
/// averaged over pixels (repair rule 2).
pub(crate) fn head_features(plan: &Plan, outs: &[Tensor<4>], kernels: Kernels) -> Tensor<2> {
    let sinks = plan.sinks.iter().map(|&i| outs[i].clone()).collect();
    let head = adaptive_avg_pool2d(concat_padded(sinks, plan.head_size, kernels), [1, 1]);
    let [b, c, _, _] = head.dims();
    head.reshape([b, c])
}

/// Pad every tensor to `size` and concatenate along channels (repair rule 3): one operation with
/// the kernels where they run, burn's `pad` and `cat` otherwise.
fn concat_padded(mut xs: Vec<Tensor<4>>, size: (usize, usize), kernels: Kernels) -> Tensor<4> {
    if xs.len() == 1 && xs[0].dims()[2..] == [size.0, size.1] {
        return xs.pop().expect("one tensor");
    }
    if let Some(y) = kernels.run(|| kernels::concat_padded(&xs, size)) {
        return y;
    }
    let mut xs: Vec<Tensor<4>> = xs.into_iter().map(|x| pad_to(x, size)).collect();
    if xs.len() == 1 { xs.pop().expect("one tensor") } else { Tensor::cat(xs, 1) }
}

impl ChildNet {
    /// Allocate the network of `plan` on `device` (burn's default initialisers).
    pub fn new(plan: Plan, config: &ChildConfig, device: &Device) -> Self {
        let blocks = plan
            .layers
            .iter()
            .map(|l| {
                let (t, left, b, r) = l.padding;
                ConvBlock {
                    conv: Conv2dConfig::new([l.in_channels, l.out_channels], [l.kernel.0, l.kernel.1])
                        .with_stride([l.stride.0, l.stride.1])
                        .with_padding(PaddingConfig2d::Explicit(t, left, b, r))
                        .with_bias(false)
                        .init(device),
                    bn: BatchNormConfig::new(l.out_channels).with_epsilon(config.bn_epsilon).init(device),
                    relu: Relu::new(),
                    pool: l.pool.then(|| MaxPool2dConfig::new([2, 2]).init()),
                }
            })
            .collect();
        let classifier = LinearConfig::new(plan.head_channels, plan.input.classes).init(device);
        ChildNet { blocks, classifier, plan, kernels: config.kernels }
    }

    /// The network of `plan` with the given weights (running statistics fresh): a child lifted
    /// out of a supernet.
    pub(crate) fn with_weights(
        plan: Plan,
        config: &ChildConfig,
        weights: crate::supernet::Sliced,
        device: &Device,
    ) -> Self {
        let mut net = ChildNet::new(plan, config, device);
        for (block, l) in net.blocks.iter_mut().zip(weights.layers) {
            block.conv.weight = burn::module::Param::from_tensor(l.conv);
            block.bn.gamma = burn::module::Param::from_tensor(l.gamma);
            block.bn.beta = burn::module::Param::from_tensor(l.beta);
        }
        net.classifier.weight = burn::module::Param::from_tensor(weights.classifier_weight);
        net.classifier.bias = Some(burn::module::Param::from_tensor(weights.classifier_bias));
        net
    }

    /// The network's parameters as tensors (running statistics aside), in [`with_weights`]'s
    /// layout.
    ///
    /// [`with_weights`]: ChildNet::with_weights
    #[cfg(test)]
    pub(crate) fn parameters(&self) -> crate::supernet::Sliced {
        crate::supernet::Sliced {
            layers: self
                .blocks
                .iter()
                .map(|b| crate::supernet::SlicedLayer {
                    conv: b.conv.weight.val(),
                    gamma: b.bn.gamma.val(),
                    beta: b.bn.beta.val(),
                })
                .collect(),
            classifier_weight: self.classifier.weight.val(),
            classifier_bias: self.classifier.bias.as_ref().expect("the classifier has a bias").val(),
        }
    }

    /// The plan this network was built from.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Logits `[batch, classes]` for images `[batch, channels, height, width]`. Batch norm runs
    /// as the module says: batch statistics (updating the running ones) when training, the
    /// running statistics in inference.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_with(images, |_, block, y| {
            let fused = self.kernels.run(|| kernels::batch_norm_relu(&block.bn, &y));
            fused.unwrap_or_else(|| block.relu.forward(block.bn.forward(y)))
        })
    }

    /// Logits `[batch, classes]` with every batch norm normalising by the batch's own
    /// statistics, in any mode, leaving the running statistics alone.
    pub fn forward_batch_statistics(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_with(images, |_, block, y| block.relu.forward(batch_normalised(block, y).output))
    }

    /// Per layer, the mean and (biased) variance `[out_channels]` over batch and pixels of its
    /// convolution's output for `images`, each layer normalised by its own batch statistics (as
    /// in training; running statistics untouched).
    pub fn batch_statistics(&self, images: Tensor<4>) -> Vec<(Tensor<1>, Tensor<1>)> {
        let mut stats = Vec::with_capacity(self.blocks.len());
        self.forward_with(images, |_, block, y| {
            let r = batch_normalised(block, y);
            stats.push((r.mean, r.variance));
            block.relu.forward(r.output)
        });
        stats
    }

    /// Every batch norm's running (mean, variance), layer by layer.
    pub fn running_statistics(&self) -> Vec<RunningStatistics> {
        self.blocks
            .iter()
            .map(|b| RunningStatistics {
                mean: plain(b.bn.running_mean.value_sync()),
                variance: plain(b.bn.running_var.value_sync()),
            })
            .collect()
    }

    /// Every weight the forward pass in inference reads, as plain values.
    pub fn weights(&self) -> ChildWeights {
        let layers = self
            .blocks
            .iter()
            .zip(self.running_statistics())
            .map(|(b, running)| LayerWeights {
                conv: plain(b.conv.weight.val().flatten::<1>(0, 3)),
                gamma: plain(b.bn.gamma.val()),
                beta: plain(b.bn.beta.val()),
                running,
            })
            .collect();
        let bias = self.classifier.bias.as_ref().map(|b| plain(b.val()));
        ChildWeights {
            layers,
            classifier_weight: plain(self.classifier.weight.val().flatten::<1>(0, 1)),
            classifier_bias: bias.unwrap_or_else(|| vec![0.0; self.plan.input.classes]),
            bn_epsilon: self.blocks.first().map_or(1e-5, |b| b.bn.epsilon),
        }
    }

    /// Replace every batch norm's running statistics (one entry per layer, in order; lengths
    /// must match the layers' filter counts).
    pub fn set_running_statistics(&self, stats: &[RunningStatistics]) {
        assert_eq!(stats.len(), self.blocks.len(), "one entry of running statistics per layer");
        for (b, s) in self.blocks.iter().zip(stats) {
            for (state, v) in [(&b.bn.running_mean, &s.mean), (&b.bn.running_var, &s.variance)] {
                let device = state.value().device();
                let t = Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &device);
                // A running state keeps one pending value per thread, averaged into the value on
                // the next sync: settle what is pending, then leave exactly this value.
                let _ = state.value_sync();
                state.update(t);
                let _ = state.value_sync();
            }
        }
    }

    /// The forward pass with `norm(layer, block, conv output)` as each layer's batch norm + ReLU.
    fn forward_with(
        &self,
        images: Tensor<4>,
        mut norm: impl FnMut(usize, &ConvBlock, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<2> {
        let mut outs: Vec<Tensor<4>> = Vec::with_capacity(self.blocks.len());
        for (i, (l, block)) in self.plan.layers.iter().zip(&self.blocks).enumerate() {
            let x = layer_input(l, &images, &outs, self.kernels);
            let spec = ConvSpec { stride: l.stride, padding: l.padding };
            let y = self.kernels.run(|| kernels::conv2d(&x, &block.conv.weight.val(), spec));
            let y = y.unwrap_or_else(|| block.conv.forward(x));
            let mut y = norm(i, block, y);
            if let Some(p) = &block.pool {
                let fast = self.kernels.run(|| kernels::max_pool_2x2(&y));
                y = fast.unwrap_or_else(|| p.forward(y));
            }
            outs.push(y);
        }
        self.classifier.forward(head_features(&self.plan, &outs, self.kernels))
    }
}

/// A tensor's values as plain `f32`.
fn plain(t: Tensor<1>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}

/// A network's weights as plain `f32` values, in the layouts ONNX uses, for exporters.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildWeights {
    pub layers: Vec<LayerWeights>,
    /// The classifier's weight `[head_channels, classes]` (row-major) and bias `[classes]`.
    pub classifier_weight: Vec<f32>,
    pub classifier_bias: Vec<f32>,
    /// Batch-norm ε, shared by every layer.
    pub bn_epsilon: f64,
}

/// One layer's convolution and batch norm, as plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerWeights {
    /// Convolution weight `[out_channels, in_channels, kernel_h, kernel_w]`, row-major.
    pub conv: Vec<f32>,
    /// Batch-norm scale γ and shift β `[out_channels]`.
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    /// The running statistics inference normalises by.
    pub running: RunningStatistics,
}

/// One layer's batch-norm running statistics, as plain values `[out_channels]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningStatistics {
    pub mean: Vec<f32>,
    pub variance: Vec<f32>,
}

/// `block`'s batch norm of `y` `[B, C, H, W]` by the batch's own statistics (burn's training
/// arithmetic, without touching the running statistics).
fn batch_normalised(block: &ConvBlock, y: Tensor<4>) -> burn::tensor::module::BatchNormTrainOutput<4> {
    burn::tensor::module::batch_norm_train(y, block.bn.gamma.val(), block.bn.beta.val(), block.bn.epsilon)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InputShape;

    fn net(arch: &str, device: &Device) -> ChildNet {
        let input = InputShape { channels: 1, height: 8, width: 8, classes: 10 };
        let cfg = ChildConfig::default();
        ChildNet::new(Plan::new(&arch.parse().unwrap(), input, &cfg).unwrap(), &cfg, device)
    }

    fn values(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// The fast kernels and burn's operations give the same logits, the same gradient for every
    /// convolution weight and batch-norm γ and β, and the same running statistics, through
    /// skips, padding, strides and pooling (one network, run once with each).
    #[test]
    fn fast_kernels_give_burns_outputs_gradients_and_running_statistics() {
        let device = Device::flex().autodiff();
        for arch in ["3x3-8;5x5-4;1x1-6<0;3x3-4<1,2", "7x7s3x1-8;3x3s1x3-4<0;5x1-6-mp<0,1", "2x4-4;1x1-4<0"] {
            let x = Tensor::<4>::random([3, 1, 8, 8], burn::tensor::Distribution::Default, &device);
            let fast_net = net(arch, &device);
            // Running statistics are shared by clones, so each run moves them on from the last.
            let running = |n: &ChildNet| -> Vec<(Vec<f32>, Vec<f32>)> {
                n.blocks
                    .iter()
                    .map(|b| (values(b.bn.running_mean.value_sync()), values(b.bn.running_var.value_sync())))
                    .collect()
            };
            let run = |kernels| {
                let n = ChildNet { kernels, ..fast_net.clone() };
                let logits = n.forward(x.clone());
                let grads = logits.clone().powf_scalar(2.0).sum().backward();
                let grad = |p: Tensor<1>| values(p.grad(&grads).expect("gradient"));
                let g: Vec<Vec<f32>> = n
                    .blocks
                    .iter()
                    .flat_map(|b| {
                        let w = b.conv.weight.val().grad(&grads).expect("gradient").flatten::<1>(0, 3);
                        [values(w), grad(b.bn.gamma.val()), grad(b.bn.beta.val())]
                    })
                    .collect();
                (values(logits.flatten::<1>(0, 1)), g, running(&n))
            };
            let r0 = running(&fast_net);
            let (fast, burn) = (run(Kernels::Fast), run(Kernels::Burn));
            let close = |a: &[f32], b: &[f32], what: &str| {
                let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() <= 1e-3 * scale, "{arch} {what}: {x} vs {y}");
                }
            };
            close(&fast.0, &burn.0, "logits");
            for (i, (a, b)) in fast.1.iter().zip(&burn.1).enumerate() {
                close(a, b, &format!("layer {} {}", i / 3, ["weight gradient", "γ gradient", "β gradient"][i % 3]));
            }
            // r1 = 0.9·r0 + 0.1·stat (fast), r2 = 0.9·r1 + 0.1·stat (burn): equal stats ⇔
            // r2 − r1 = 0.9·(r1 − r0).
            for (l, ((r0, r1), r2)) in r0.iter().zip(&fast.2).zip(&burn.2).enumerate() {
                for (which, (a, (b, c))) in [(&r0.0, (&r1.0, &r2.0)), (&r0.1, (&r1.1, &r2.1))].into_iter().enumerate() {
                    let step: Vec<f32> = b.iter().zip(c).map(|(b, c)| c - b).collect();
                    let want: Vec<f32> = a.iter().zip(b).map(|(a, b)| 0.9 * (b - a)).collect();
                    close(&step, &want, &format!("layer {l} running {}", ["mean", "variance"][which]));
                }
            }
            // Inference (no autodiff) takes the fast convolution too.
            let plain = fast_net.valid();
            let burn_plain = ChildNet { kernels: Kernels::Burn, ..plain.clone() };
            let x = x.clone().inner();
            let a = values(plain.forward(x.clone()).flatten::<1>(0, 1));
            close(&a, &values(burn_plain.forward(x).flatten::<1>(0, 1)), "inference logits");
        }
    }

    /// `batch_statistics` gives each layer's batch mean and variance as burn's own training-mode
    /// batch norm sees them (read back from the running statistics one training forward moves:
    /// stat = (new − 0.9·old) / 0.1), leaves the running statistics alone, and
    /// `forward_batch_statistics` gives the logits of that training forward.
    #[test]
    fn batch_statistics_are_what_a_training_forward_normalises_by() {
        // burn's batch norm trains only on an autodiff device.
        let device = Device::flex().autodiff();
        let n = ChildNet { kernels: Kernels::Burn, ..net("3x3-6;3x3s2x2-4-mp<0;1x1-5<0,1", &device) };
        let x = Tensor::<4>::random([4, 1, 8, 8], burn::tensor::Distribution::Default, &device);
        let old = n.running_statistics();
        let stats = n.batch_statistics(x.clone());
        let logits = values(n.forward_batch_statistics(x.clone()).flatten::<1>(0, 1));
        assert_eq!(n.running_statistics(), old, "running statistics untouched");
        let training = n.clone();
        let train_logits = values(training.forward(x).flatten::<1>(0, 1));
        let new = training.running_statistics();
        for (l, ((m, v), (o, nw))) in stats.into_iter().zip(old.iter().zip(&new)).enumerate() {
            let implied =
                |o: &[f32], n: &[f32]| -> Vec<f32> { o.iter().zip(n).map(|(o, n)| (n - 0.9 * o) / 0.1).collect() };
            let (m, v) = (values(m), values(v));
            for (a, b) in
                m.iter().zip(implied(&o.mean, &nw.mean)).chain(v.iter().zip(implied(&o.variance, &nw.variance)))
            {
                assert!((a - b).abs() < 1e-3 * b.abs().max(1.0), "layer {l}: {a} vs {b}");
            }
        }
        for (a, b) in logits.iter().zip(&train_logits) {
            assert!((a - b).abs() < 1e-4, "logits {a} vs {b}");
        }
        n.set_running_statistics(&new);
        assert_eq!(n.running_statistics(), new);
    }

    #[test]
    fn output_shape_for_every_repair_rule_and_stride() {
        let device = Device::flex();
        for arch in [
            "3x3-8",
            "3x3-8;5x5-4",                        // rule 1
            "3x3-8;5x5-4;1x1-6<0",                // rule 2: two sinks
            "3x3s2x2-8;3x3-4;1x1-6<0,1",          // rule 3: 4×4 and 8×8 inputs
            "7x7s3x1-8;3x3s1x3-4<0;5x1-6-mp<0,1", // mixed strides and pooling
            "2x4-4;1x1-4<0",                      // even kernels
        ] {
            let n = net(arch, &device);
            let x = Tensor::<4>::ones([3, 1, 8, 8], &device);
            assert_eq!(n.forward(x).dims(), [3, 10], "{arch}");
        }
    }

    #[test]
    fn parameter_count_matches_the_plan() {
        let device = Device::flex();
        for arch in ["3x3-8;1x1-4<0", "3x3s2x2-8;3x3-4;1x1-6<0,1", "5x7-24;3x3-36<0;1x1-48<0,1"] {
            let n = net(arch, &device);
            // burn also counts batch norm's running mean and variance, which are not trained.
            let running: usize = n.plan().layers.iter().map(|l| 2 * l.out_channels).sum();
            assert_eq!((n.num_params() - running) as u64, n.plan().params, "{arch}");
        }
    }

    #[test]
    fn gradients_reach_every_layer() {
        let device = Device::flex().autodiff();
        let n = net("3x3-8;5x5-4;1x1-6<0;3x3-4<1,2", &device);
        let x = Tensor::<4>::random([2, 1, 8, 8], burn::tensor::Distribution::Default, &device);
        let loss = n.forward(x).powf_scalar(2.0).sum();
        let grads = loss.backward();
        for (i, b) in n.blocks.iter().enumerate() {
            let g = b.conv.weight.val().grad(&grads).unwrap_or_else(|| panic!("no gradient at layer {i}"));
            let s: f32 = g.abs().sum().into_scalar();
            assert!(s > 0.0, "zero gradient at layer {i}");
        }
    }
}
