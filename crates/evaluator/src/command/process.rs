//! Trial commands as process groups: each `sh -c CMD` leads its own group, so ending a trial
//! (median stopping, timeout, Ctrl-C, `kill` of nas) ends everything it started. A process-wide
//! table of the running groups lets a signal handler end them all; a group file in the trial
//! directory lets a resumed search end what a `kill -9`-ed one left behind.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Running groups (0 = free slot). Fixed-size so a signal handler can walk it.
static GROUPS: [AtomicI32; 256] = [const { AtomicI32::new(0) }; 256];
/// Set by [`interrupt`]: every running command is being ended and no new one starts.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The file in a trial directory naming the group of the command running there.
pub const GROUP_FILE: &str = ".nas-pgid";

/// A registered process group; unregistered (and killed, if anything is left) on drop.
pub struct Group(i32);

impl Group {
    /// Register `pgid` (the leader's pid).
    pub fn register(pgid: i32) -> Group {
        // With all slots taken (more than 256 commands at once) only signal handlers miss it.
        let _ = GROUPS.iter().any(|s| s.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst).is_ok());
        Group(pgid)
    }

    /// Send `signal` to every process of the group.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
        unsafe {
            libc::kill(-self.0, signal);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Whatever the command left running in its group goes with it.
        self.signal(libc::SIGKILL);
        for slot in &GROUPS {
            let _ = slot.compare_exchange(self.0, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
    }
}

/// End every running trial command (SIGTERM now; each evaluator sends SIGKILL after its grace
/// period) and start no new one: the trials are left to be run again on `--resume`. For the
/// first Ctrl-C of `nas search` / `nas worker`.
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    signal_all(libc::SIGTERM);
}

/// Whether [`interrupt`] was called.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// SIGKILL every running trial command at once. Async-signal-safe (atomics and kill(2) only), so
/// a signal handler may call it.
pub fn kill_all() {
    signal_all(libc::SIGKILL);
}

fn signal_all(signal: i32) {
    for slot in &GROUPS {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: as in `Group::signal`.
            unsafe {
                libc::kill(-pgid, signal);
            }
        }
    }
}

extern "C" fn on_terminate(signal: i32) {
    kill_all();
    // SAFETY: _exit is async-signal-safe; the store's transactions make any moment safe to die.
    unsafe { libc::_exit(128 + signal) }
}

/// Make SIGTERM and SIGHUP end the running trial commands with this process (exit 128 + the
/// signal, as without the handler). For commands that run trial commands.
pub fn end_commands_on_terminate() {
    // SAFETY: installs a handler that only calls async-signal-safe functions.
    unsafe {
        libc::signal(libc::SIGTERM, on_terminate as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_terminate as *const () as libc::sighandler_t);
    }
}

/// End the group a killed earlier run left in `dir` (its leader still alive and working in
/// `dir`), so a re-run does not share the directory with it.
pub fn end_leftover(dir: &Path) {
    let Ok(text) = std::fs::read_to_string(dir.join(GROUP_FILE)) else { return };
    let Ok(pgid) = text.trim().parse::<i32>() else { return };
    let cwd = std::fs::read_link(format!("/proc/{pgid}/cwd")).ok();
    let here = std::fs::canonicalize(dir).ok();
    if pgid > 1 && cwd.is_some() && cwd == here {
        // SAFETY: as in `Group::signal`.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        eprintln!("note: ended process group {pgid} left running in {} by an earlier run", dir.display());
    }
}
