//! [`SuperNet`]: one set of weights shared by every child of a CNN space, so a child is scored
//! without being trained from scratch (ENAS, Pham et al. 2018; per-axis kernel crops and
//! first-F filter slices as in Once-for-All, Cai et al. 2020).
//!
//! Layer `i` owns one convolution weight `[F, C + i·F, KH, KW]` (`F` the space's largest filter
//! count, `KH × KW` its largest kernel, `C` the image's channels). Along the input channels it is
//! split into blocks, one per possible input: the image (`C` channels), then layer 0, 1, …, i−1
//! (`F` each). A child's layer with kernel `kh × kw`, `f` filters and inputs `s₁, s₂, …` uses
//! the centre `kh × kw` crop, the first `f` output filters and, for each input, the first
//! channels of that input's block (as many as the input has): the concatenation of those slices
//! along the input channels is exactly the weight a stand-alone child's convolution over its
//! concatenated inputs would have, so every child of the space is a sub-network and its forward
//! pass is the stand-alone one. The classifier `[layers·F, classes]` has a row block per layer,
//! read when that layer is a sink. Gradients reach the shared tensors through `slice` and `cat`
//! (zero outside the slices a child used); the convolutions, batch norms and pooling run on the
//! crate's kernels as a stand-alone child's do.
//!
//! Batch norm has shared γ and β (first `f` entries) but no running statistics: a child is
//! normalised by its own batch's statistics, in training and when scored (as ENAS scores its
//! children), so one child's statistics never leak into another's.

use burn::module::Param;
use burn::nn::pool::MaxPool2dConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::ops::{ConvOptions, PadMode};
use nas_space::CnnSpace;
use serde::{Deserialize, Serialize};

use crate::kernels::{self, ConvSpec, Kernels};
use crate::model::{head_features, layer_input};
use crate::{ChildConfig, ChildNet, InputShape, Plan, PlanError, Source};

/// The size of the largest child a supernet holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuperShape {
    pub input: InputShape,
    /// Layers (the depth schedule's largest depth).
    pub layers: usize,
    /// The largest filter height and width of the space.
    pub kernel: (usize, usize),
    /// The largest filter count, extra filters included.
    pub filters: usize,
}

impl SuperShape {
    /// The supernet of `space` with up to `layers` layers for images of `input`.
    pub fn of(space: &CnnSpace, layers: usize, input: InputShape, config: &ChildConfig) -> Self {
        let max = |v: &[u32]| v.iter().copied().max().unwrap_or(1) as usize;
        SuperShape {
            input,
            layers,
            kernel: (max(&space.filter_heights), max(&space.filter_widths)),
            filters: max(&space.filters) + config.extra_filters as usize,
        }
    }

    /// Input channels of layer `i`'s shared weight: the image's block and one per earlier layer.
    pub fn in_width(&self, i: usize) -> usize {
        self.input.channels + i * self.filters
    }

    /// Shared parameters.
    pub fn params(&self) -> u64 {
        let (kh, kw, f) = (self.kernel.0 as u64, self.kernel.1 as u64, self.filters as u64);
        let convs: u64 = (0..self.layers).map(|i| f * self.in_width(i) as u64 * kh * kw + 2 * f).sum();
        convs + (self.layers as u64 * f + 1) * self.input.classes as u64
    }

    /// Whether `plan` is a sub-network of this supernet; the reason when it is not.
    pub fn check(&self, plan: &Plan) -> Result<(), PlanError> {
        let bad = |why: String| Err(PlanError::Invalid(format!("not a sub-network of the supernet: {why}")));
        if plan.input != self.input {
            return bad(format!("input {:?}, the supernet's is {:?}", plan.input, self.input));
        }
        if plan.layers.len() > self.layers {
            return bad(format!("{} layers, at most {}", plan.layers.len(), self.layers));
        }
        for (i, l) in plan.layers.iter().enumerate() {
            if l.kernel.0 > self.kernel.0 || l.kernel.1 > self.kernel.1 || l.out_channels > self.filters {
                return bad(format!(
                    "layer {i} is {}x{} with {} filters, at most {}x{} with {}",
                    l.kernel.0, l.kernel.1, l.out_channels, self.kernel.0, self.kernel.1, self.filters
                ));
            }
        }
        Ok(())
    }
}

/// One layer's shared weights.
#[derive(Module, Debug)]
pub struct SuperLayer {
    /// `[F, C + i·F, KH, KW]`.
    conv: Param<Tensor<4>>,
    /// Batch-norm scale and shift `[F]`.
    gamma: Param<Tensor<1>>,
    beta: Param<Tensor<1>>,
}

