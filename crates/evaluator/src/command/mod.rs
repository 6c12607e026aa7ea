//! `--evaluator command:CMD`: the user's own trainer, in any language. For each trial `nas`
//! makes a directory (`trials_dir/EXPERIMENT/trial-ID`), writes the architecture there as
//! `arch.json` and runs `sh -c CMD` in it with `NAS_ARCH`, `NAS_TRIAL_DIR`, `NAS_TRIAL_ID`,
//! `NAS_SEED`, `NAS_SPACE`, `NAS_EXPERIMENT` and `NAS_THREADS` set; the command reports by the
//! line protocol of [`protocol`]. Its stdout and stderr are kept in the directory
//! (`stdout.log`, `stderr.log`, each capped at 64 MiB).
//!
//! Any way a command can go wrong (missing, crashing, silent, garbage, hanging) is a failed
//! trial whose reason holds the exit status and the tail of stderr; the search goes on.

mod process;
pub mod protocol;

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use nas_space::Architecture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use process::{GROUP_FILE, Group};
pub use process::{end_commands_on_terminate, interrupt, interrupted, kill_all};
use protocol::Transcript;

use crate::{
    EvalContext, EvalError, Evaluation, Evaluator, ExperimentTag, MedianStopper, MedianStopping, completed_curve,
};

/// Bytes of each of stdout and stderr kept in the trial directory.
pub const MAX_LOG_BYTES: u64 = 64 << 20;
/// Lines of stderr quoted in a failed trial's reason.
const TAIL_LINES: usize = 5;
/// In `trials_dir/EXPERIMENT`: which experiment the directory belongs to.
pub const EXPERIMENT_MARKER: &str = ".nas-experiment";

/// The command evaluator's settings. In TOML: `[evaluator] kind = "command"`, `command = "…"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandSpec {
    /// The trial's command, run by `sh -c` in the trial directory. Required.
    pub command: String,
    /// Wall-clock limit of one trial in seconds (then SIGTERM, SIGKILL, a failed trial). Default:
    /// none.
    pub timeout_seconds: Option<f64>,
    /// Extra environment variables for the command.
    pub env: BTreeMap<String, String>,
    /// Where trial directories are made: `trials_dir/EXPERIMENT/trial-ID`. Default `nas-trials`,
    /// relative to the directory `nas` was started in (each worker machine has its own).
    pub trials_dir: PathBuf,
    /// The report field the median-stopping rule compares; also a stopped trial's reward (its
    /// best value so far) when the command printed no result. Default `val_accuracy`.
    pub metric: String,
    /// Stop commands whose `metric` after epoch e is below the median of completed trials'
    /// (Vizier's median stopping). Off by default.
    pub median_stopping: Option<MedianStopping>,
    /// Seconds between SIGTERM and SIGKILL when a command is stopped. Default 10.
    pub kill_grace_seconds: f64,
}

impl Default for CommandSpec {
    fn default() -> Self {
        CommandSpec {
            command: String::new(),
            timeout_seconds: None,
            env: BTreeMap::new(),
            trials_dir: PathBuf::from("nas-trials"),
            metric: "val_accuracy".into(),
            median_stopping: None,
            kill_grace_seconds: 10.0,
        }
    }
}

impl CommandSpec {
    /// The spec for `command` with every other setting at its default.
    pub fn new(command: impl Into<String>) -> Self {
        CommandSpec { command: command.into(), ..Default::default() }
    }

