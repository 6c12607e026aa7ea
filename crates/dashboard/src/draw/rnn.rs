//! Drawing of a recurrent cell of the tree space: leaves at the bottom reading x_t and h_{t-1},
//! each level above combining two nodes, the root's output h_t on top. The cell inject is drawn
//! beside the node it modifies, fed by c_{t-1}; a dashed edge marks the node whose
//! pre-activation value becomes c_t.
//!
//! Element classes: `g.tree-node` (2·base − 1, `data-node`), `path.edge.tree` (one per
//! child → parent link, 2·base − 2), `g.inject`, `path.edge.cell` (c_{t-1} in, c_t out).

use std::fmt::Write;

use nas_space::{NodeInputs, RnnCell};

use super::svg::{document, esc, num};

const SPACING: f64 = 104.0;
const LEFT: f64 = 30.0;
const BOX_W: f64 = 84.0;
const BOX_H: f64 = 34.0;
const LEVEL: f64 = 86.0;
const TOP: f64 = 112.0;

struct Layout {
    pos: Vec<(f64, f64)>,
    levels: usize,
}

fn layout(cell: &RnnCell) -> Layout {
    let base = cell.base();
    let levels = base.trailing_zeros() as usize + 1;
    let leaf_y = TOP + (levels - 1) as f64 * LEVEL;
    let mut pos: Vec<(f64, f64)> = Vec::with_capacity(cell.nodes.len());
    for k in 0..cell.nodes.len() {
        pos.push(match cell.inputs(k) {
            NodeInputs::Leaf(i) => (LEFT + SPACING * (i as f64 + 0.5), leaf_y),
            NodeInputs::Children(a, b) => ((pos[a].0 + pos[b].0) / 2.0, pos[a].1 - LEVEL),
        });
    }
    Layout { pos, levels }
}

fn rect_node(out: &mut String, class: &str, attrs: &str, (x, y): (f64, f64), w: f64, lines: &[&str], tip: &str) {
    let _ = write!(
        out,
        r#"<g class="node {class}"{attrs}><title>{tip}</title><rect x="{rx}" y="{ry}" width="{w}" height="{BOX_H}" rx="6"/>"#,
        tip = esc(tip),
        rx = num(x - w / 2.0),
        ry = num(y - BOX_H / 2.0),
        w = num(w),
    );
    let first = y + 4.0 - 7.0 * (lines.len() as f64 - 1.0);
    for (i, l) in lines.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="{x}" y="{ty}" text-anchor="middle">{l}</text>"#,
            x = num(x),
            ty = num(first + 14.0 * i as f64),
            l = esc(l)
        );
    }
    out.push_str("</g>");
}

fn line(out: &mut String, class: &str, (x0, y0): (f64, f64), (x1, y1): (f64, f64), tip: &str) {
    let _ = write!(
        out,
        r#"<path class="edge {class}" d="M{} {} L{} {}"><title>{}</title></path>"#,
        num(x0),
        num(y0),
        num(x1),
        num(y1),
        esc(tip)
    );
}

