//! Drawing of a CNN from the paper's space: the image on top, one box per layer, the classifier
//! at the bottom. Chosen inputs are solid edges (straight from the previous layer, curved on the
//! left for skip connections); the repair rules' implicit edges are dashed on the right: the
//! image feeding a layer that chose no input (rule 1) and every layer that feeds nothing going to
//! the classifier (rule 2). A layer whose inputs have different spatial sizes, which the child
//! zero-pads to the largest (rule 3), carries a `pad` badge.
//!
//! Element classes the dashboard and its tests rely on: `g.layer` (one per layer, `data-layer`),
//! `path.edge.input` (a chosen input; also `.skip` when it is not the previous layer),
//! `path.edge.implicit.image` and `path.edge.implicit.output`, `g.pad`.

use std::fmt::Write;

use nas_space::{CnnArch, CnnLayer, Pool};

use super::svg::{document, esc, num};

const WIDTH: f64 = 620.0;
const BOX_W: f64 = 300.0;
const BOX_H: f64 = 34.0;
const GAP: f64 = 26.0;
const TOP: f64 = 16.0;
const CX: f64 = 310.0;

fn row_y(row: usize) -> f64 {
    TOP + row as f64 * (BOX_H + GAP)
}

fn layer_label(i: usize, l: &CnnLayer) -> String {
    let mut s = format!("L{i}  {}×{}", l.filter_h, l.filter_w);
    if l.stride_h != 1 || l.stride_w != 1 {
        let _ = write!(s, " /{}×{}", l.stride_h, l.stride_w);
    }
    let _ = write!(s, "  {} filters", l.filters);
    if l.pool == Pool::Max {
        s.push_str("  +maxpool");
    }
    s
}

/// Downsampling factor (height, width) of every layer's output relative to the image, and
/// whether its inputs arrive at different sizes (so the child pads them: rule 3).
fn downsampling(arch: &CnnArch) -> (Vec<(u32, u32)>, Vec<bool>) {
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(arch.layers.len());
    let mut padded = Vec::with_capacity(arch.layers.len());
    for l in &arch.layers {
        let ins: Vec<(u32, u32)> =
            if l.inputs.is_empty() { vec![(1, 1)] } else { l.inputs.iter().map(|&j| out[j]).collect() };
        let min = ins.iter().fold((u32::MAX, u32::MAX), |(a, b), &(h, w)| (a.min(h), b.min(w)));
        padded.push(ins.iter().any(|&f| f != min));
        let pool = if l.pool == Pool::Max { 2 } else { 1 };
        out.push((min.0 * l.stride_h * pool, min.1 * l.stride_w * pool));
    }
    (out, padded)
}

fn node(out: &mut String, class: &str, attrs: &str, y: f64, label: &str, tip: &str) {
    let _ = write!(
        out,
        r#"<g class="node {class}"{attrs}><title>{tip}</title><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/><text x="{tx}" y="{ty}">{label}</text></g>"#,
        tip = esc(tip),
        x = num(CX - BOX_W / 2.0),
        y = num(y),
        tx = num(CX - BOX_W / 2.0 + 12.0),
        ty = num(y + BOX_H / 2.0 + 4.0),
        label = esc(label),
    );
}

fn badge(out: &mut String, y: f64, tip: &str) {
    let x = CX + BOX_W / 2.0 - 38.0;
    let _ = write!(
        out,
        r#"<g class="pad"><title>{tip}</title><rect x="{x}" y="{y}" width="30" height="16" rx="3"/><text x="{tx}" y="{ty}">pad</text></g>"#,
        tip = esc(tip),
        x = num(x),
        y = num(y + 9.0),
        tx = num(x + 4.0),
        ty = num(y + 21.0),
    );
}

/// A vertical straight edge from the bottom of row `a` to the top of row `b`.
fn straight(out: &mut String, class: &str, a: usize, b: usize, tip: &str) {
    let _ = write!(
        out,
        r#"<path class="edge {class}" d="M{x} {y0} L{x} {y1}"><title>{tip}</title></path>"#,
        x = num(CX),
        y0 = num(row_y(a) + BOX_H),
        y1 = num(row_y(b)),
        tip = esc(tip),
    );
}

/// A curved edge from the side of row `a` to the side of row `b` (`side` −1 left, +1 right),
/// bulging `lane` pixels plus more the farther it reaches.
fn arc(out: &mut String, class: &str, a: usize, b: usize, side: f64, lane: f64, tip: &str) {
    let x = CX + side * BOX_W / 2.0;
    let bulge = x + side * (lane + 12.0 * (b - a).min(10) as f64);
    let (y0, y1) = (row_y(a) + BOX_H / 2.0, row_y(b) + BOX_H / 2.0);
    let _ = write!(
        out,
        r#"<path class="edge {class}" d="M{x} {y0} C{c} {y0} {c} {y1} {x} {y1}"><title>{tip}</title></path>"#,
        x = num(x),
        c = num(bulge),
        y0 = num(y0),
        y1 = num(y1),
        tip = esc(tip),
    );
}

