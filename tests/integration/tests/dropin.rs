//! The drop-in tier: podman, Docker and containerd drive the runtime under test in place of
//! runc, and a user of the engine sees the same results: output, exit status, stdin, a
//! terminal, exec, top, pause, stop and removal, with nothing left behind.
//!
//! Each test runs its engine in a hermetic sandbox (`berth_test_support::dropin`): own
//! storage, daemon roots and sockets, a private mount namespace, the cgroup parent
//! `/berth-test-<pid>/<test>`, no network. The engine calls a wrapper that logs every runtime
//! invocation; a failure prints that log. Engines missing: skipped (failed under
//! `BERTH_TEST_STRICT=1`); `scripts/install-deps.sh` installs them.
//!
//! Commands the runtime does not implement yet (`pause`, `ps`) are asserted to fail cleanly
//! through the engine and reported as `PENDING`; once the runtime has them the full check runs.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::{Duration, Instant};

use berth_test_support::dropin::image::Image;
use berth_test_support::dropin::{runtime_has, Containerd, Docker, Podman, Sandbox};
use berth_test_support::Output;

/// A container init that exits 0 on SIGTERM at once (`sleep` as pid 1 would ignore it).
const SERVER: &[&str] = &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"];

/// The line typed on a terminal: the answer only appears if the shell evaluated it.
const TTY_INPUT: &str = "tty; echo tty-ok-$((6*7)); exit 4\n";

/// Checks the shell's answers to [`TTY_INPUT`] and its exit status.
fn check_tty(sb: &Sandbox, out: &Output) {
    sb.check(out.code() == Some(4), "the engine returns the shell's exit status 4", out);
    sb.check(out.stdout.contains("/dev/pts/"), "stdin is a pty", out);
    sb.check(out.stdout.contains("tty-ok-42"), "the typed line ran", out);
}

/// A file holding `text`, to feed as stdin.
fn stdin_file(sb: &Sandbox, text: &str) -> std::fs::File {
    let p = sb.dir().join("stdin.txt");
    std::fs::File::create(&p).unwrap().write_all(text.as_bytes()).unwrap();
    std::fs::File::open(&p).unwrap()
}

/// The wrapper log shows the engine used the runtime under test for `cmds`.
fn check_called(sb: &Sandbox, cmds: &[&str]) {
    let log = sb.runtime_log();
    for c in cmds {
        let needle = format!(" {c} ");
        assert!(
            log.contains(&needle),
            "the engine never ran `{c}` on the runtime\n{}",
            sb.report()
        );
    }
}

/// Whether the runtime has `cmd`; if not, says so for the report.
fn has_or_pending(cmd: &str, what: &str) -> bool {
    let has = runtime_has(cmd);
    if !has {
        eprintln!("PENDING: the runtime has no `{cmd}` yet; {what} asserted to fail cleanly");
    }
    has
}

/// An engine's refusal of a command the runtime lacks: non-zero, and the error names it.
fn check_pending_error(sb: &Sandbox, out: &Output, cmd: &str) {
    sb.check(!out.status.success(), "fails while the runtime lacks the command", out);
    let text = format!("{}{}", out.stdout, out.stderr);
    sb.check(text.contains(cmd), "the error names the missing runtime command", out);
}

