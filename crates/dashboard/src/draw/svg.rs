//! A few helpers for writing SVG by hand: escaping, numbers, and the shared stylesheet that makes
//! a drawing look the same in the dashboard and as a standalone file from `nas draw`.

use std::fmt::Write;

/// Escape text for an XML text node or a double-quoted attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Styles embedded in every drawing: implicit (repair-rule) edges are dashed, skips curved.
pub const STYLE: &str = "\
.arch text{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;fill:#1f2933}\
.arch .node rect,.arch .node circle{fill:#eef4fb;stroke:#3e5c76;stroke-width:1.2}\
.arch .io rect{fill:#f4f1e8;stroke:#8a7b57}\
.arch .edge{fill:none;stroke:#3e5c76;stroke-width:1.4}\
.arch .edge.skip{stroke:#c0572b}\
.arch .edge.implicit{stroke:#8a7b57;stroke-dasharray:5 4}\
.arch .edge.cell{stroke:#7b4fa0;stroke-dasharray:5 4}\
.arch .node.inject rect{fill:#f3ecfa;stroke:#7b4fa0}\
.arch .edge.none{stroke:#b8c2cc;stroke-dasharray:3 4}\
.arch .pad rect{fill:#fde9c8;stroke:#c08a2b}\
.arch .legend text{font-size:11px;fill:#52606d}\
.arch .op text{font-size:11px}";

/// An SVG document: `<svg>` root with the stylesheet, `body` inside.
pub fn document(class: &str, width: f64, height: f64, title: &str, body: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="arch {class}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img"><title>{t}</title><style>{STYLE}</style>{body}</svg>"#,
        w = num(width),
        h = num(height),
        t = esc(title),
    );
    s.push('\n');
    s
}

/// A coordinate with at most one decimal.
pub fn num(x: f64) -> String {
    let r = (x * 10.0).round() / 10.0;
    if r.fract() == 0.0 { format!("{}", r as i64) } else { format!("{r:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(2.25), "2.3");
        assert_eq!(num(-1.04), "-1");
    }
}
