//! CSV output for the data behind a figure.

use std::path::Path;

use crate::PlotError;

/// Write `header` then `rows` to `path` as CSV.
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<(), PlotError> {
    let err = |e: csv::Error| PlotError::Write { path: path.to_path_buf(), why: e.to_string() };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(r).map_err(err)?;
    }
    w.flush().map_err(|e| PlotError::Write { path: path.to_path_buf(), why: e.to_string() })
}