/// Polls `f` until true or 20 s.
fn eventually(f: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

// ---------------------------------------------------------------------------------- podman

#[test]
fn podman_run_rm_output_exit_status_stdin() {
    let Some(p) = Podman::new("podman-run") else { return };
    let sb = p.sandbox();
    let out = p.run(&["--rm", Image::TAG, "echo", "hi"]).output();
    sb.ok(&out);
    sb.check(out.stdout == "hi\n", "stdout is the container's", &out);
    let out = p.run(&["--rm", Image::TAG, "sh", "-c", "echo err >&2; exit 3"]).output();
    sb.check(out.code() == Some(3), "podman returns the container's exit status", &out);
    sb.check(out.stderr.contains("err"), "stderr is the container's", &out);
    let out = p.run(&["--rm", "-i", Image::TAG, "cat"]).stdin(stdin_file(sb, "piped\n")).output();
    sb.ok(&out);
    sb.check(out.stdout == "piped\n", "stdin reaches the container", &out);
    check_called(sb, &["create", "start", "delete"]);
    let out = p.cmd(["ps", "--all", "--quiet"]).output();
    sb.check(out.stdout.trim().is_empty(), "--rm removed the containers", &out);
    sb.assert_clean(&sb.default_state_root());
}

#[test]
fn podman_detached_exec_top_stop_rm() {
    let Some(p) = Podman::new("podman-detached") else { return };
    let sb = p.sandbox();
    let mut args = vec!["-d", "--name", "web", Image::TAG];
    args.extend_from_slice(SERVER);
    sb.ok(&p.run(&args).output());
    let out = p.cmd(["exec", "web", "sh", "-c", "cat /proc/1/cmdline; echo; exit 5"]).output();
    sb.check(out.code() == Some(5), "exec returns the process's status", &out);
    sb.check(out.stdout.contains("trap"), "exec runs in the container's pid namespace", &out);
    let out = p.cmd(["top", "web"]).output();
    sb.ok(&out);
    sb.check(out.stdout.contains("sleep 1000"), "top lists the container's processes", &out);
    let start = Instant::now();
    sb.ok(&p.cmd(["stop", "--time", "20", "web"]).output());
    let out = p.cmd(["inspect", "--format", "{{.State.ExitCode}}", "web"]).output();
    sb.check(out.stdout.trim() == "0", "SIGTERM reached the trap (exit 0)", &out);
    sb.check(start.elapsed() < Duration::from_secs(15), "stop took the SIGTERM path", &out);
    sb.ok(&p.cmd(["rm", "web"]).output());
    check_called(sb, &["create", "start", "exec", "kill", "delete"]);
    sb.assert_clean(&sb.default_state_root());
}

#[test]
fn podman_pause_unpause() {
    let Some(p) = Podman::new("podman-pause") else { return };
    let sb = p.sandbox();
    let mut args = vec!["-d", "--name", "web", Image::TAG];
    args.extend_from_slice(SERVER);
    sb.ok(&p.run(&args).output());
    let status = || p.cmd(["inspect", "--format", "{{.State.Status}}", "web"]).output();
    if has_or_pending("pause", "podman pause") {
        sb.ok(&p.cmd(["pause", "web"]).output());
        let out = status();
        sb.check(out.stdout.trim() == "paused", "podman sees the container paused", &out);
        sb.ok(&p.cmd(["unpause", "web"]).output());
        let out = status();
        sb.check(out.stdout.trim() == "running", "running again", &out);
        sb.ok(&p.cmd(["exec", "web", "true"]).output());
        check_called(sb, &["pause", "resume"]);
    } else {
        check_pending_error(sb, &p.cmd(["pause", "web"]).output(), "pause");
        let out = status();
        sb.check(out.stdout.trim() == "running", "a failed pause leaves it running", &out);
    }
    sb.ok(&p.cmd(["rm", "--force", "--time", "5", "web"]).output());
    sb.assert_clean(&sb.default_state_root());
}

#[test]
fn podman_run_interactive_tty() {
    let Some(p) = Podman::new("podman-tty") else { return };
    let sb = p.sandbox();
    let mut args: Vec<String> = vec!["run".into(), "-it".into(), "--rm".into()];
    args.extend(p.run_flags());
    args.extend([Image::TAG.to_string(), "sh".into()]);
    let out = p.on_tty(&args, "# ", TTY_INPUT);
    check_tty(sb, &out);
    check_called(sb, &["create", "start"]);
    let log = sb.runtime_log();
    assert!(log.contains("--console-socket"), "a terminal goes through the console socket\n{log}");
    sb.assert_clean(&sb.default_state_root());
}

// ---------------------------------------------------------------------------------- Docker

#[test]
fn docker_run_rm_output_exit_status_stdin_tty() {
    let Some(mut d) = Docker::new("docker-run") else { return };
    let sb = d.sandbox();
    let out = d.run(&["--rm", Image::TAG, "echo", "hi"]).output();
    sb.ok(&out);
    sb.check(out.stdout == "hi\n", "stdout is the container's", &out);
    let out = d.run(&["--rm", Image::TAG, "sh", "-c", "echo err >&2; exit 3"]).output();
    sb.check(out.code() == Some(3), "docker returns the container's exit status", &out);
    sb.check(out.stderr.contains("err"), "stderr is the container's", &out);
    let out = d.run(&["--rm", "-i", Image::TAG, "cat"]).stdin(stdin_file(sb, "piped\n")).output();
    sb.ok(&out);
    sb.check(out.stdout == "piped\n", "stdin reaches the container", &out);
    let tty = [&["run"][..], &d.run_flags(), &["-it", "--rm", Image::TAG, "sh"]].concat();
    let out = d.on_tty(&tty, "# ", TTY_INPUT);
    check_tty(sb, &out);
    check_called(sb, &["create", "start", "delete"]);
    let state_root = d.state_root();
    d.stop_daemon();
    d.sandbox().assert_clean(&state_root);
}

#[test]
fn docker_detached_exec_top_pause_stop_rm() {
    let Some(mut d) = Docker::new("docker-detached") else { return };
    let sb = d.sandbox();
    let mut args = vec!["-d", "--name", "web", Image::TAG];
    args.extend_from_slice(SERVER);
    sb.ok(&d.run(&args).output());
    let out = d.cmd(["exec", "web", "sh", "-c", "cat /proc/1/cmdline; echo; exit 5"]).output();
    sb.check(out.code() == Some(5), "exec returns the process's status", &out);
    sb.check(out.stdout.contains("trap"), "exec runs in the container's pid namespace", &out);
    let out = d.on_tty(&["exec", "-it", "web", "sh"], "# ", TTY_INPUT);
    check_tty(sb, &out);
    // docker top asks the runtime: `ps --format json ID`
    let out = d.cmd(["top", "web"]).output();
    if has_or_pending("ps", "docker top") {
        sb.ok(&out);
        sb.check(out.stdout.contains("sleep 1000"), "top lists the container's processes", &out);
    } else {
        check_pending_error(sb, &out, "ps");
    }
    let status = || d.cmd(["inspect", "--format", "{{.State.Status}}", "web"]).output();
    if has_or_pending("pause", "docker pause") {
        sb.ok(&d.cmd(["pause", "web"]).output());
        let out = status();
        sb.check(out.stdout.trim() == "paused", "docker sees the container paused", &out);
        sb.ok(&d.cmd(["unpause", "web"]).output());
        let out = status();
        sb.check(out.stdout.trim() == "running", "running again", &out);
    } else {
        check_pending_error(sb, &d.cmd(["pause", "web"]).output(), "pause");
    }
    let start = Instant::now();
    sb.ok(&d.cmd(["stop", "--time", "20", "web"]).output());
    let out = d.cmd(["inspect", "--format", "{{.State.ExitCode}}", "web"]).output();
    sb.check(out.stdout.trim() == "0", "SIGTERM reached the trap (exit 0)", &out);
    sb.check(start.elapsed() < Duration::from_secs(15), "stop took the SIGTERM path", &out);
    sb.ok(&d.cmd(["rm", "web"]).output());
    check_called(sb, &["create", "start", "exec", "kill", "delete"]);
    let state_root = d.state_root();
    d.stop_daemon();
    d.sandbox().assert_clean(&state_root);
}

// ------------------------------------------------------------------------------ containerd

/// `ctr task ls` shows `id` as `status`.
fn task_status(c: &Containerd, id: &str, status: &str) -> bool {
    let out = c.cmd(["task", "ls"]).output();
    out.stdout.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.first() == Some(&id) && f.get(2) == Some(&status)
    })
}

