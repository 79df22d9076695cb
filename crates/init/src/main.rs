//! `berth-init -- COMMAND [ARG...]`: pid 1 of a container started with `berth run --init`.
//!
//! A process at pid 1 of a pid namespace has two duties no ordinary program does: the
//! kernel delivers it only the signals it has handlers for (so `SIGTERM` does nothing to a
//! plain `sleep` there), and orphans are reparented to it, to be reaped or left as zombies.
//! This init, like tini (what Docker's `--init` uses), runs the command as its child:
//!
//! 1. block every signal, so none interrupts it and each is taken synchronously with
//!    `sigtimedwait(2)` (no handler code, nothing shared with one);
//! 2. start the command with an empty signal mask (a mask survives exec);
//! 3. loop: a `SIGCHLD` (or a timeout) reaps every exited process; any other signal is
//!    forwarded to the command; when the command itself has been reaped, exit with its
//!    status, or 128 + the signal that killed it (the shell's and Docker's convention).

#![forbid(unsafe_code)]

use std::process::{Command, ExitCode};
use std::time::Duration;

use berth_sys::signal::{self, SigSet};
use rustix::process::{self as rp, WaitOptions, WaitStatus};

const SIGCHLD: i32 = 17;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => &args[..],
    };
    let Some((program, rest)) = argv.split_first() else {
        eprintln!("berth-init: usage: berth-init -- COMMAND [ARG...]");
        return ExitCode::from(2);
    };
    let all = SigSet::full();
    if let Err(e) = signal::block(&all) {
        eprintln!("berth-init: {e}");
        return ExitCode::from(1);
    }
    let mut cmd = Command::new(program);
    cmd.args(rest);
    signal::unblock_in_child(&mut cmd);
    let child = match cmd.spawn() {
        Ok(c) => c.id(),
        Err(e) => {
            eprintln!("berth-init: start {program}: {e}");
            // The shell's codes: 127 not found, 126 found but not runnable.
            let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            return ExitCode::from(code);
        }
    };
    let child = i32::try_from(child).unwrap_or(i32::MAX);
    ExitCode::from(supervise(child, &all))
}

/// Forwards signals to `child` and reaps until `child` is gone; returns its exit code.
fn supervise(child: i32, set: &SigSet) -> u8 {
    loop {
        match signal::wait(set, Duration::from_secs(1)) {
            Ok(Some(SIGCHLD)) | Ok(None) => {}
            Ok(Some(sig)) => {
                // The child may be exiting at the same moment: nothing to do then.
                let _ = berth_sys::process::kill(child, sig);
            }
            Err(e) => eprintln!("berth-init: {e}"),
        }
        if let Some(code) = reap(child) {
            return code;
        }
    }
}

/// Reaps every exited process; the exit code of `child` if it was among them.
fn reap(child: i32) -> Option<u8> {
    let mut code = None;
    // WNOHANG: returns None once nothing more has exited; an error means no children left.
    while let Ok(Some((pid, status))) = rp::wait(WaitOptions::NOHANG) {
        if pid.as_raw_nonzero().get() == child {
            code = Some(exit_code(status));
        }
    }
    code
}

fn exit_code(status: WaitStatus) -> u8 {
    if let Some(c) = status.exit_status() {
        return u8::try_from(c & 0xff).unwrap_or(255);
    }
    let sig = status.terminating_signal().unwrap_or(0);
    u8::try_from(128 + sig).unwrap_or(255)
}
