//! The monitor's stdout, the starter's pipe: the one-line report (`ok PID` or
//! `error MESSAGE`), a byte per log append and one for the exit, and its end (see the
//! protocol in the parent module's docs).

use std::io::Write;

/// One line on stdout for the `berth` command, then stdout is closed.
pub(super) fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    close_stdout();
}

/// `ok PID`; stdout stays open for [`notify_starter`] and [`close_stdout`], non-blocking so
/// that a starter that stops reading (a full pipe) never holds the monitor up.
pub(super) fn report_ok(pid: i32) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ok {pid}");
    let _ = out.flush();
    let _ = rustix::fs::fcntl_setfl(&out, rustix::fs::OFlags::NONBLOCK);
}

/// Tells the starter the log grew: one byte; `EAGAIN` (it has not read the last ones yet)
/// is as good. `EPIPE`: nobody reads (`run -d` has returned), so stop writing.
pub(super) fn notify_starter() {
    let out = std::io::stdout();
    if let Err(rustix::io::Errno::PIPE) = rustix::io::write(&out, b".") {
        close_stdout();
    }
}

/// Replaces stdout by /dev/null: the starter's pipe sees end-of-file.
pub(super) fn close_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stdout(&null);
    }
}
