//! [`Plan`]: the shapes of every layer of a child, inferred without tensors, with the repair
//! rules applied, and its parameter and FLOP counts.
//!
//! FLOPs are forward floating-point operations per image counting a multiply-add as 2, for
//! convolutions and the classifier (batch norm, ReLU, pooling and padding are not counted).

use nas_space::{CnnArch, Pool};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ChildConfig;

/// Why an architecture cannot be compiled (recorded as the trial's failure reason).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PlanError {
    #[error("invalid architecture: {0}")]
    Invalid(String),
    #[error("too large: {what} = {value} exceeds the cap of {cap}")]
    TooLarge { what: &'static str, value: u64, cap: u64 },
}

/// Image shape (channels, height, width) and number of classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub classes: usize,
}

/// Where a layer's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    Image,
    Layer(usize),
}

/// One compiled layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerPlan {
    /// Concatenated inputs, in order.
    pub inputs: Vec<Source>,
    /// Spatial size every input is padded to (the largest among them).
    pub in_size: (usize, usize),
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    /// (top, left, bottom, right) zero padding that keeps the size at stride 1.
    pub padding: (usize, usize, usize, usize),
    /// Size after the convolution.
    pub conv_size: (usize, usize),
    /// Whether a 2×2 max-pool follows (only when both sides are at least 2).
    pub pool: bool,
    /// Size of the layer's output.
    pub out_size: (usize, usize),
}

/// A compiled child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub input: InputShape,
    pub layers: Vec<LayerPlan>,
    /// Layers feeding no later layer, concatenated into the classifier (repair rule 2).
    pub sinks: Vec<usize>,
    /// Spatial size the sinks are padded to before concatenation.
    pub head_size: (usize, usize),
    /// Channels entering the classifier.
    pub head_channels: usize,
    pub params: u64,
    pub flops: u64,
}

fn largest(sizes: impl Iterator<Item = (usize, usize)>) -> (usize, usize) {
    sizes.fold((0, 0), |(h, w), (a, b)| (h.max(a), w.max(b)))
}

impl Plan {
    /// Infer shapes, apply the repair rules, count parameters and FLOPs, enforce the caps.
    pub fn new(arch: &CnnArch, input: InputShape, config: &ChildConfig) -> Result<Self, PlanError> {
        arch.validate().map_err(|e| PlanError::Invalid(e.to_string()))?;
        if input.channels == 0 || input.height == 0 || input.width == 0 || input.classes == 0 {
            return Err(PlanError::Invalid(format!("empty input shape {input:?}")));
        }
        let mut layers: Vec<LayerPlan> = Vec::with_capacity(arch.layers.len());
        let (mut params, mut macs) = (0u64, 0u64);
        for l in &arch.layers {
            // Rule 1: no chosen input ⇒ the image.
            let inputs: Vec<Source> = if l.inputs.is_empty() {
                vec![Source::Image]
            } else {
                l.inputs.iter().map(|&j| Source::Layer(j)).collect()
            };
            let shape_of = |s: &Source| match s {
                Source::Image => (input.channels, (input.height, input.width)),
                Source::Layer(j) => (layers[*j].out_channels, layers[*j].out_size),
            };
            // Rule 3: pad to the largest input.
            let in_size = largest(inputs.iter().map(|s| shape_of(s).1));
            let in_channels: usize = inputs.iter().map(|s| shape_of(s).0).sum();
            let out_channels = l.filters as usize + config.extra_filters as usize;
            let (kh, kw) = (l.filter_h as usize, l.filter_w as usize);
            let (sh, sw) = (l.stride_h as usize, l.stride_w as usize);
            let padding = ((kh - 1) / 2, (kw - 1) / 2, kh - 1 - (kh - 1) / 2, kw - 1 - (kw - 1) / 2);
            let conv_size = ((in_size.0 - 1) / sh + 1, (in_size.1 - 1) / sw + 1);
            let pool = l.pool == Pool::Max && conv_size.0 >= 2 && conv_size.1 >= 2;
            let out_size = if pool { (conv_size.0 / 2, conv_size.1 / 2) } else { conv_size };
            // Saturating: a cap rejects an absurd architecture, the count must not wrap first.
            let weights = prod(&[kh, kw, in_channels, out_channels]);
            params = params.saturating_add(weights).saturating_add(2 * out_channels as u64);
            macs = macs.saturating_add(prod(&[conv_size.0, conv_size.1]).saturating_mul(weights));
            layers.push(LayerPlan {
                inputs,
                in_size,
                in_channels,
                out_channels,
                kernel: (kh, kw),
                stride: (sh, sw),
                padding,
                conv_size,
                pool,
                out_size,
            });
        }
        // Rule 2: every layer that feeds nothing goes to the classifier.
        let sinks = arch.sinks();
        let head_size = largest(sinks.iter().map(|&i| layers[i].out_size));
        let head_channels: usize = sinks.iter().map(|&i| layers[i].out_channels).sum();
        params = params.saturating_add(prod(&[head_channels + 1, input.classes]));
        macs = macs.saturating_add(prod(&[head_channels, input.classes]));
        let plan = Plan { input, layers, sinks, head_size, head_channels, params, flops: macs.saturating_mul(2) };
        if let Some(cap) = config.max_params.filter(|&c| plan.params > c) {
            return Err(PlanError::TooLarge { what: "parameters", value: plan.params, cap });
        }
        if let Some(cap) = config.max_flops.filter(|&c| plan.flops > c) {
            return Err(PlanError::TooLarge { what: "FLOPs per image", value: plan.flops, cap });
        }
        Ok(plan)
    }

