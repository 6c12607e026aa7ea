//! ONNX export of a trained CNN child, for runtimes other than `nas` (onnxruntime, tract,
//! TensorRT, a browser).
//!
//! The graph takes `pixels`: float32 `[batch, channels, height, width]` scaled to [0, 1], with
//! the batch size left open, and returns `logits` `[batch, classes]`. The bundle's normalisation
//! is the graph's first two nodes (`Sub` the per-channel mean, `Div` by the standard deviation),
//! so a caller feeds pixels / 255 and nothing else. Then, per layer, exactly what
//! [`nas_child::ChildNet`] computes in inference: the inputs zero-padded (centred) to the
//! layer's input size and concatenated along channels, `Conv` without bias,
//! `BatchNormalization` with the running statistics, `Relu`, and `MaxPool` 2×2 where the layer
//! pools; the sinks padded and concatenated, `GlobalAveragePool`, `Flatten`, `Gemm`. Opset 13,
//! weights as raw little-endian initializers; messages from the `onnx-protobuf` crate.

use nas_child::{ChildWeights, Plan, Source};
use nas_data::Normalization;
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::{Dimension, dimension};
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, type_proto,
};

/// The bundle file holding the ONNX graph.
pub const ONNX: &str = "model.onnx";
/// The ONNX operator set the graph is written for.
pub const OPSET: i64 = 13;
/// ONNX IR version 8 (the one opset 13–17 shipped with; read by every current runtime).
const IR_VERSION: i64 = 8;
/// Name of the graph's input and output.
pub const INPUT: &str = "pixels";
pub const OUTPUT: &str = "logits";

/// What goes into the model besides the network: free-text metadata kept in the file.
#[derive(Debug, Clone, Default)]
pub struct OnnxInfo {
    /// `metadata_props` of the model (architecture JSON, class names, …).
    pub metadata: Vec<(String, String)>,
    /// The model's `doc_string`.
    pub doc: String,
}

/// Serialise the network of `plan` with `weights` and `norm` as an ONNX model. Fails, naming
/// the mismatch, when the weights or the normalisation do not fit the plan.
pub fn onnx_model(
    plan: &Plan,
    weights: &ChildWeights,
    norm: &Normalization,
    info: &OnnxInfo,
) -> Result<Vec<u8>, String> {
    check(plan, weights, norm)?;
    let mut g = Graph::default();
    let c = plan.input.channels;
    let mean = g.constant("mean", &[1, c as i64, 1, 1], &norm.mean);
    let std = g.constant("std", &[1, c as i64, 1, 1], &norm.std);
    let centred = g.node("Sub", &[INPUT, &mean], vec![]);
    let image = g.node("Div", &[&centred, &std], vec![]);
    let image_size = (plan.input.height, plan.input.width);
    let mut outs: Vec<(String, (usize, usize))> = Vec::with_capacity(plan.layers.len());
    for (i, (l, w)) in plan.layers.iter().zip(&weights.layers).enumerate() {
        let ins: Vec<(String, (usize, usize))> = l
            .inputs
            .iter()
            .map(|s| match s {
                Source::Image => (image.clone(), image_size),
                Source::Layer(j) => outs[*j].clone(),
            })
            .collect();
        let x = g.concat_padded(&ins, l.in_size);
        let (kh, kw) = l.kernel;
        let (top, left, bottom, right) = l.padding;
        let kernel = g.constant(
            &format!("layer{i}.conv.weight"),
            &[l.out_channels as i64, l.in_channels as i64, kh as i64, kw as i64],
            &w.conv,
        );
        let y = g.node(
            "Conv",
            &[&x, &kernel],
            vec![
                ints("kernel_shape", &[kh, kw]),
                ints("strides", &[l.stride.0, l.stride.1]),
                ints("pads", &[top, left, bottom, right]),
            ],
        );
        let per_channel = [l.out_channels as i64];
        let gamma = g.constant(&format!("layer{i}.bn.gamma"), &per_channel, &w.gamma);
        let beta = g.constant(&format!("layer{i}.bn.beta"), &per_channel, &w.beta);
        let mean = g.constant(&format!("layer{i}.bn.running_mean"), &per_channel, &w.running.mean);
        let var = g.constant(&format!("layer{i}.bn.running_var"), &per_channel, &w.running.variance);
        let y = g.node(
            "BatchNormalization",
            &[&y, &gamma, &beta, &mean, &var],
            vec![float("epsilon", weights.bn_epsilon as f32)],
        );
        let mut y = g.node("Relu", &[&y], vec![]);
        if l.pool {
            y = g.node("MaxPool", &[&y], vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])]);
        }
        outs.push((y, l.out_size));
    }
    let sinks: Vec<(String, (usize, usize))> = plan.sinks.iter().map(|&i| outs[i].clone()).collect();
    let head = g.concat_padded(&sinks, plan.head_size);
    let pooled = g.node("GlobalAveragePool", &[&head], vec![]);
    let flat = g.node("Flatten", &[&pooled], vec![int("axis", 1)]);
    let classes = plan.input.classes as i64;
    let weight = g.constant("classifier.weight", &[plan.head_channels as i64, classes], &weights.classifier_weight);
    let bias = g.constant("classifier.bias", &[classes], &weights.classifier_bias);
    let logits = g.node("Gemm", &[&flat, &weight, &bias], vec![]);
    g.rename(&logits, OUTPUT);

    let graph = GraphProto {
        name: "nas_child".into(),
        node: g.nodes,
        initializer: g.initializers,
        input: vec![value_info(INPUT, &[None, Some(c), Some(plan.input.height), Some(plan.input.width)])],
        output: vec![value_info(OUTPUT, &[None, Some(plan.input.classes)])],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET, ..Default::default() }],
        producer_name: "nas".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: info.doc.clone(),
        graph: Some(graph).into(),
        metadata_props: info
            .metadata
            .iter()
            .map(|(key, value)| StringStringEntryProto { key: key.clone(), value: value.clone(), ..Default::default() })
            .collect(),
        ..Default::default()
    };
    model.write_to_bytes().map_err(|e| format!("encoding the ONNX model: {e}"))
}

