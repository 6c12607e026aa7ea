//! [`Figure`]: one or more [`Chart`] panels side by side, each with named line or point series.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use thiserror::Error;

/// Why a figure was not written.
#[derive(Debug, Error)]
pub enum PlotError {
    #[error("{path}: {why}")]
    Write { path: PathBuf, why: String },
    #[error("nothing to plot: {0}")]
    Empty(String),
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesStyle {
    Line,
    /// Small dots (e.g. one per sample).
    Points,
}

/// Named points `(x, y)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub style: SeriesStyle,
    pub points: Vec<(f64, f64)>,
}

/// One panel: axes, labels and series.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// Panels laid out in one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub panels: Vec<Chart>,
    /// Pixel size of one panel.
    pub panel_size: (u32, u32),
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
];

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // The font is compiled in and known to parse; a failure would only lose the text.
        let _ = register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

impl Figure {
    /// One panel of the default size.
    pub fn single(chart: Chart) -> Self {
        Figure { panels: vec![chart], panel_size: (800, 500) }
    }

    fn size(&self) -> (u32, u32) {
        (self.panel_size.0 * self.panels.len().max(1) as u32, self.panel_size.1)
    }

    fn check(&self) -> Result<(), PlotError> {
        if self.panels.is_empty() || self.panels.iter().all(|c| c.series.iter().all(|s| s.points.is_empty())) {
            return Err(PlotError::Empty("the figure has no points".into()));
        }
        Ok(())
    }

    /// The figure as an SVG document.
    pub fn to_svg(&self) -> Result<String, PlotError> {
        self.check()?;
        fonts();
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size()).into_drawing_area();
            self.draw(&root).map_err(|why| PlotError::Write { path: "<svg>".into(), why })?;
        }
        Ok(out)
    }

    /// Write the figure to `path`: SVG when it ends in `.svg`, else PNG.
    pub fn write(&self, path: &Path) -> Result<(), PlotError> {
        let fail = |why: String| PlotError::Write { path: path.to_path_buf(), why };
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
            let svg = self.to_svg()?;
            return std::fs::write(path, svg).map_err(|e| fail(e.to_string()));
        }
        self.check()?;
        fonts();
        let root = BitMapBackend::new(path, self.size()).into_drawing_area();
        self.draw(&root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = root.split_evenly((1, self.panels.len().max(1)));
        for (chart, area) in self.panels.iter().zip(areas.iter()) {
            draw_chart(chart, area).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Bounds of all points, padded so flat series still get an axis.
fn bounds(chart: &Chart) -> ((f64, f64), (f64, f64)) {
    let pts = chart.series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if !x0.is_finite() {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    if x1 - x0 < 1e-12 {
        (x0, x1) = (x0 - 0.5, x1 + 0.5);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    ((x0, x1), (y0 - pad, y1 + pad))
}

fn draw_chart<DB: DrawingBackend>(
    chart: &Chart,
    area: &DrawingArea<DB, Shift>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let ((x0, x1), (y0, y1)) = bounds(chart);
    let mut ctx = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style(("sans-serif", 13))
        .x_label_formatter(&|x| format!("{x}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, s) in chart.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts = s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite());
        let drawn = match s.style {
            SeriesStyle::Line => ctx.draw_series(LineSeries::new(pts, color.stroke_width(2)))?,
            SeriesStyle::Points => ctx.draw_series(pts.map(|p| Circle::new(p, 2, color.filled())))?,
        };
        drawn.label(&s.name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3)));
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 13))
        .draw()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure() -> Figure {
        let line = Series { name: "rl".into(), style: SeriesStyle::Line, points: vec![(1.0, 0.5), (2.0, 0.7)] };
        let dots = Series { name: "samples".into(), style: SeriesStyle::Points, points: vec![(1.0, 0.4), (2.0, 0.9)] };
        let chart =
            Chart { title: "t".into(), x_label: "samples".into(), y_label: "reward".into(), series: vec![line, dots] };
        Figure { panels: vec![chart.clone(), chart], panel_size: (400, 300) }
    }

    #[test]
    fn writes_svg_and_png_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = figure();
        let svg = f.to_svg().unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("samples") && svg.contains("rl"), "{}", &svg[..200]);
        f.write(&dir.path().join("a.svg")).unwrap();
        let png = dir.path().join("a.png");
        f.write(&png).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let empty = Figure { panels: vec![], panel_size: (1, 1) };
        assert!(matches!(empty.to_svg(), Err(PlotError::Empty(_))));
        let e = f.write(Path::new("/nonexistent-dir/x.png")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent-dir/x.png"), "{e}");
    }
}
