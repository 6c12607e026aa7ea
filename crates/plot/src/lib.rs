//! Line charts of search results, written as PNG and SVG with plotters, and the CSV tables
//! behind them. Needs no tensors and no store: callers hand over named series of points.
//! Text is drawn with the DejaVu Sans font compiled in (`assets/`, its licence beside it), so
//! PNGs look the same on machines without fonts.

mod chart;
mod table;

pub use chart::{Chart, Figure, PlotError, Series, SeriesStyle};
pub use table::write_csv;