#[test]
fn containerd_run_rm_output_exit_status() {
    let Some(mut c) = Containerd::new("ctr-run") else { return };
    let sb = c.sandbox();
    let out = c.run("hello", &["--rm"], &["echo", "hi"]).output();
    sb.ok(&out);
    sb.check(out.stdout == "hi\n", "stdout is the container's", &out);
    let out = c.run("status", &["--rm"], &["sh", "-c", "exit 3"]).output();
    sb.check(out.code() == Some(3), "ctr returns the container's exit status", &out);
    check_called(sb, &["create", "start", "delete"]);
    let out = c.cmd(["containers", "list", "--quiet"]).output();
    sb.check(out.stdout.trim().is_empty(), "--rm removed the containers", &out);
    let state_root = c.state_root();
    c.stop_daemon();
    c.sandbox().assert_clean(&state_root);
}

#[test]
fn containerd_detached_exec_ps_pause_kill_delete() {
    let Some(mut c) = Containerd::new("ctr-detached") else { return };
    let sb = c.sandbox();
    sb.ok(&c.run("web", &["--detach"], SERVER).output());
    let exec = ["task", "exec", "--exec-id", "e1", "web", "sh", "-c"];
    let out = c.cmd(exec).args(["cat /proc/1/cmdline; echo; exit 5"]).output();
    sb.check(out.code() == Some(5), "exec returns the process's status", &out);
    sb.check(out.stdout.contains("trap"), "exec runs in the container's pid namespace", &out);
    let out = c.cmd(["task", "ps", "web"]).output();
    if has_or_pending("ps", "ctr task ps") {
        sb.ok(&out);
        sb.check(out.stdout.lines().count() >= 3, "the init and its sleep", &out);
    } else {
        check_pending_error(sb, &out, "ps");
    }
    if has_or_pending("pause", "ctr task pause") {
        sb.ok(&c.cmd(["task", "pause", "web"]).output());
        let paused = eventually(|| task_status(&c, "web", "PAUSED"));
        sb.check(paused, "containerd sees it paused", &c.cmd(["task", "ls"]).output());
        sb.ok(&c.cmd(["task", "resume", "web"]).output());
        let running = eventually(|| task_status(&c, "web", "RUNNING"));
        sb.check(running, "running again", &c.cmd(["task", "ls"]).output());
    } else {
        check_pending_error(sb, &c.cmd(["task", "pause", "web"]).output(), "pause");
    }
    sb.ok(&c.cmd(["task", "kill", "web"]).output());
    let stopped = eventually(|| task_status(&c, "web", "STOPPED"));
    sb.check(stopped, "SIGTERM stopped the task", &c.cmd(["task", "ls"]).output());
    sb.ok(&c.cmd(["task", "delete", "web"]).output());
    sb.ok(&c.cmd(["containers", "delete", "web"]).output());
    check_called(sb, &["create", "start", "exec", "kill", "delete"]);
    let state_root = c.state_root();
    c.stop_daemon();
    c.sandbox().assert_clean(&state_root);
}
