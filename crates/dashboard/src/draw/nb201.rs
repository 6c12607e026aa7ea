//! Drawing of a NAS-Bench-201 cell: nodes 0–3 left to right, one labelled edge per
//! (to ← from) pair. Edges between neighbours are straight; longer ones arc above, higher the
//! farther they reach. `none` edges (no connection) are drawn faint and dashed.
//!
//! Element classes: `g.cell-node` (four, `data-node`), `path.edge.op` (six, with the op's
//! official name as a class, e.g. `nor_conv_3x3`; `none` edges also carry `.none`).

use std::fmt::Write;

use nas_space::{NB201_EDGES, Nb201Arch, Nb201Op};

use super::svg::{document, esc, num};

const SPACING: f64 = 190.0;
const LEFT: f64 = 60.0;
const BASE: f64 = 190.0;
const R: f64 = 20.0;

fn node_x(k: usize) -> f64 {
    LEFT + k as f64 * SPACING
}

fn short(op: Nb201Op) -> &'static str {
    match op {
        Nb201Op::Skip => "skip",
        Nb201Op::None => "none",
        Nb201Op::Conv3x3 => "conv3×3",
        Nb201Op::Conv1x1 => "conv1×1",
        Nb201Op::AvgPool3x3 => "avgpool3×3",
    }
}

/// The SVG drawing of a NAS-Bench-201 cell.
pub fn draw(arch: &Nb201Arch) -> String {
    let mut body = String::new();
    for (&(to, from), &op) in NB201_EDGES.iter().zip(arch.ops.iter()) {
        let (x0, x1) = (node_x(from) + R, node_x(to) - R);
        let span = (to - from) as f64;
        let lift = if to - from == 1 { 0.0 } else { 55.0 * span };
        let (mx, my) = ((x0 + x1) / 2.0, BASE - lift * 0.75);
        let class = if op == Nb201Op::None { "edge op none" } else { "edge op" };
        let _ = write!(
            body,
            r#"<path class="{class} {name}" d="M{x0} {y} C{x0} {c} {x1} {c} {x1} {y}"><title>node {from} → node {to}: {name}</title></path><g class="op"><text x="{tx}" y="{ty}" text-anchor="middle">{label}</text></g>"#,
            name = op.official_name(),
            x0 = num(x0),
            x1 = num(x1),
            y = num(BASE),
            c = num(BASE - lift),
            tx = num(mx),
            ty = num(if lift == 0.0 { BASE - 6.0 } else { my - 4.0 }),
            label = esc(short(op)),
        );
    }
    for k in 0..4 {
        let label = match k {
            0 => "in",
            3 => "out",
            _ => "",
        };
        let _ = write!(
            body,
            r#"<g class="node cell-node" data-node="{k}"><circle cx="{x}" cy="{y}" r="{R}"/><text x="{x}" y="{ty}" text-anchor="middle">{k}</text><text x="{x}" y="{ly}" text-anchor="middle">{label}</text></g>"#,
            x = num(node_x(k)),
            y = num(BASE),
            ty = num(BASE + 4.0),
            ly = num(BASE + R + 16.0),
        );
    }
    let _ = write!(
        body,
        r#"<g class="legend"><text x="12" y="{y}">NAS-Bench-201 cell {s}: node k sums its incoming edges; dashed: none</text></g>"#,
        y = num(BASE + R + 44.0),
        s = esc(&arch.to_string()),
    );
    document("arch-nb201", node_x(3) + LEFT, BASE + R + 56.0, &format!("NB201 cell {arch}"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_nodes_six_edges_none_marked() {
        let svg = draw(&"2-1-0-3-4-1".parse().unwrap());
        assert_eq!(svg.matches(r#"class="node cell-node""#).count(), 4);
        assert_eq!(svg.matches(r#"class="edge op"#).count(), 6);
        assert_eq!(svg.matches(r#"class="edge op none none""#).count(), 2);
        assert_eq!(svg.matches("nor_conv_3x3").count(), 2, "class and title of the one conv3x3 edge");
    }
}
