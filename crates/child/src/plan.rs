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
            let out_channels = (l.filters + config.extra_filters) as usize;
            let (kh, kw) = (l.filter_h as usize, l.filter_w as usize);
            let (sh, sw) = (l.stride_h as usize, l.stride_w as usize);
            let padding = ((kh - 1) / 2, (kw - 1) / 2, kh - 1 - (kh - 1) / 2, kw - 1 - (kw - 1) / 2);
            let conv_size = ((in_size.0 - 1) / sh + 1, (in_size.1 - 1) / sw + 1);
            let pool = l.pool == Pool::Max && conv_size.0 >= 2 && conv_size.1 >= 2;
            let out_size = if pool { (conv_size.0 / 2, conv_size.1 / 2) } else { conv_size };
            params += (kh * kw * in_channels * out_channels + 2 * out_channels) as u64;
            macs += (conv_size.0 * conv_size.1 * out_channels * kh * kw * in_channels) as u64;
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
        params += (head_channels * input.classes + input.classes) as u64;
        macs += (head_channels * input.classes) as u64;
        let plan = Plan { input, layers, sinks, head_size, head_channels, params, flops: 2 * macs };
        if let Some(cap) = config.max_params.filter(|&c| plan.params > c) {
            return Err(PlanError::TooLarge { what: "parameters", value: plan.params, cap });
        }
        if let Some(cap) = config.max_flops.filter(|&c| plan.flops > c) {
            return Err(PlanError::TooLarge { what: "FLOPs per image", value: plan.flops, cap });
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
