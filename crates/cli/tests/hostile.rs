//! Hostile and unlucky input, as a user would meet it: closed pipes, Ctrl-C, secrets in store
//! URLs, architectures too large to train, canonical strings where a file was expected.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{nas, nas_cmd};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let out = nas(dir.path(), &["search", "--space", "nb201", "--evaluator", "toy", "--samples", "1500", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // More than a pipe holds, read by nobody: `nas top … | head -0`.
    let mut child = nas_cmd(dir.path(), &["top", "-k", "1500", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(out.status.signal(), Some(libc_sigpipe()), "killed by SIGPIPE, as `cat` would be: {:?}", out.status);
}

fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn ctrl_c_stops_at_a_consistent_point_says_what_is_stored_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    // Random search draws without replacement, so it cannot end early on repeats (REINFORCE on the
    // toy objective converges and stops on its own in about a second on a fast machine).
    let search = ["search", "--space", "nb201", "--strategy", "random", "--evaluator", "toy", "--samples", "100000000"];
    let child = nas_cmd(dir.path(), &search).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling a child process this test started.
    assert_eq!(unsafe { libc_kill(child.id() as i32, 2) }, 0);
    let out = child.wait_with_output().unwrap();
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{e}");
    let stored: usize = e
        .split("stopped: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("says how many trials are stored: {e}"));
    assert!(stored > 0, "{e}");
    // What it said is what the store holds.
    let show = nas(dir.path(), &["experiments"]);
    assert!(show.status.success(), "{}", stderr(&show));
    let resumed = nas(dir.path(), &["search", "--resume", "--samples", &(stored + 5).to_string(), "-q"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn store_passwords_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://nas:hunter2@127.0.0.1:1/nas";
    for args in [vec!["top", "--store", url], vec!["dashboard", "--store", url], vec!["show", "1", "--store", url]] {
        let out = nas(dir.path(), &args);
        assert!(!out.status.success());
        let all = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
        assert!(!all.contains("hunter2"), "{args:?}: {all}");
        assert!(all.contains("127.0.0.1"), "{args:?} names the server: {all}");
    }
}

#[test]
fn an_architecture_too_large_to_train_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let huge = (0..40).map(|i| if i == 0 { "7x7-16384".into() } else { format!("7x7-16384<{}", i - 1) });
    let huge: Vec<String> = huge.collect();
    let out = nas(dir.path(), &["train", "--arch", &huge.join(";"), "--preset", "tiny", "--no-grid", "-q"]);
    let e = stderr(&out);
    assert!(!out.status.success() && !e.contains("panicked"), "{e}");
    assert!(e.contains("estimated training memory"), "{e}");
    let out = nas(dir.path(), &["train", "--arch", "3x3-1000000000", "--preset", "tiny", "-q"]);
    let e = stderr(&out);
    assert!(!out.status.success() && e.contains("exceed the caps") && !e.contains("panicked"), "{e}");
}

#[test]
fn draw_takes_a_canonical_string_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = nas(dir.path(), &["draw", "--arch", "3x3-32-mp;3x3-64<0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("<svg"));
    let out = nas(dir.path(), &["draw", "--arch", "3x3-"]);
    let e = stderr(&out);
    assert!(!out.status.success() && e.contains("neither a file nor a CNN string"), "{e}");
}

#[test]
fn a_second_resume_of_a_running_experiment_is_refused_at_once_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    // Random search, as above: REINFORCE on the toy objective can converge and end on repeats before
    // the second resume starts (it did on CI).
    let args = [
        "search",
        "--space",
        "nb201",
        "--strategy",
        "random",
        "--evaluator",
        "toy",
        "--samples",
        "100000000",
        "--name",
        "a",
        "-q",
    ];
    let mut first = nas_cmd(dir.path(), &args).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let second = nas(dir.path(), &["search", "--resume", "--name", "a", "-q"]);
    let e = stderr(&second);
    assert!(!second.status.success(), "{e}");
    assert!(e.contains(&format!("being run by process {}", first.id())), "{e}");
    assert!(started.elapsed() < Duration::from_secs(20), "said at once");
    // Once the holder is gone (even by kill -9), the experiment can be resumed.
    first.kill().unwrap();
    first.wait().unwrap();
    let resumed = nas(dir.path(), &["search", "--resume", "--name", "a", "--samples", "10", "-q"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
}