    /// Estimated bytes of training memory at minibatch `batch`: weights, their gradients and
    /// optimiser state (4 copies of the parameters) plus, per image, every layer's padded
    /// input, convolution, batch-norm and ReLU outputs and pooled output, kept for the backward
    /// pass, × 4 for their gradients and the backward's temporaries, all `f32`. An estimate for
    /// rejecting what cannot fit, not an exact count. Measured against peak RSS (minus the 33 MiB
    /// of an empty run) of `nas train --preset tiny --no-grid --epochs 1`: wide 28×28 children
    /// (`7x7-256;5x5-256<0`, `5x5-128;5x5-128<0;3x3-256<0,1`) used 2.0–2.1× the activations
    /// counted once with their gradients, small ones 1.0–1.4×, so the factor is 4 (× 2 of that).
    pub fn training_bytes(&self, batch: usize) -> u64 {
        let image = prod(&[self.input.channels, self.input.height, self.input.width]);
        let per_image = self.layers.iter().fold(image, |sum, l| {
            let input = prod(&[l.in_channels, l.in_size.0, l.in_size.1]);
            let conv = prod(&[l.out_channels, l.conv_size.0, l.conv_size.1]);
            let pooled = if l.pool { prod(&[l.out_channels, l.out_size.0, l.out_size.1]) } else { 0 };
            sum.saturating_add(input).saturating_add(conv.saturating_mul(3)).saturating_add(pooled)
        });
        let head = prod(&[self.head_channels, self.head_size.0, self.head_size.1]);
        let activations = per_image.saturating_add(head).saturating_mul(batch as u64).saturating_mul(4);
        self.params.saturating_mul(4).saturating_add(activations).saturating_mul(4)
    }

    /// Reject the child when [`Plan::training_bytes`] at `batch` exceeds the configured cap.
    pub fn check_memory(&self, batch: usize, config: &ChildConfig) -> Result<(), PlanError> {
        let (need, cap) = (self.training_bytes(batch) >> 20, config.memory_cap_bytes() >> 20);
        if need > cap {
            return Err(PlanError::TooLarge { what: "estimated training memory (MiB)", value: need, cap });
        }
        Ok(())
    }
}

/// The product of `factors` as `u64`, saturating.
fn prod(factors: &[usize]) -> u64 {
    factors.iter().fold(1u64, |p, &f| p.saturating_mul(f as u64))
}

/// What [`widest_within`] searches: widths from `start` down in steps of 1/16, under `cap`
/// FLOPs per image and, when given, `max_filters` per layer, each width's network rounded up to
/// `multiple` filters ([`CnnArch::widened_to`]; 1: as widened).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Widening {
    pub start: f64,
    pub cap: u64,
    pub max_filters: Option<u32>,
    pub multiple: u32,
}

