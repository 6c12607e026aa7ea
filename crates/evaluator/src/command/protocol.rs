//! What a trial's command prints on stdout: JSON objects, one a line. An object with `"epoch"`
//! is an intermediate report (its numeric fields go on the trial's curve); the last object with
//! `"reward"` is the result, its other fields the trial's metrics; every other line is log.

use serde_json::{Map, Value};

/// Longest stdout line read whole; the rest of a longer line is dropped (it is log, or a
/// malformed report).
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Intermediate reports kept per trial; later ones are counted, not stored.
pub const MAX_REPORTS: usize = 10_000;

/// Everything the protocol took from a command's stdout so far.
#[derive(Debug, Default)]
pub struct Transcript {
    /// Intermediate reports in order (numeric fields only, `epoch` first).
    pub reports: Vec<Map<String, Value>>,
    /// Reports beyond [`MAX_REPORTS`].
    pub dropped_reports: u64,
    /// The last result line: its fields, or why it is unusable.
    pub result: Option<Result<Map<String, Value>, String>>,
    /// The last line that looked like JSON but was not, with its number.
    pub malformed: Option<String>,
    /// Lines read.
    pub lines: u64,
}

/// What one line was.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// An intermediate report, now the transcript's last.
    Report,
    /// A result line (usable or not).
    Result,
    /// Anything else.
    Log,
}

impl Transcript {
    /// Take one line (without its newline; `truncated` when it was longer than
    /// [`MAX_LINE_BYTES`]).
    pub fn take(&mut self, line: &str, truncated: bool) -> Line {
        self.lines += 1;
        let text = line.trim();
        if !text.starts_with('{') {
            return Line::Log;
        }
        if truncated {
            self.malformed = Some(format!("stdout line {} is longer than {MAX_LINE_BYTES} bytes", self.lines));
            return Line::Log;
        }
        let object = match serde_json::from_str::<Map<String, Value>>(text) {
            Ok(o) => o,
            Err(e) => {
                let why = if ["NaN", "Infinity"].iter().any(|w| text.contains(w)) {
                    format!("{e}; NaN and Infinity are not JSON numbers (a diverged run should exit non-zero)")
                } else {
                    e.to_string()
                };
                self.malformed = Some(format!("stdout line {} looks like JSON but is not: {why}", self.lines));
                return Line::Log;
            }
        };
        if let Some(epoch) = object.get("epoch") {
            if !epoch.is_number() {
                self.malformed = Some(format!("stdout line {}: \"epoch\" must be a number, got {epoch}", self.lines));
                return Line::Log;
            }
            if self.reports.len() >= MAX_REPORTS {
                self.dropped_reports += 1;
            } else {
                let mut report = Map::new();
                report.insert("epoch".into(), epoch.clone());
                report.extend(object.into_iter().filter(|(k, v)| k != "epoch" && v.is_number()));
                self.reports.push(report);
            }
            return Line::Report;
        }
        let Some(reward) = object.get("reward") else { return Line::Log };
        self.result = Some(match reward.as_f64() {
            Some(r) if r.is_finite() => Ok(object),
            Some(r) => Err(format!("the reward is not finite ({r})")),
            None => Err(format!("\"reward\" must be a number, got {reward} (stdout line {})", self.lines)),
        });
        Line::Result
    }

    /// The value of `key` in the last intermediate report.
    pub fn last(&self, key: &str) -> Option<f64> {
        self.reports.last()?.get(key)?.as_f64()
    }

    /// The best (largest) value of `key` over the intermediate reports.
    pub fn best(&self, key: &str) -> Option<f64> {
        self.reports.iter().filter_map(|r| r.get(key)?.as_f64()).reduce(f64::max)
    }
}

/// Read one line of at most [`MAX_LINE_BYTES`] into `line` (the rest of a longer line is read
/// and dropped). Returns `None` at end of input, else whether the line was truncated.
pub fn read_line(reader: &mut impl std::io::BufRead, line: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    line.clear();
    let mut truncated = false;
    let mut any = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then_some(truncated));
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        truncated |= chunk.len() > room;
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(Some(truncated));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_results_and_log_are_told_apart() {
        let mut t = Transcript::default();
        assert_eq!(t.take("loading data…", false), Line::Log);
        assert_eq!(t.take(r#"{"epoch": 1, "val_accuracy": 0.5, "note": "x"}"#, false), Line::Report);
        assert_eq!(t.take(r#"  {"epoch": 2, "val_accuracy": 0.7}"#, false), Line::Report);
        assert_eq!(t.reports[0].keys().collect::<Vec<_>>(), ["epoch", "val_accuracy"], "numeric fields only");
        assert_eq!(t.last("val_accuracy"), Some(0.7));
        assert_eq!(t.best("val_accuracy"), Some(0.7));
        assert_eq!(t.take(r#"{"reward": 0.8, "params": 12}"#, false), Line::Result);
        assert_eq!(t.take(r#"{"reward": 0.9}"#, false), Line::Result);
        assert_eq!(t.result.as_ref().unwrap().as_ref().unwrap()["reward"], 0.9, "the last result wins");
        assert_eq!(t.take(r#"{"other": 1}"#, false), Line::Log);
        assert_eq!(t.lines, 6);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let mut t = Transcript::default();
        t.take(r#"{"reward": "high"}"#, false);
        assert!(t.result.as_ref().unwrap().as_ref().unwrap_err().contains("must be a number, got \"high\""));
        t.take(r#"{"reward": NaN}"#, false);
        assert!(t.malformed.as_ref().unwrap().contains("NaN and Infinity are not JSON"));
        t.take(r#"{"epoch": "one"}"#, false);
        assert!(t.malformed.as_ref().unwrap().contains("\"epoch\" must be a number"));
        t.take(r#"{"reward": 0.5"#, true);
        assert!(t.malformed.as_ref().unwrap().contains("longer than"));
    }

    #[test]
    fn long_lines_are_cut_not_buffered() {
        let mut input = vec![b'x'; MAX_LINE_BYTES * 3];
        input.extend_from_slice(b"\nshort\nlast");
        let mut r = std::io::BufReader::with_capacity(4096, &input[..]);
        let mut line = Vec::new();
        assert_eq!(read_line(&mut r, &mut line).unwrap(), Some(true));
        assert_eq!(line.len(), MAX_LINE_BYTES);
        assert_eq!(read_line(&mut r, &mut line).unwrap(), Some(false));
        assert_eq!(line, b"short");
        assert_eq!(read_line(&mut r, &mut line).unwrap(), Some(false));
        assert_eq!(line, b"last");
        assert_eq!(read_line(&mut r, &mut line).unwrap(), None);
    }
}
