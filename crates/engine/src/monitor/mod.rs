//! The monitor: one small process per container (the role of podman's conmon). It outlives
//! the `berth` command, holds the container's stdout and stderr, writes them to the log
//! (Docker's json-file format), reaps the init (it is a child subreaper, so the init is
//! reparented to it when `runtime create` exits), records the exit status and time in the
//! exit file, and deletes the runtime's container.
//!
//! Protocol with the `berth` command that started it: one line on the monitor's stdout,
//! `ok PID` once the container runs or `error MESSAGE` if it could not be created or
//! started. After `error` the monitor closes its stdout. After `ok` it keeps it open (made
//! non-blocking) and, for a starter that still reads it (foreground `run`), writes one byte
//! after each append to the log and one once the exit file is in place, and closes it once
//! `runtime delete` is done: the starter follows the log and notices the exit without an
//! inotify instance, and `run --rm` waits for the end of the pipe rather than for the
//! monitor's exit, which comes after the veths' deletion (see [`crate::watch`]). A starter
//! that has gone (`run -d`) makes the first write fail with `EPIPE`, and the monitor then
//! closes its stdout.
//!
//! # Terminal and stdin (`-t`, `-i`), as conmon does them
//!
//! With `-t` the monitor listens on a console socket (`<run dir>/console`), passes it to
//! `runtime create --console-socket`, and receives the pty master the runtime makes (one
//! `SCM_RIGHTS` fd). The master's output goes to the log as `stdout` and to every attached
//! client; client input is written to the master. With `-i` and no `-t` the container's
//! stdin is a pipe whose write end the monitor keeps; without `-i` it is /dev/null.
//!
//! Clients connect to the attach socket `<run dir>/attach` (`tty_relay`), which exists
//! for `-t` and `-i` containers from before `ok PID` until the monitor exits, and speak the
//! framed protocol of [`crate::attach`]:
//!
//! | direction | frame | meaning |
//! |---|---|---|
//! | client → monitor | `[1][len: u32 BE][len bytes]` | stdin data |
//! | client → monitor | `[2][len = 4][rows: u16 BE][cols: u16 BE]` | window size (`TIOCSWINSZ` on the master; the kernel sends SIGWINCH) |
//! | client → monitor | `[3][len = 0]` | end of stdin: the stdin pipe is closed (ignored with a tty) |
//! | monitor → client | raw bytes | terminal output (tty containers only) |
//!
//! The monitor closes every client's connection when the container exits; a client that
//! closes its own (detach) leaves the container running with its stdin open. For a
//! non-tty `-i` container the output is not multiplexed on the socket: it keeps flowing
//! through the log, which `berth` follows as for any foreground `run`, so stdout and
//! stderr stay apart and in order with no second framing for them, and `run -i` differs
//! from `run` only by its stdin. With `--hold-output` (foreground `run -it`, `start -ai`)
//! the terminal output is kept until the first client connects, so the prompt the shell
//! prints before `berth` connects is not lost.
//!
//! # Parts
//!
//! [`run`] is one monitor's whole life, in order; the parts it goes through:
//! - `setup`: `runtime create` with the container's stdio on the monitor's pipes (or its
//!   pty), the network, `runtime start`; for the first start and for every restart.
//! - `supervise`: the poll loop while the init runs: its output to the log and the attached
//!   clients (through `tty_relay`), the clients' input to it, reaping it.
//! - `log`: the log's lines in Docker's json-file format.
//! - `policy`: the restart policy, which starts the container again after an exit.
//! - `exit`: once it stays down: the exit file, the runtime's container deleted, the veths'
//!   host ends, and for `-d --rm` the container itself.
//! - `starter`: the monitor's stdout, the pipe to the `berth` command that started it.
//! - `args`: the command line between that command and the monitor.

mod args;
mod exit;
mod log;
mod policy;
mod setup;
mod starter;
mod supervise;

use std::path::PathBuf;
use std::process::Command;

pub use args::Args;
pub use exit::{runtime_deleted, RUNTIME_DELETED};
pub use log::json_lines;
pub(crate) use setup::RUNTIME_FAILED;

use exit::{finish, record_exit, remove_container};
use policy::supervise_with_policy;
use setup::start;
use starter::{report, report_ok};

use crate::tty_relay::Relay;

/// Runs the monitor; returns its exit status.
pub fn run(args: &Args) -> i32 {
    // Its own session: a terminal hang-up or Ctrl-C to `berth` must not reach the monitor.
    let _ = rustix::process::setsid();
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    // A new run: the runtime's container exists again until this monitor deletes it.
    let _ = std::fs::remove_file(run_dir(args).join(RUNTIME_DELETED));
    // Who supervises the container, for `berth` to tell "exiting" from "crashed".
    if let Some(dir) = args.exit.parent() {
        let _ = std::fs::write(
            dir.join("monitor.pid"),
            rustix::process::getpid().as_raw_nonzero().to_string(),
        );
    }
    // The log exists before anyone is told the container runs (`logs -f` opens it).
    let _ = std::fs::OpenOptions::new().create(true).append(true).open(&args.log);
    let plan = network_plan(args);
    // Held until the monitor exits: the container's host ports are nobody else's.
    let held = match crate::network::setup::reserve(&plan) {
        Ok(h) => h,
        Err(msg) => {
            report(&format!("error {msg}"));
            return 1;
        }
    };
    // Before `ok PID`: a client that was told the container runs can connect.
    let mut relay = match (args.tty || args.interactive)
        .then(|| Relay::bind(&run_dir(args), args.hold_output))
    {
        Some(Err(msg)) => {
            report(&format!("error {msg}"));
            return 1;
        }
        r => r.and_then(Result::ok),
    };
    match start(args, &plan) {
        Ok((pid, io)) => {
            report_ok(pid);
            let code = supervise_with_policy(args, &plan, (pid, io), relay.as_mut());
            drop(relay);
            // The ports are free again before anyone hears of the exit: a script's next
            // `run -p` of the same port must not find it taken. Nothing to send without.
            crate::network::setup::withdraw_ports(&plan);
            drop(held);
            record_exit(args, code);
            finish(args, &plan);
            if args.auto_remove {
                remove_container(args);
            }
            0
        }
        Err(msg) => {
            report(&format!("error {msg}"));
            let _ = runtime(args).args(["delete", "--force", &args.id]).output();
            1
        }
    }
}

fn run_dir(args: &Args) -> PathBuf {
    args.exit.parent().map(PathBuf::from).unwrap_or_default()
}

fn network_plan(args: &Args) -> crate::network::plan::Plan {
    match args.network.parent() {
        Some(dir) if !args.network.as_os_str().is_empty() => crate::network::plan::load(dir),
        _ => crate::network::plan::Plan::default_none(),
    }
}

fn runtime(args: &Args) -> Command {
    let mut c = Command::new(&args.runtime);
    c.arg("--root")
        .arg(&args.runtime_root)
        .arg("--log")
        .arg(&args.runtime_log)
        .args(["--log-format", "json"]);
    c
}