/// Every weight has the length the plan asks for; the normalisation has one entry per channel.
fn check(plan: &Plan, weights: &ChildWeights, norm: &Normalization) -> Result<(), String> {
    let c = plan.input.channels;
    if norm.mean.len() != c || norm.std.len() != c {
        return Err(format!(
            "the normalisation has {} means and {} standard deviations for {c} channels",
            norm.mean.len(),
            norm.std.len()
        ));
    }
    if weights.layers.len() != plan.layers.len() {
        return Err(format!("{} layers of weights for {} layers", weights.layers.len(), plan.layers.len()));
    }
    for (i, (l, w)) in plan.layers.iter().zip(&weights.layers).enumerate() {
        let conv = l.out_channels * l.in_channels * l.kernel.0 * l.kernel.1;
        let lens = [w.conv.len(), w.gamma.len(), w.beta.len(), w.running.mean.len(), w.running.variance.len()];
        if lens != [conv, l.out_channels, l.out_channels, l.out_channels, l.out_channels] {
            return Err(format!("layer {i}: weights of lengths {lens:?} do not fit its plan"));
        }
    }
    let classes = plan.input.classes;
    if weights.classifier_weight.len() != plan.head_channels * classes || weights.classifier_bias.len() != classes {
        return Err("the classifier's weights do not fit the plan".into());
    }
    Ok(())
}

/// Nodes and initializers under construction, with fresh value names.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    next: usize,
}

impl Graph {
    /// A float32 initializer named `name`.
    fn constant(&mut self, name: &str, dims: &[i64], values: &[f32]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(name, dims, DataType::FLOAT, raw)
    }

    /// An int64 initializer (a fresh name).
    fn int_constant(&mut self, values: &[i64]) -> String {
        let name = self.fresh("const");
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(&name, &[values.len() as i64], DataType::INT64, raw)
    }