/// The SVG drawing of a CNN.
pub fn draw(arch: &CnnArch) -> String {
    let n = arch.layers.len();
    let (factors, padded) = downsampling(arch);
    let sinks = arch.sinks();
    let (image_row, classifier_row) = (0, n + 1);
    let mut edges = String::new();
    let mut nodes = String::new();

    node(&mut nodes, "io image", "", row_y(image_row), "image", "the input image");
    for (i, l) in arch.layers.iter().enumerate() {
        let row = i + 1;
        let tip = format!("layer {i}: {l} (output downsampled {}×{})", factors[i].0, factors[i].1);
        node(&mut nodes, "layer", &format!(r#" data-layer="{i}""#), row_y(row), &layer_label(i, l), &tip);
        if padded[i] {
            badge(&mut nodes, row_y(row), "inputs of different sizes are zero-padded to the largest (repair rule 3)");
        }
        if l.inputs.is_empty() {
            let tip = format!("layer {i} chose no input, so it reads the image (repair rule 1)");
            if i == 0 {
                straight(&mut edges, "implicit image", image_row, row, &tip);
            } else {
                arc(&mut edges, "implicit image", image_row, row, 1.0, 14.0, &tip);
            }
        }
        for &j in &l.inputs {
            let tip = format!("layer {j} → layer {i}");
            if j + 1 == i {
                straight(&mut edges, "input", j + 1, row, &tip);
            } else {
                arc(&mut edges, "input skip", j + 1, row, -1.0, 14.0, &tip);
            }
        }
    }
    let sink_factors: Vec<(u32, u32)> = sinks.iter().map(|&i| factors[i]).collect();
    let head_padded = sink_factors.windows(2).any(|w| w[0] != w[1]);
    let sink_list: Vec<String> = sinks.iter().map(|i| format!("L{i}")).collect();
    node(
        &mut nodes,
        "io classifier",
        "",
        row_y(classifier_row),
        &format!("concat({}) → avg pool → softmax", sink_list.join(",")),
        "every layer that feeds no later layer is concatenated into the classifier (repair rule 2)",
    );
    if head_padded {
        badge(&mut nodes, row_y(classifier_row), "outputs of different sizes are zero-padded to the largest (rule 3)");
    }
    for &i in &sinks {
        let tip = format!("layer {i} feeds no later layer, so it goes to the classifier (repair rule 2)");
        if i + 1 == n {
            straight(&mut edges, "implicit output", i + 1, classifier_row, &tip);
        } else {
            arc(&mut edges, "implicit output", i + 1, classifier_row, 1.0, 70.0, &tip);
        }
    }
    let legend_y = row_y(classifier_row) + BOX_H + 24.0;
    let legend = format!(
        r#"<g class="legend"><text x="12" y="{y}">solid: chosen input · curved, left: skip connection</text><text x="12" y="{y2}">dashed, right: added by the repair rules (image in, classifier out) · pad: zero-padded</text></g>"#,
        y = num(legend_y),
        y2 = num(legend_y + 15.0),
    );
    document("arch-cnn", WIDTH, legend_y + 26.0, &format!("CNN {arch}"), &format!("{edges}{nodes}{legend}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(svg: &str, needle: &str) -> usize {
        svg.matches(needle).count()
    }

    #[test]
    fn one_node_per_layer_and_one_edge_per_input() {
        let arch: CnnArch = "3x3-8;5x5-4;1x1-6<0;3x3s2x2-2<1,2".parse().unwrap();
        let svg = draw(&arch);
        assert_eq!(count(&svg, r#"class="node layer""#), 4);
        // Inputs: 2←0 (skip), 3←1 (skip), 3←2 (previous layer).
        assert_eq!(count(&svg, r#"class="edge input"#), 3);
        assert_eq!(count(&svg, r#"class="edge input skip""#), 2);
        // Rule 1: layers 0 and 1 read the image; rule 2: only layer 3 is a sink.
        assert_eq!(count(&svg, r#"class="edge implicit image""#), 2);
        assert_eq!(count(&svg, r#"class="edge implicit output""#), 1);
        assert!(svg.contains("concat(L3)"));
        assert!(!svg.contains(r#"class="pad""#));
    }

    #[test]
    fn rule_3_padding_is_marked() {
        // Layer 0 halves the size, layer 1 does not; layer 2 reads both.
        let svg = draw(&"3x3s2x2-8;3x3-4;1x1-6<0,1".parse().unwrap());
        assert_eq!(count(&svg, r#"<g class="pad">"#), 1);
        // Two sinks of different sizes are padded before the classifier too.
        let svg = draw(&"3x3-8-mp;3x3-4".parse().unwrap());
        assert_eq!(count(&svg, r#"class="edge implicit output""#), 2);
        assert_eq!(count(&svg, r#"<g class="pad">"#), 1);
    }

    #[test]
    fn is_well_formed_xml_shape() {
        let svg = draw(&"3x3-8;5x5-4<0".parse().unwrap());
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(count(&svg, "<g"), count(&svg, "</g>"));
        assert_eq!(count(&svg, "<path"), count(&svg, "</path>"));
    }
}
