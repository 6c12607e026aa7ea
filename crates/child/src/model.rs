//! [`ChildNet`]: the burn module of a compiled [`Plan`].

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::ops::PadMode;

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
fn pad_to(x: Tensor<4>, size: (usize, usize)) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if (h, w) == size {
        return x;
    }
    let (dh, dw) = (size.0 - h, size.1 - w);
    x.pad([(dh / 2, dh - dh / 2), (dw / 2, dw - dw / 2)], PadMode::Constant(0.0))
}

/// Pad every tensor to `size` and concatenate along channels (repair rule 3).
fn concat_padded(xs: Vec<Tensor<4>>, size: (usize, usize)) -> Tensor<4> {
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

    /// The plan this network was built from.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Logits `[batch, classes]` for images `[batch, channels, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut outs: Vec<Tensor<4>> = Vec::with_capacity(self.blocks.len());
        for (l, block) in self.plan.layers.iter().zip(&self.blocks) {
            let ins = l
                .inputs
                .iter()
                .map(|s| match s {
                    Source::Image => images.clone(),
                    Source::Layer(j) => outs[*j].clone(),
                })
                .collect();
            let x = concat_padded(ins, l.in_size);
            let spec = ConvSpec { stride: l.stride, padding: l.padding };
            let y = self.kernels.run(|| kernels::conv2d(&x, &block.conv.weight.val(), spec));
            let y = y.unwrap_or_else(|| block.conv.forward(x));
            let fused = self.kernels.run(|| kernels::batch_norm_relu(&block.bn, &y));
            let mut y = fused.unwrap_or_else(|| block.relu.forward(block.bn.forward(y)));
            if let Some(p) = &block.pool {
                let fast = self.kernels.run(|| kernels::max_pool_2x2(&y));
                y = fast.unwrap_or_else(|| p.forward(y));
            }
            outs.push(y);
        }
        let sinks = self.plan.sinks.iter().map(|&i| outs[i].clone()).collect();
        let head = adaptive_avg_pool2d(concat_padded(sinks, self.plan.head_size), [1, 1]);
        let [b, c, _, _] = head.dims();
        self.classifier.forward(head.reshape([b, c]))
    }
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