    fn tensor(&mut self, name: &str, dims: &[i64], ty: DataType, raw_data: Vec<u8>) -> String {
        self.initializers.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: ty as i32,
            raw_data,
            ..Default::default()
        });
        name.into()
    }

    fn fresh(&mut self, what: &str) -> String {
        self.next += 1;
        format!("{what}_{}", self.next)
    }

    /// Append an `op` node and return the name of its one output.
    fn node(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        let out = self.fresh(&op.to_lowercase());
        self.nodes.push(NodeProto {
            op_type: op.into(),
            name: out.clone(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            attribute,
            ..Default::default()
        });
        out
    }

    /// Zero-pad each `(value, size)` centred to `size` and concatenate them along channels
    /// (repair rule 3, as [`nas_child::ChildNet`] does it).
    fn concat_padded(&mut self, xs: &[(String, (usize, usize))], size: (usize, usize)) -> String {
        let padded: Vec<String> = xs
            .iter()
            .map(|(x, (h, w))| {
                if (*h, *w) == size {
                    return x.clone();
                }
                let (dh, dw) = ((size.0 - h) as i64, (size.1 - w) as i64);
                let pads = self.int_constant(&[0, 0, dh / 2, dw / 2, 0, 0, dh - dh / 2, dw - dw / 2]);
                self.node("Pad", &[x, &pads], vec![])
            })
            .collect();
        if padded.len() == 1 {
            return padded[0].clone();
        }
        let refs: Vec<&str> = padded.iter().map(String::as_str).collect();
        self.node("Concat", &refs, vec![int("axis", 1)])
    }

    /// Give the value `from` (the last node's output) the name `to`.
    fn rename(&mut self, from: &str, to: &str) {
        for o in self.nodes.iter_mut().flat_map(|n| n.output.iter_mut()).filter(|o| *o == from) {
            *o = to.into();
        }
    }
}

fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INTS.into(),
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), type_: AttributeType::INT.into(), i: value, ..Default::default() }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: name.into(), type_: AttributeType::FLOAT.into(), f: value, ..Default::default() }
}