/// The widest of `w.start` and the multiples of 1/16 below it at which `arch` (every filter
/// count × the width, rounded up to `w.multiple`) costs at most `w.cap` FLOPs per image and,
/// when `w.max_filters` is given, no layer has more filters than that; 1/16 when none does. The
/// size caps of `config` are not applied (the width is what brings the network to the cap); a
/// width the compiler rejects for another reason counts as not fitting.
pub fn widest_within(arch: &CnnArch, input: InputShape, config: &ChildConfig, w: &Widening) -> f64 {
    let free = ChildConfig { max_params: None, max_flops: None, ..config.clone() };
    let fits = |width: f64| {
        let wide = arch.widened_to(width, w.multiple);
        w.max_filters.is_none_or(|m| wide.layers.iter().all(|l| l.filters <= m))
            && Plan::new(&wide, input, &free).is_ok_and(|p| p.flops <= w.cap)
    };
    let top = (w.start * 16.0).floor() as usize;
    std::iter::once(w.start)
        .chain((1..=top).rev().map(|k| k as f64 / 16.0).filter(|x| *x < w.start))
        .find(|&x| fits(x))
        .unwrap_or(1.0 / 16.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_estimate_grows_with_batch_and_width_and_the_cap_rejects_before_allocating() {
        let cfg = ChildConfig::default();
        let input = InputShape { channels: 1, height: 28, width: 28, classes: 10 };
        let small = Plan::new(&arch("3x3-32-mp;3x3-64<0"), input, &cfg).unwrap();
        let wide = Plan::new(&arch("3x3-64-mp;3x3-128<0"), input, &cfg).unwrap();
        assert!(small.training_bytes(128) > small.training_bytes(64));
        assert!(wide.training_bytes(64) > small.training_bytes(64));
        // 28×28×32 conv outputs × 3 + input … at batch 1 is at least the conv output's bytes.
        assert!(small.training_bytes(1) >= 4 * 28 * 28 * 32);
        assert!(small.check_memory(64, &cfg).is_ok());
        let tight = ChildConfig { max_memory_mb: Some(1), ..cfg.clone() };
        let e = small.check_memory(4096, &tight).unwrap_err().to_string();
        assert!(e.contains("estimated training memory"), "{e}");
        // A layer of 16,384 filters over 500 layers: counted without overflow, rejected by the cap.
        let huge: String = (0..500)
            .map(|i| if i == 0 { "7x7-16384".to_string() } else { format!("7x7-16384<{}", i - 1) })
            .collect::<Vec<_>>()
            .join(";");
        let plan = Plan::new(&arch(&huge), input, &cfg).unwrap();
        assert!(plan.check_memory(64, &cfg).is_err());
        assert!(plan.flops > 1 << 50);
        // Past the architecture caps: an error, not a panic or a wrapped count.
        let e = "3x3-1000000000".parse::<CnnArch>().unwrap_err().to_string();
        assert!(e.contains("exceed the caps"), "{e}");
    }

    fn arch(s: &str) -> CnnArch {
        s.parse().unwrap()
    }

    const MNIST: InputShape = InputShape { channels: 1, height: 8, width: 8, classes: 10 };

    #[test]
    fn hand_counted_parameters_and_flops() {
        // Layer 0: 3×3×1×8 weights + 16 BN = 88; layer 1: 1×1×8×4 + 8 = 40; classifier 4×10 + 10.
        let p = Plan::new(&arch("3x3-8;1x1-4<0"), MNIST, &ChildConfig::default()).unwrap();
        assert_eq!(p.params, 88 + 40 + 50);
        // MACs: 8·8·8·9 + 8·8·4·8 + 4·10 = 4608 + 2048 + 40.
        assert_eq!(p.flops, 2 * (4608 + 2048 + 40));
        assert_eq!(p.sinks, vec![1]);
    }

    #[test]
    fn rule_1_no_input_reads_the_image() {
        let p = Plan::new(&arch("3x3-8;5x5-4"), MNIST, &ChildConfig::default()).unwrap();
        assert_eq!(p.layers[1].inputs, vec![Source::Image]);
        assert_eq!(p.layers[1].in_channels, 1);
    }

    #[test]
    fn rule_2_every_dangling_layer_reaches_the_classifier() {
        let p = Plan::new(&arch("3x3-8;5x5-4;1x1-6<0"), MNIST, &ChildConfig::default()).unwrap();
        assert_eq!(p.sinks, vec![1, 2]);
        assert_eq!(p.head_channels, 10);
    }

    #[test]
    fn rule_3_mismatched_sizes_are_padded_to_the_largest() {
        let p = Plan::new(&arch("3x3s2x2-8;3x3-4;1x1-6<0,1"), MNIST, &ChildConfig::default()).unwrap();
        assert_eq!(p.layers[0].out_size, (4, 4));
        assert_eq!(p.layers[1].out_size, (8, 8));
        assert_eq!(p.layers[2].in_size, (8, 8));
        assert_eq!(p.layers[2].in_channels, 12);
    }

    #[test]
    fn strides_pooling_and_even_kernels_keep_sizes_sane() {
        let cases = [
            ("3x3s3x1-4", (3, 8)),
            ("7x7s2x3-4", (4, 3)),
            ("1x1-4-mp", (4, 4)),
            ("2x4-4", (8, 8)),
            ("3x3s3x3-4;3x3s3x3-4<0;3x3s3x3-4<1", (1, 1)),
        ];
        for (a, size) in cases {
            let p = Plan::new(&arch(a), MNIST, &ChildConfig::default()).unwrap();
            assert_eq!(p.layers.last().unwrap().out_size, size, "{a}");
        }
        // Pooling a 1×1 map is skipped rather than producing an empty tensor.
        let p = Plan::new(&arch("3x3s8x8-4;3x3-4-mp<0"), MNIST, &ChildConfig::default()).unwrap();
        assert!(!p.layers[1].pool);
    }

    #[test]
    fn more_filters_and_caps() {
        let c = ChildConfig { extra_filters: 40, ..Default::default() };
        let p = Plan::new(&arch("3x3-8"), MNIST, &c).unwrap();
        assert_eq!(p.layers[0].out_channels, 48);
        let capped = ChildConfig { max_params: Some(100), ..Default::default() };
        let e = Plan::new(&arch("3x3-8;1x1-4<0"), MNIST, &capped).unwrap_err();
        assert_eq!(e, PlanError::TooLarge { what: "parameters", value: 178, cap: 100 });
        let capped = ChildConfig { max_flops: Some(1000), ..Default::default() };
        assert!(Plan::new(&arch("3x3-8"), MNIST, &capped).unwrap_err().to_string().contains("FLOPs"));
    }
}
