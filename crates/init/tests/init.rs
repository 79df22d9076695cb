//! `berth-init` as a process: exit status, signals forwarded, missing programs. (As pid 1 of
//! a container, with zombies to reap: `tests/integration/tests/engine_init.rs`.)

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};
use std::time::Duration;

fn init(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth-init")).args(args).output().unwrap()
}

#[test]
fn passes_the_exit_status_and_the_output() {
    let out = init(&["--", "sh", "-c", "echo hi; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, b"hi\n");
}

#[test]
fn a_killed_command_is_128_plus_the_signal() {
    let out = init(&["--", "sh", "-c", "kill -9 $$"]);
    assert_eq!(out.status.code(), Some(137));
}

#[test]
fn forwards_signals_to_the_command() {
    let child = Command::new(env!("CARGO_BIN_EXE_berth-init"))
        .args(["--", "sh", "-c", "trap 'exit 42' USR1; while :; do sleep 0.05; done"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = i32::try_from(child.id()).unwrap();
    berth_sys::process::kill(pid, 10).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(42));
}

#[test]
fn the_command_does_not_inherit_the_blocked_signals() {
    // `sleep` has no handlers: only an unblocked SIGTERM ends it (143).
    let child =
        Command::new(env!("CARGO_BIN_EXE_berth-init")).args(["--", "sleep", "30"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    berth_sys::process::kill(i32::try_from(child.id()).unwrap(), 15).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
}

#[test]
fn missing_programs_are_127_and_usage_is_2() {
    assert_eq!(init(&["--", "/no/such/program"]).status.code(), Some(127));
    assert_eq!(init(&[]).status.code(), Some(2));
}