/// The weights every child of a CNN space shares. Input `[batch, channels, height, width]`,
/// output logits `[batch, classes]` of the child whose plan is given.
#[derive(Module, Debug)]
pub struct SuperNet {
    layers: Vec<SuperLayer>,
    /// `[layers·F, classes]`: row block `i` weighs layer `i`'s output when it is a sink.
    classifier_weight: Param<Tensor<2>>,
    /// `[classes]`.
    classifier_bias: Param<Tensor<1>>,
    #[module(skip)]
    shape: SuperShape,
    #[module(skip)]
    kernels: Kernels,
    #[module(skip)]
    bn_epsilon: f64,
}

/// One child's weights cut out of a supernet.
#[derive(Debug, Clone)]
pub struct Sliced {
    pub layers: Vec<SlicedLayer>,
    /// `[head_channels, classes]`.
    pub classifier_weight: Tensor<2>,
    /// `[classes]`.
    pub classifier_bias: Tensor<1>,
}

/// One layer of a [`Sliced`] child.
#[derive(Debug, Clone)]
pub struct SlicedLayer {
    /// `[out, in, kh, kw]`.
    pub conv: Tensor<4>,
    /// `[out]`.
    pub gamma: Tensor<1>,
    pub beta: Tensor<1>,
}

/// Tensors shaped like a supernet's weights, layer by layer.
struct Shared {
    convs: Vec<Tensor<4>>,
    gammas: Vec<Tensor<1>>,
    betas: Vec<Tensor<1>>,
    classifier_weight: Tensor<2>,
    classifier_bias: Tensor<1>,
}

/// The centre `k` of `max` positions.
fn centre(max: usize, k: usize) -> std::ops::Range<usize> {
    let start = (max - k) / 2;
    start..start + k
}

impl SuperNet {
    /// Allocate the shared weights on `device`: convolutions uniform in ±1/√(F·KH·KW) (burn's
    /// default for a convolution of one full input block; batch norm follows every one, so the
    /// scale only sets the start), γ = 1, β = 0, the classifier uniform in ±1/√F.
    pub fn new(shape: SuperShape, config: &ChildConfig, device: &Device) -> Self {
        let f = shape.filters;
        let fan = (f * shape.kernel.0 * shape.kernel.1) as f64;
        let uniform = |bound: f64| Distribution::Uniform(-bound, bound);
        let layers = (0..shape.layers)
            .map(|i| SuperLayer {
                conv: Param::from_tensor(Tensor::random(
                    [f, shape.in_width(i), shape.kernel.0, shape.kernel.1],
                    uniform(1.0 / fan.sqrt()),
                    device,
                )),
                gamma: Param::from_tensor(Tensor::ones([f], device)),
                beta: Param::from_tensor(Tensor::zeros([f], device)),
            })
            .collect();
        let classes = shape.input.classes;
        let bound = 1.0 / (f as f64).sqrt();
        SuperNet {
            layers,
            classifier_weight: Param::from_tensor(Tensor::random([shape.layers * f, classes], uniform(bound), device)),
            classifier_bias: Param::from_tensor(Tensor::random([classes], uniform(bound), device)),
            shape,
            kernels: config.kernels,
            bn_epsilon: config.bn_epsilon,
        }
    }

    /// The supernet's size.
    pub fn shape(&self) -> &SuperShape {
        &self.shape
    }

    /// The weights `plan` uses, cut out of the shared ones (gradients flow back into them).
    pub fn slice(&self, plan: &Plan) -> Result<Sliced, PlanError> {
        self.shape.check(plan)?;
        let shared = Shared {
            convs: self.layers.iter().map(|l| l.conv.val()).collect(),
            gammas: self.layers.iter().map(|l| l.gamma.val()).collect(),
            betas: self.layers.iter().map(|l| l.beta.val()).collect(),
            classifier_weight: self.classifier_weight.val(),
            classifier_bias: self.classifier_bias.val(),
        };
        Ok(self.cut(plan, shared))
    }