    /// Reject settings that cannot work, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.command.trim().is_empty() {
            return Err("evaluator.command is empty: give the command that trains one trial".into());
        }
        if let Some(t) = self.timeout_seconds.filter(|t| !(t.is_finite() && *t > 0.0)) {
            return Err(format!("evaluator.timeout_seconds = {t}: must be a positive number of seconds"));
        }
        if !(self.kill_grace_seconds.is_finite() && (0.0..=3600.0).contains(&self.kill_grace_seconds)) {
            return Err(format!(
                "evaluator.kill_grace_seconds = {}: must be between 0 and 3600",
                self.kill_grace_seconds
            ));
        }
        if self.metric.is_empty() {
            return Err("evaluator.metric is empty".into());
        }
        if let Some(k) = self.env.keys().find(|k| k.is_empty() || k.contains(['=', '\0'])) {
            return Err(format!("evaluator.env key {k:?} is not a variable name"));
        }
        Ok(())
    }
}

/// Runs the configured command for every trial.
pub struct CommandEvaluator {
    spec: CommandSpec,
    space: String,
    threads: usize,
    experiment: ExperimentTag,
    /// Whether `trials_dir/EXPERIMENT` is known to be this experiment's.
    claimed: bool,
    /// Completed trials' curves, shared with sibling evaluators, when median stopping is on.
    stopper: Option<Arc<MedianStopper>>,
}

impl CommandEvaluator {
    /// An evaluator for trials of `space`, each command given `threads` CPU threads.
    pub fn new(spec: CommandSpec, space: &str, threads: usize) -> Self {
        let stopper = spec.median_stopping.map(|rule| Arc::new(MedianStopper::new(rule)));
        let experiment = ExperimentTag { name: "default".into(), created_at: 0.0 };
        CommandEvaluator { spec, space: space.into(), threads: threads.max(1), experiment, claimed: false, stopper }
    }

    /// Another evaluator for a parallel worker, sharing the median-stopping memory.
    pub fn sibling(&self) -> Self {
        CommandEvaluator {
            spec: self.spec.clone(),
            space: self.space.clone(),
            threads: self.threads,
            experiment: self.experiment.clone(),
            claimed: false,
            stopper: self.stopper.clone(),
        }
    }

    /// The directory of trial `id`.
    pub fn trial_dir(&self, id: i64) -> PathBuf {
        self.experiment_dir().join(format!("trial-{id}"))
    }

    fn experiment_dir(&self) -> PathBuf {
        self.spec.trials_dir.join(&self.experiment.name)
    }