/// The SVG drawing of a recurrent cell.
pub fn draw(cell: &RnnCell) -> String {
    let Layout { pos, levels } = layout(cell);
    let base = cell.base();
    let root = cell.root();
    let width = LEFT * 2.0 + SPACING * base as f64 + 120.0;
    let leaf_y = TOP + (levels - 1) as f64 * LEVEL;
    let input_y = leaf_y + LEVEL;
    let (mut edges, mut nodes) = (String::new(), String::new());
    let half = BOX_H / 2.0;

    // Where a node's output leaves from: the inject box when c_{t-1} is merged into it.
    let inject_pos = (pos[cell.inject_into].0, pos[cell.inject_into].1 - LEVEL / 2.0);
    let out_of = |k: usize| {
        if k == cell.inject_into { (inject_pos.0, inject_pos.1 - half) } else { (pos[k].0, pos[k].1 - half) }
    };

    // Inputs and leaves.
    let mid = LEFT + SPACING * base as f64 / 2.0;
    rect_node(
        &mut nodes,
        "io inputs",
        "",
        (mid, input_y),
        SPACING * base as f64 - 20.0,
        &["x_t  ·  h_{t-1}"],
        "the step's input and the previous hidden state",
    );
    for (k, node) in cell.nodes.iter().enumerate() {
        let (x, y) = pos[k];
        let (tip, first) = match cell.inputs(k) {
            NodeInputs::Leaf(i) => {
                line(
                    &mut edges,
                    "leaf-input",
                    (x, input_y - half),
                    (x, y + half),
                    &format!("W{i}·x_t and U{i}·h_(t-1)"),
                );
                (
                    format!(
                        "node {k}: {}(W{i}·x_t, U{i}·h_(t-1)), then {}",
                        node.combine.name(),
                        node.activation.name()
                    ),
                    format!("{k}: {}", node.combine.name()),
                )
            }
            NodeInputs::Children(a, b) => {
                for c in [a, b] {
                    line(&mut edges, "tree", out_of(c), (x, y + half), &format!("node {c} → node {k}"));
                }
                (
                    format!("node {k}: {}(node {a}, node {b}), then {}", node.combine.name(), node.activation.name()),
                    format!("{k}: {}", node.combine.name()),
                )
            }
        };
        rect_node(
            &mut nodes,
            "tree-node",
            &format!(r#" data-node="{k}""#),
            (x, y),
            BOX_W,
            &[&first, node.activation.name()],
            &tip,
        );
    }

    // Cell inject, fed by c_{t-1}.
    let c_prev = (width - 60.0, input_y);
    rect_node(&mut nodes, "io c-prev", "", c_prev, 80.0, &["c_{t-1}"], "the previous cell state");
    line(
        &mut edges,
        "tree",
        (pos[cell.inject_into].0 + BOX_W / 2.0, pos[cell.inject_into].1),
        (inject_pos.0, inject_pos.1 + half),
        "the node's output goes through the inject",
    );
    line(
        &mut edges,
        "cell",
        (c_prev.0, c_prev.1 - half),
        (inject_pos.0 + 30.0, inject_pos.1 + half),
        "c_(t-1) is merged here (cell inject)",
    );
    let _ = write!(nodes, r#"<g class="inject">"#);
    rect_node(
        &mut nodes,
        "inject",
        "",
        inject_pos,
        76.0,
        &["inject", &cell.inject.to_string()],
        &format!("output of node {} merged with c_(t-1): {}", cell.inject_into, cell.inject),
    );
    nodes.push_str("</g>");

    // Outputs: h_t from the root, c_t from a pre-activation.
    let h = (pos[root].0, TOP - LEVEL);
    rect_node(&mut nodes, "io h-out", "", h, 70.0, &["h_t"], "the new hidden state: the root's output");
    line(&mut edges, "output", out_of(root), (h.0, h.1 + half), "h_t");
    let c = (width - 60.0, TOP - LEVEL);
    rect_node(&mut nodes, "io c-out", "", c, 70.0, &["c_t"], "the new cell state");
    let src = pos[cell.cell_out];
    line(
        &mut edges,
        "cell implicit",
        (src.0 + BOX_W / 2.0, src.1 - 6.0),
        (c.0, c.1 + half),
        &format!("c_t = node {}'s value before its activation", cell.cell_out),
    );

    let legend_y = input_y + 40.0;
    let _ = write!(
        nodes,
        r#"<g class="legend"><text x="12" y="{}">recurrent cell, base {base} · node k: combination, activation</text><text x="12" y="{}">dashed: c_(t-1) into the inject, c_t = node {}'s pre-activation</text></g>"#,
        num(legend_y),
        num(legend_y + 15.0),
        cell.cell_out
    );
    document("arch-rnn", width, legend_y + 26.0, &format!("RNN cell {cell}"), &format!("{edges}{nodes}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_nodes_and_edges() {
        let cell: RnnCell = "add:tanh mul:relu mul:sigmoid | add:relu | c=1 inject=0".parse().unwrap();
        let svg = draw(&cell);
        assert_eq!(svg.matches(r#"class="node tree-node""#).count(), 3);
        // Two child → parent links, plus the link from node 0 into its inject.
        assert_eq!(svg.matches(r#"class="edge tree""#).count(), 3);
        assert_eq!(svg.matches(r#"class="edge leaf-input""#).count(), 2);
        assert_eq!(svg.matches(r#"<g class="inject">"#).count(), 1);
        assert_eq!(svg.matches(r#"class="edge cell"#).count(), 2);
        assert!(svg.contains("c_t = node 1"));
    }

    #[test]
    fn base_8_has_15_nodes() {
        let nodes = vec!["add:tanh"; 15].join(" ");
        let cell: RnnCell = format!("{nodes} | mul:identity | c=3 inject=14").parse().unwrap();
        let svg = draw(&cell);
        assert_eq!(svg.matches(r#"class="node tree-node""#).count(), 15);
        assert_eq!(svg.matches(r#"class="edge tree""#).count(), 15);
    }
}