/// A float32 tensor's name and shape; `None` is the open batch dimension.
fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => dimension::Value::DimValue(*n as i64),
                None => dimension::Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    let tensor = type_proto::Tensor {
        elem_type: DataType::FLOAT as i32,
        shape: Some(TensorShapeProto { dim, ..Default::default() }).into(),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        type_: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() }).into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;
    use nas_child::{ChildConfig, ChildNet, InputShape};
    use nas_data::{ImageSet, shipped_fashion_mnist};
    use nas_trainer::{EvalEvery, PreparedData, TrainConfig, fit, image_batch};
    use tract_onnx::prelude::*;

    use super::*;

    /// Pooling, an even kernel (asymmetric padding), a stride, inputs of two sizes padded into
    /// one layer, and two sinks of different sizes padded into the head.
    const ARCH: &str = "2x4-8-mp;3x5-6;1x1-6<0,1;3x3s2x2-4<0";

    /// A child trained briefly on real images, so weights and running statistics are not their
    /// initial values, and 37 test images.
    fn trained() -> (ChildNet, Normalization, ImageSet) {
        let splits = shipped_fashion_mnist();
        let cfg = TrainConfig { epochs: 1, batch_size: 32, validation: 100, ..TrainConfig::default() };
        let data =
            PreparedData::from_set(splits.train.subset(500, 1).unwrap(), &cfg, 1, Default::default(), "shipped".into())
                .unwrap();
        let device = Device::flex().autodiff();
        let t = fit(
            &ARCH.parse().unwrap(),
            &data,
            &data.validation,
            EvalEvery::End,
            &cfg,
            &ChildConfig::default(),
            &device,
            1,
            |_| std::ops::ControlFlow::Continue(()),
            None,
        )
        .unwrap();
        let test = splits.test.select(&(0..37).collect::<Vec<_>>());
        (t.model.valid(), data.norm, test)
    }

    /// Logits `[n][classes]` of `images` by nas's own forward pass.
    fn nas_logits(net: &ChildNet, norm: &Normalization, images: &ImageSet) -> Vec<Vec<f32>> {
        let idx: Vec<usize> = (0..images.len()).collect();
        let (x, _) = image_batch(images, &idx, norm, &Device::flex());
        let v: Vec<f32> = net.forward(x).into_data().convert::<f32>().try_to_vec().unwrap();
        v.chunks(images.classes).map(<[f32]>::to_vec).collect()
    }

    /// Run `bytes` in tract on `images` (pixels / 255, no normalisation) with a batch size the
    /// model leaves open.
    fn tract_logits(bytes: &[u8], images: &ImageSet, batch_sizes: &[usize]) -> Vec<Vec<f32>> {
        let model = tract_onnx::onnx().model_for_read(&mut &bytes[..]).unwrap().into_optimized().unwrap();
        let model = model.into_runnable().unwrap();
        let size = images.image_size();
        let mut out = Vec::new();
        let mut start = 0;
        for &n in batch_sizes.iter().cycle() {
            if start >= images.len() {
                break;
            }
            let n = n.min(images.len() - start);
            let pixels: Vec<f32> =
                images.pixels[start * size..(start + n) * size].iter().map(|&p| p as f32 / 255.0).collect();
            let shape = [n, images.channels, images.height, images.width];
            let input = tract_onnx::prelude::Tensor::from_shape(&shape, &pixels).unwrap();
            let result = model.run(tvec!(input.into_tvalue())).unwrap();
            let logits = result[0].to_plain_array_view::<f32>().unwrap();
            assert_eq!(logits.shape(), &[n, images.classes]);
            out.extend(logits.as_slice().unwrap().chunks(images.classes).map(<[f32]>::to_vec));
            start += n;
        }
        out
    }

    /// The exported graph, run by an independent runtime (tract) on real images in batches of
    /// several sizes, gives nas's logits within 1e-4 and so the same classes.
    #[test]
    fn tract_runs_the_export_with_nass_logits_and_classes() {
        let (net, norm, images) = trained();
        let bytes = onnx_model(net.plan(), &net.weights(), &norm, &OnnxInfo::default()).unwrap();
        let want = nas_logits(&net, &norm, &images);
        let got = tract_logits(&bytes, &images, &[1, 5, 16]);
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            for (a, b) in g.iter().zip(w) {
                assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "image {i}: {a} vs {b}");
            }
            assert_eq!(crate::predict(g).class, crate::predict(w).class, "image {i}");
        }
        // The weights are trained: the classes are not all one.
        let classes: std::collections::BTreeSet<usize> = want.iter().map(|w| crate::predict(w).class).collect();
        assert!(classes.len() > 2, "{classes:?}");
    }

    /// The file says what it is: opset, open batch dimension, names, metadata.
    #[test]
    fn the_model_declares_opset_names_a_dynamic_batch_and_metadata() {
        let input = InputShape { channels: 1, height: 8, width: 8, classes: 4 };
        let cfg = ChildConfig::default();
        let plan = Plan::new(&"3x3-4;1x1-2<0".parse().unwrap(), input, &cfg).unwrap();
        let net = ChildNet::new(plan, &cfg, &Device::flex());
        let norm = Normalization { mean: vec![0.5], std: vec![0.25] };
        let info = OnnxInfo { metadata: vec![("nas_arch".into(), "x".into())], doc: "d".into() };
        let bytes = onnx_model(net.plan(), &net.weights(), &norm, &info).unwrap();
        let m = ModelProto::parse_from_bytes(&bytes).unwrap();
        assert_eq!(m.opset_import[0].version, OPSET);
        assert_eq!(m.metadata_props[0].key, "nas_arch");
        let g = m.graph.unwrap();
        assert_eq!((g.input[0].name.as_str(), g.output[0].name.as_str()), (INPUT, OUTPUT));
        let Some(type_proto::Value::TensorType(t)) = &g.input[0].type_.value else { panic!("a tensor input") };
        let first = &t.shape.dim[0].value;
        assert_eq!(first, &Some(dimension::Value::DimParam("batch".into())));
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops[..2], ["Sub", "Div"], "normalisation inside the graph");
    }

    /// Weights or a normalisation that do not fit the plan are an error, not a broken file.
    #[test]
    fn weights_that_do_not_fit_the_plan_are_refused() {
        let input = InputShape { channels: 1, height: 8, width: 8, classes: 4 };
        let cfg = ChildConfig::default();
        let plan = Plan::new(&"3x3-4;1x1-2<0".parse().unwrap(), input, &cfg).unwrap();
        let net = ChildNet::new(plan.clone(), &cfg, &Device::flex());
        let good = Normalization { mean: vec![0.5], std: vec![0.25] };
        let two = Normalization { mean: vec![0.5, 0.5], std: vec![0.25, 0.25] };
        let e = onnx_model(&plan, &net.weights(), &two, &OnnxInfo::default()).unwrap_err();
        assert!(e.contains("for 1 channels"), "{e}");
        let mut w = net.weights();
        w.layers[1].conv.pop();
        assert!(onnx_model(&plan, &w, &good, &OnnxInfo::default()).unwrap_err().contains("layer 1"));
    }
}