    /// `plan`'s slices of tensors shaped like the shared weights (the weights, or their gradients).
    fn cut(&self, plan: &Plan, shared: Shared) -> Sliced {
        let (kh, kw, c, f) = (self.shape.kernel.0, self.shape.kernel.1, self.shape.input.channels, self.shape.filters);
        let layers = plan
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let (rows, cols, out) = (centre(kh, l.kernel.0), centre(kw, l.kernel.1), 0..l.out_channels);
                let blocks: Vec<Tensor<4>> = l
                    .inputs
                    .iter()
                    .map(|s| {
                        let channels = match s {
                            Source::Image => 0..c,
                            Source::Layer(j) => c + j * f..c + j * f + plan.layers[*j].out_channels,
                        };
                        shared.convs[i].clone().slice([out.clone(), channels, rows.clone(), cols.clone()])
                    })
                    .collect();
                SlicedLayer {
                    conv: Tensor::cat(blocks, 1),
                    gamma: shared.gammas[i].clone().slice([out.clone()]),
                    beta: shared.betas[i].clone().slice([out]),
                }
            })
            .collect();
        let classes = self.shape.input.classes;
        let rows: Vec<Tensor<2>> = plan
            .sinks
            .iter()
            .map(|&i| shared.classifier_weight.clone().slice([i * f..i * f + plan.layers[i].out_channels, 0..classes]))
            .collect();
        Sliced { layers, classifier_weight: Tensor::cat(rows, 0), classifier_bias: shared.classifier_bias }
    }

    /// Logits `[batch, classes]` of `plan`'s child for `images`, every batch norm normalising by
    /// the batch's own statistics.
    pub fn forward(&self, plan: &Plan, images: Tensor<4>) -> Result<Tensor<2>, PlanError> {
        let weights = self.slice(plan)?;
        let mut outs: Vec<Tensor<4>> = Vec::with_capacity(plan.layers.len());
        for (l, w) in plan.layers.iter().zip(weights.layers) {
            let x = layer_input(l, &images, &outs, self.kernels);
            let spec = ConvSpec { stride: l.stride, padding: l.padding };
            let y = self.kernels.run(|| kernels::conv2d(&x, &w.conv, spec)).unwrap_or_else(|| {
                let (t, left, b, r) = l.padding;
                let x = x.pad([(t, b), (left, r)], PadMode::Constant(0.0));
                let options = ConvOptions::new([l.stride.0, l.stride.1], [0, 0], [1, 1], 1);
                burn::tensor::module::conv2d(x, w.conv.clone(), None, options)
            });
            let eps = self.bn_epsilon;
            let fused =
                self.kernels.run(|| kernels::batch_norm_relu_batch_stats(&y, w.gamma.clone(), w.beta.clone(), eps));
            let mut y = fused.unwrap_or_else(|| {
                burn::tensor::activation::relu(burn::tensor::module::batch_norm_train(y, w.gamma, w.beta, eps).output)
            });
            if l.pool {
                let fast = self.kernels.run(|| kernels::max_pool_2x2(&y));
                y = fast.unwrap_or_else(|| MaxPool2dConfig::new([2, 2]).init().forward(y));
            }
            outs.push(y);
        }
        let logits = head_features(plan, &outs, self.kernels).matmul(weights.classifier_weight);
        Ok(logits + weights.classifier_bias.unsqueeze::<2>())
    }

    /// `plan`'s child as a stand-alone network holding copies of its shared weights (fresh
    /// running statistics): to train further or to score with recalibrated batch norm.
    pub fn extract(&self, plan: Plan, config: &ChildConfig, device: &Device) -> Result<ChildNet, PlanError> {
        let s = self.slice(&plan)?;
        let copy = Sliced {
            layers: s
                .layers
                .into_iter()
                .map(|l| SlicedLayer { conv: l.conv.detach(), gamma: l.gamma.detach(), beta: l.beta.detach() })
                .collect(),
            classifier_weight: s.classifier_weight.detach(),
            classifier_bias: s.classifier_bias.detach(),
        };
        Ok(ChildNet::with_weights(plan, config, copy, device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_space::CnnArch;

    impl SuperNet {
        /// `plan`'s slices of the shared weights' gradients (zeros for a tensor without one).
        fn slice_gradients(&self, plan: &Plan, grads: &burn::tensor::Gradients) -> Sliced {
            fn grad<const D: usize>(t: Tensor<D>, grads: &burn::tensor::Gradients) -> Tensor<D> {
                t.grad(grads).unwrap_or_else(|| t.zeros_like().inner())
            }
            let g4 = |t: Tensor<4>| grad(t, grads);
            let g1 = |t: Tensor<1>| grad(t, grads);
            let shared = Shared {
                convs: self.layers.iter().map(|l| g4(l.conv.val())).collect(),
                gammas: self.layers.iter().map(|l| g1(l.gamma.val())).collect(),
                betas: self.layers.iter().map(|l| g1(l.beta.val())).collect(),
                classifier_weight: grad(self.classifier_weight.val(), grads),
                classifier_bias: g1(self.classifier_bias.val()),
            };
            self.cut(plan, shared)
        }
    }

    const INPUT: InputShape = InputShape { channels: 2, height: 8, width: 8, classes: 5 };

    fn space() -> CnnSpace {
        CnnSpace {
            filter_heights: vec![1, 3, 5],
            filter_widths: vec![1, 3, 5],
            filters: vec![2, 4, 6],
            strides: vec![1, 2],
            pooling: true,
            skips: true,
            ..CnnSpace::default()
        }
    }

    fn plan(arch: &str) -> Plan {
        Plan::new(&arch.parse::<CnnArch>().unwrap(), INPUT, &ChildConfig::default()).unwrap()
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * scale, "{what}[{i}]: {x} vs {y}");
        }
    }

    /// A child's logits and every gradient under the supernet equal those of the same child
    /// built stand-alone with the supernet's cropped, sliced weights copied in (batch norm by
    /// batch statistics in both), through skips from several layers, the image, strides, pooling
    /// and a two-sink head; and the shared tensors get gradients only inside the slices used.
    #[test]
    fn a_child_under_the_supernet_is_the_stand_alone_child_with_copied_weights() {
        let device = Device::flex().autodiff();
        let cfg = ChildConfig::default();
        for kernels in [Kernels::Fast, Kernels::Burn] {
            let cfg = ChildConfig { kernels, ..cfg.clone() };
            device.seed(3);
            let shape = SuperShape::of(&space(), 4, INPUT, &cfg);
            let sup = SuperNet::new(shape, &cfg, &device);
            for arch in ["3x3-4;5x1s2x1-2-mp<0;1x3-6;3x5-4<0,1,2", "1x1-6;5x5-2<0", "3x5s1x2-6"] {
                let p = plan(arch);
                let x = Tensor::<4>::random([3, 2, 8, 8], Distribution::Default, &device);
                let logits = sup.forward(&p, x.clone()).unwrap();
                let grads = logits.clone().powf_scalar(2.0).sum().backward();
                let alone = sup.extract(p.clone(), &cfg, &device).unwrap();
                let alone_logits = alone.forward_batch_statistics(x);
                let alone_grads = alone_logits.clone().powf_scalar(2.0).sum().backward();
                close(&values(logits), &values(alone_logits), &format!("{arch} logits"));
                // The shared tensors' gradients, sliced as the child uses them, are the
                // stand-alone child's gradients…
                let sliced_grad = sup.slice_gradients(&p, &grads);
                let w = alone.parameters();
                for (i, (g, a)) in sliced_grad.layers.iter().zip(&w.layers).enumerate() {
                    let ga = |t: &Tensor<4>| values(t.grad(&alone_grads).expect("gradient"));
                    close(&values(g.conv.clone()), &ga(&a.conv), &format!("{arch} layer {i} conv gradient"));
                    let g1 = |t: &Tensor<1>| values(t.grad(&alone_grads).expect("gradient"));
                    close(&values(g.gamma.clone()), &g1(&a.gamma), &format!("{arch} layer {i} γ gradient"));
                    close(&values(g.beta.clone()), &g1(&a.beta), &format!("{arch} layer {i} β gradient"));
                }
                let gw = values(w.classifier_weight.grad(&alone_grads).expect("gradient"));
                close(&values(sliced_grad.classifier_weight), &gw, &format!("{arch} classifier gradient"));
                // … and zero everywhere else: the total over each shared tensor equals the total
                // over its slices.
                for (i, layer) in sup.layers.iter().enumerate() {
                    let full = layer.conv.val().grad(&grads).map(values);
                    let used = sliced_grad.layers.get(i).map(|g| values(g.conv.clone()));
                    let abs = |v: &[f32]| v.iter().map(|x| x.abs() as f64).sum::<f64>();
                    match (full, used) {
                        (Some(f), Some(u)) => {
                            assert!(abs(&u) > 0.0, "{arch} layer {i}: the active slice has a gradient");
                            assert!((abs(&f) - abs(&u)).abs() <= 1e-6 * abs(&f), "{arch} layer {i}: gradient outside");
                        }
                        (f, None) => {
                            assert!(f.is_none_or(|f| abs(&f) == 0.0), "{arch}: unused layer {i} has a gradient")
                        }
                        (None, Some(_)) => panic!("{arch} layer {i}: no gradient"),
                    }
                }
            }
        }
    }

    #[test]
    fn children_outside_the_supernet_are_refused_with_the_reason() {
        let cfg = ChildConfig::default();
        let device = Device::flex();
        let sup = SuperNet::new(SuperShape::of(&space(), 2, INPUT, &cfg), &cfg, &device);
        for (arch, why) in [("7x7-4", "layer 0 is 7x7"), ("3x3-8", "8 filters"), ("3x3-2;3x3-2;3x3-2", "3 layers")] {
            let e = sup.forward(&plan(arch), Tensor::zeros([1, 2, 8, 8], &device)).unwrap_err().to_string();
            assert!(e.contains("not a sub-network") && e.contains(why), "{arch}: {e}");
        }
        assert_eq!(sup.shape().params(), (6 * 2 * 25 + 12) + (6 * 8 * 25 + 12) + (2 * 6 + 1) * 5);
    }
}