    /// Make sure `trials_dir/EXPERIMENT` belongs to this experiment: its `.nas-experiment`
    /// records the experiment's name and creation time the first time, and an experiment of the
    /// same name from another store (whose trial ids, checkpoints and leftover process groups
    /// would mix with these) is refused, naming the directory.
    fn claim_experiment_dir(&mut self) -> Result<(), EvalError> {
        if self.claimed {
            return Ok(());
        }
        let dir = std::path::absolute(self.experiment_dir()).unwrap_or_else(|_| self.experiment_dir());
        let fatal = |what: &str, e: &dyn std::fmt::Display| EvalError::Fatal(format!("{what} {}: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(|e| fatal("cannot create the trials directory", &e))?;
        let marker = dir.join(EXPERIMENT_MARKER);
        let json = serde_json::to_string(&self.experiment).expect("tags serialise");
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&marker) {
            Ok(mut f) => {
                f.write_all(json.as_bytes()).map_err(|e| fatal("cannot write .nas-experiment in", &e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&marker).map_err(|e| fatal("cannot read .nas-experiment in", &e))?;
                // An empty file is a sibling's claim being written, or a crash mid-write: ours.
                if !text.trim().is_empty() {
                    let theirs: Result<ExperimentTag, _> = serde_json::from_str(&text);
                    // Creation times within a millisecond: a store may keep fewer digits than
                    // the clock gave.
                    let same = |t: &ExperimentTag| {
                        t.name == self.experiment.name && (t.created_at - self.experiment.created_at).abs() < 1e-3
                    };
                    if !theirs.as_ref().is_ok_and(same) {
                        let when = theirs
                            .map_or_else(|_| "unreadable".to_string(), |t| format!("created at {}", t.created_at));
                        return Err(EvalError::Fatal(format!(
                            "{} holds the trials of another experiment named {:?} ({when}; this one was created at {}), \
                             probably from another store: name this search differently (--name) or set \
                             [evaluator] trials_dir",
                            dir.display(),
                            self.experiment.name,
                            self.experiment.created_at
                        )));
                    }
                }
            }
            Err(e) => return Err(fatal("cannot write .nas-experiment in", &e)),
        }
        self.claimed = true;
        Ok(())
    }

    fn environment(&self, dir: &Path, ctx: &EvalContext) -> Vec<(String, String)> {
        let mut env = vec![
            ("NAS_ARCH".into(), dir.join("arch.json").display().to_string()),
            ("NAS_TRIAL_DIR".into(), dir.display().to_string()),
            ("NAS_TRIAL_ID".into(), ctx.trial_id.to_string()),
            ("NAS_SEED".into(), trial_seed(ctx).to_string()),
            ("NAS_SPACE".into(), self.space.clone()),
            ("NAS_EXPERIMENT".into(), self.experiment.name.clone()),
            ("NAS_THREADS".into(), self.threads.to_string()),
        ];
        // Numeric libraries (PyTorch, NumPy) use every core unless told: keep them to the share.
        if std::env::var_os("OMP_NUM_THREADS").is_none() && !self.spec.env.contains_key("OMP_NUM_THREADS") {
            env.push(("OMP_NUM_THREADS".into(), self.threads.to_string()));
        }
        env.extend(self.spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }
}

/// The seed a trial's command gets: the experiment's seed and the sample index, mixed.
fn trial_seed(ctx: &EvalContext) -> u64 {
    ctx.seed.wrapping_mul(1_000_003).wrapping_add(ctx.seq) % (1 << 31)
}

/// Why nas ended a command before it finished by itself.
enum Ending {
    Stopped(String),
    TimedOut(f64),
    Interrupted,
}

impl Evaluator for CommandEvaluator {
    fn describe(&self) -> String {
        let timeout = self.spec.timeout_seconds.map_or(String::new(), |t| format!(", timeout {t} s"));
        format!(
            "command evaluator: sh -c {:?} in {}/{}/trial-ID, {} thread(s){timeout}",
            self.spec.command,
            self.spec.trials_dir.display(),
            self.experiment.name,
            self.threads
        )
    }

    fn attach(&mut self, experiment: &ExperimentTag) {
        self.experiment = experiment.clone();
        self.claimed = false;
    }

    fn evaluate(&mut self, arch: &Architecture, ctx: &EvalContext) -> Result<Evaluation, EvalError> {
        if interrupted() {
            return Err(EvalError::Interrupted);
        }
        self.claim_experiment_dir()?;
        // Absolute: the command runs inside it, and NAS_ARCH / NAS_TRIAL_DIR must hold there.
        let dir = self.trial_dir(ctx.trial_id);
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let fatal = |what: &str, e: std::io::Error| EvalError::Fatal(format!("{what} {}: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(|e| fatal("cannot create the trial directory", e))?;
        process::end_leftover(&dir);
        std::fs::write(dir.join("arch.json"), arch.to_json()).map_err(|e| fatal("cannot write arch.json in", e))?;
        let stdout_log = File::create(dir.join("stdout.log")).map_err(|e| fatal("cannot write stdout.log in", e))?;
        let stderr_log = File::create(dir.join("stderr.log")).map_err(|e| fatal("cannot write stderr.log in", e))?;
        let started = Instant::now();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.spec.command)
            .current_dir(&dir)
            .envs(self.environment(&dir, ctx))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| EvalError::Fatal(format!("cannot start sh for the trial command: {e}")))?;
        let group = Group::register(child.id() as i32);
        let _ = std::fs::write(dir.join(GROUP_FILE), child.id().to_string());

        let transcript = Arc::new(Mutex::new(Transcript::default()));
        let (reports, reported) = mpsc::channel::<()>();
        let stdout = child.stdout.take().expect("piped");
        let stdout_reader = {
            let transcript = transcript.clone();
            std::thread::spawn(move || read_stdout(stdout, stdout_log, &transcript, &reports))
        };
        let stderr = child.stderr.take().expect("piped");
        let stderr_reader = std::thread::spawn(move || read_stderr(stderr, stderr_log));

        let grace = Duration::from_secs_f64(self.spec.kill_grace_seconds);
        let mut ending: Option<(Ending, Instant)> = None;
        let mut stdout_open = true;
        let status = loop {
            if stdout_open {
                match reported.recv_timeout(Duration::from_millis(50)) {
                    Ok(()) => {
                        if ending.is_none()
                            && let Some(reason) = self.median_verdict(&transcript)
                        {
                            ending = Some((Ending::Stopped(reason), Instant::now()));
                            group.signal(libc::SIGTERM);
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => stdout_open = false,
                }
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(EvalError::Fatal(format!("waiting for the trial command: {e}"))),
            }
            if ending.is_none() {
                let secs = started.elapsed().as_secs_f64();
                let end = if interrupted() {
                    Some(Ending::Interrupted)
                } else {
                    self.spec.timeout_seconds.filter(|&t| secs > t).map(Ending::TimedOut)
                };
                if let Some(end) = end {
                    ending = Some((end, Instant::now()));
                    group.signal(libc::SIGTERM);
                }
            }
            if let Some((_, since)) = &ending
                && since.elapsed() >= grace
            {
                group.signal(libc::SIGKILL);
            }
        };
        // Anything the command left running in its group ends with it; then the pipes close.
        drop(group);
        let _ = stdout_reader.join();
        let tail = stderr_reader.join().unwrap_or_default();
        let _ = std::fs::remove_file(dir.join(GROUP_FILE));
        let seconds = started.elapsed().as_secs_f64();
        let transcript = std::mem::take(&mut *transcript.lock().unwrap_or_else(|e| e.into_inner()));
        let quoted = quote_tail(&tail);
        let explain = |what: String| {
            let malformed = transcript.malformed.as_ref().map_or(String::new(), |m| format!("; {m}"));
            EvalError::Failed(format!("{what}{malformed}{quoted}"))
        };
        // `interrupt` signals the groups itself, so the command may be gone before this loop
        // saw the flag.
        if ending.is_none() && interrupted() {
            return Err(EvalError::Interrupted);
        }
        let stopped = match ending {
            Some((Ending::Interrupted, _)) => return Err(EvalError::Interrupted),
            Some((Ending::TimedOut(t), _)) => {
                return Err(explain(format!("the command timed out after {t} s (timeout_seconds) and was killed")));
            }
            Some((Ending::Stopped(reason), _)) => Some(reason),
            None => None,
        };
        let mut metrics = Map::new();
        let reward = match (&transcript.result, stopped.is_some()) {
            (Some(Ok(result)), _) => {
                metrics.extend(result.clone());
                metrics.remove("reward").and_then(|r| r.as_f64()).expect("checked by the protocol")
            }
            (_, true) => transcript.best(&self.spec.metric).expect("stopped on a reported value"),
            (Some(Err(why)), false) => return Err(explain(why.clone())),
            (None, false) if !status.success() => return Err(explain(describe_exit(status))),
            (None, false) => {
                return Err(explain(format!(
                    "the command exited without printing a reward line ({} line(s) on stdout, kept in {})",
                    transcript.lines,
                    dir.join("stdout.log").display()
                )));
            }
        };
        if stopped.is_none() && !status.success() {
            return Err(explain(describe_exit(status)));
        }
        if !transcript.reports.is_empty() && !metrics.contains_key("epochs") {
            metrics.insert("epochs".into(), Value::Array(transcript.reports.into_iter().map(Value::Object).collect()));
        }
        if transcript.dropped_reports > 0 {
            metrics.insert("reports_dropped".into(), json!(transcript.dropped_reports));
        }
        if let Some(reason) = stopped {
            metrics.insert("stopped_early".into(), json!(reason));
        }
        metrics.insert("command_seconds".into(), json!(seconds));
        let shown = std::fs::canonicalize(&dir).unwrap_or(dir);
        metrics.insert("trial_dir".into(), json!(shown.display().to_string()));
        Ok(Evaluation { reward, metrics })
    }

    fn observe_completed(&mut self, metrics: &Map<String, Value>) {
        if let (Some(s), Some(curve)) = (&self.stopper, completed_curve(metrics, &self.spec.metric)) {
            s.record(curve);
        }
    }
}

impl CommandEvaluator {
    /// Median stopping's verdict on the latest report.
    fn median_verdict(&self, transcript: &Mutex<Transcript>) -> Option<String> {
        let stopper = self.stopper.as_ref()?;
        let t = transcript.lock().unwrap_or_else(|e| e.into_inner());
        let value = t.last(&self.spec.metric)?;
        stopper.check(t.reports.len() - 1, value)
    }
}

/// How a command that did not succeed ended, in words.
fn describe_exit(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(127), _) => "the command exited with status 127 (command not found)".into(),
        (Some(code), _) => format!("the command exited with status {code}"),
        (None, Some(sig)) => format!("the command was killed by signal {sig}"),
        _ => "the command ended abnormally".into(),
    }
}

/// `; stderr: a | b | c` from the last lines of stderr, or nothing.
fn quote_tail(tail: &str) -> String {
    let lines: Vec<&str> = tail.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut text = lines[lines.len().saturating_sub(TAIL_LINES)..].join(" | ");
    if text.len() > 800 {
        let cut = text.char_indices().map(|(i, _)| i).find(|&i| i >= text.len() - 800).unwrap_or(0);
        text = format!("…{}", &text[cut..]);
    }
    format!("; stderr: {text}")
}

/// Copy stdout to `log` (capped) and feed its lines to the protocol, signalling each report.
fn read_stdout(stdout: impl Read, mut log: File, transcript: &Mutex<Transcript>, reports: &mpsc::Sender<()>) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    let mut logged = 0u64;
    while let Ok(Some(truncated)) = protocol::read_line(&mut reader, &mut line) {
        log_bytes(&mut log, &mut logged, &line);
        let text = String::from_utf8_lossy(&line);
        let kind = transcript.lock().unwrap_or_else(|e| e.into_inner()).take(&text, truncated);
        if kind == protocol::Line::Report {
            let _ = reports.send(());
        }
    }
}

/// Copy stderr to `log` (capped); returns its last lines.
fn read_stderr(stderr: impl Read, mut log: File) -> String {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    let mut logged = 0u64;
    let mut tail: VecDeque<String> = VecDeque::new();
    while let Ok(Some(_)) = protocol::read_line(&mut reader, &mut line) {
        log_bytes(&mut log, &mut logged, &line);
        let text: String = String::from_utf8_lossy(&line).chars().take(400).collect();
        if !text.trim().is_empty() {
            tail.push_back(text);
            if tail.len() > TAIL_LINES {
                tail.pop_front();
            }
        }
    }
    tail.into_iter().collect::<Vec<_>>().join("\n")
}

/// Append one line to a capped log.
fn log_bytes(log: &mut File, logged: &mut u64, line: &[u8]) {
    if *logged >= MAX_LOG_BYTES {
        return;
    }
    let _ = log.write_all(line);
    let _ = log.write_all(b"\n");
    *logged += line.len() as u64 + 1;
    if *logged >= MAX_LOG_BYTES {
        let _ = log.write_all(format!("[nas: log cut at {MAX_LOG_BYTES} bytes]\n").as_bytes());
    }
}

#[cfg(test)]
mod tests;
