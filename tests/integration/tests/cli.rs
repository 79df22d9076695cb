//! runc's command line beyond the OCI operations: `--console-socket` with a terminal,
//! `--pid-file`, `--no-pivot`, `--preserve-fds`, `run --detach`, `list` formats, `spec`,
//! `--log`/`--log-format json`, unknown flags, `kill --all`, `delete --force`, and
//! concurrent commands on one container.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_test_support::bundle::RUNTIMETEST;
use berth_test_support::console::{read_until_closed, ConsoleSocket};
use berth_test_support::{cgroup, process, require_container, Bundle, Container, TestCommand};
use berth_test_support::{Output, Runtime};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

fn bundle_with(name: &str, args: &[&str]) -> Bundle {
    let mut b = Bundle::new(name);
    b.args(args);
    b.write_config();
    b
}

fn sleeper(name: &str) -> Bundle {
    bundle_with(name, &["sleep", "1000"])
}

/// A bundle whose process has a terminal of `height` x `width`.
fn terminal_bundle(name: &str, args: &[&str]) -> Bundle {
    let mut b = Bundle::new(name);
    b.spec["process"]["terminal"] = json!(true);
    b.spec["process"]["consoleSize"] = json!({"height": 31, "width": 101});
    b.args(args);
    b.write_config();
    b
}

/// Creates `b` with `--console-socket`, receives the pty master, starts the container and
/// returns everything it wrote to its terminal until it exited.
fn run_on_terminal(b: &Bundle) -> String {
    let c = Container::new(b);
    let sock = ConsoleSocket::new();
    c.create_with([Path::new("--console-socket"), sock.path()]).success();
    let master = sock.recv_master(WAIT).unwrap_or_else(|e| panic!("pty master: {e}"));
    c.start().success();
    let text = read_until_closed(&master, WAIT);
    c.wait_status("stopped", WAIT);
    c.delete(false).success();
    c.assert_nothing_left();
    text
}

#[test]
fn terminal_console_socket_receives_pty_master() {
    require_container!();
    let b = terminal_bundle("tty", &["sh", "-c", "tty; stty size; echo done"]);
    let text = run_on_terminal(&b);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert!(
        lines.first().is_some_and(|l| l.starts_with("/dev/pts/") || *l == "/dev/console"),
        "stdin is a pty: {text:?}"
    );
    assert!(lines.contains(&"31 101"), "consoleSize applied (stty size): {text:?}");
    assert!(lines.contains(&"done"), "{text:?}");
}

#[test]
fn terminal_runtimetest_check() {
    require_container!();
    let b = terminal_bundle("tty-check", &[RUNTIMETEST, "check", "terminal"]);
    let text = run_on_terminal(&b);
    assert!(text.lines().any(|l| l.trim() == "ok terminal"), "runtimetest: {text:?}");
}

#[test]
fn terminal_without_console_socket_fails_create() {
    require_container!();
    let b = terminal_bundle("tty-nosock", &["sleep", "1000"]);
    let c = Container::new(&b);
    let out = c.create();
    out.failure();
    let err = out.stderr.to_lowercase();
    assert!(err.contains("console"), "the error names the missing console socket\n{out}");
    assert!(c.state_entries().is_empty(), "state root: {:?}", c.state_entries());
    c.assert_nothing_left();
}

#[test]
fn pid_file_holds_the_init_pid() {
    require_container!();
    let b = sleeper("pid-file");
    let c = Container::new(&b);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("init.pid");
    c.create_with([Path::new("--pid-file"), &file]).success();
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let pid: u32 = text.trim().parse().unwrap_or_else(|_| panic!("pid file holds {text:?}"));
    assert_eq!(pid, c.pid(), "pid file and state agree");
    assert!(process::alive(pid));
}

#[test]
fn no_pivot_runs_with_the_rootfs_as_root() {
    require_container!();
    let b = sleeper("no-pivot");
    let c = Container::new(&b);
    c.create_with(["--no-pivot"]).success();
    c.start().success();
    let pid = c.pid();
    let root = std::fs::metadata(format!("/proc/{pid}/root")).unwrap();
    let rootfs = std::fs::metadata(b.rootfs()).unwrap();
    assert_eq!((root.dev(), root.ino()), (rootfs.dev(), rootfs.ino()), "root is the rootfs");
    assert_eq!(c.status(), "running");
}

#[test]
fn preserve_fds_passes_exactly_n_extra_fds() {
    require_container!();
    let script = "for fd in 3 4; do [ -e /proc/$$/fd/$fd ] && echo open $fd; done; true";
    let b = bundle_with("preserve-fds", &["sh", "-c", script]);
    let c = Container::new(&b);
    // fds 3 and 4 are open (not close-on-exec) in the runtime; only 3 may reach the container.
    let mut sh = Command::new("/bin/sh");
    sh.args(["-c", "exec 3</etc/hostname 4</etc/hostname; exec \"$@\"", "sh"]);
    sh.arg(&c.runtime().path).arg("--root").arg(c.state_root());
    let out = TestCommand::new(sh)
        .args(["run", "--preserve-fds", "1", "--bundle"])
        .args([b.path().as_os_str()])
        .args([c.id()])
        .output();
    out.success();
    let open: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(open, vec!["open 3"], "fd 3 is preserved, fd 4 is not\n{out}");
    c.assert_nothing_left();
}

#[test]
fn run_detach_returns_while_the_container_runs() {
    require_container!();
    let b = sleeper("run-detach");
    let c = Container::new(&b);
    let start = Instant::now();
    c.run_detached().success();
    assert!(start.elapsed() < WAIT, "run --detach returned after {:?}", start.elapsed());
    assert_eq!(c.status(), "running");
    let pid = c.pid();
    assert!(process::alive(pid));
    c.delete(true).success();
    assert!(process::wait_gone(pid, WAIT));
    c.assert_nothing_left();
}

#[test]
fn list_format_json_has_the_state_fields() {
    require_container!();
    let b = sleeper("list-json");
    let c = Container::new(&b);
    c.create().success();
    let out = c.cmd(["list", "--format", "json"]).output();
    out.success();
    let list: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("list --format json is not JSON: {e}\n{out}"));
    let entries = list.as_array().unwrap_or_else(|| panic!("a JSON array\n{out}"));
    assert_eq!(entries.len(), 1, "{out}");
    let e = &entries[0];
    assert_eq!(e["id"], c.id(), "{out}");
    assert_eq!(e["status"], "created", "{out}");
    assert_eq!(e["pid"].as_u64(), Some(u64::from(c.pid())), "{out}");
    let bundle = std::fs::canonicalize(b.path()).unwrap();
    assert_eq!(e["bundle"].as_str().map(std::path::PathBuf::from), Some(bundle), "{out}");
}

#[test]
fn list_quiet_prints_only_ids() {
    require_container!();
    let b = sleeper("list-q");
    let c = Container::new(&b);
    let empty = c.cmd(["list", "-q"]).output();
    empty.success();
    assert_eq!(empty.stdout.trim(), "", "no containers yet\n{empty}");
    c.create().success();
    let out = c.cmd(["list", "-q"]).output();
    out.success();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), vec![c.id()], "{out}");
}

#[test]
fn spec_writes_config_and_refuses_to_overwrite() {
    require_container!();
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::from_env();
    let spec = || rt.cmd(dir.path(), ["spec", "--bundle"]).args([dir.path()]).output();
    spec().success();
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let config: Value = serde_json::from_str(&text).expect("spec writes JSON");
    assert!(config["ociVersion"].is_string(), "{config}");
    assert!(config["process"]["args"].as_array().is_some_and(|a| !a.is_empty()), "{config}");
    assert!(config["root"]["path"].is_string(), "{config}");
    std::fs::write(&path, "user edits\n").unwrap();
    let again = spec();
    again.failure();
    assert!(!again.stderr.trim().is_empty(), "an error message\n{again}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "user edits\n", "not overwritten");
}

#[test]
fn log_json_records_the_error() {
    require_container!();
    let b = Bundle::new("log-json");
    let c = Container::new(&b);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runtime.log");
    let out = c.cmd(["--log"]).args([&log]).args(["--log-format", "json", "state", c.id()]);
    let out = out.output();
    out.failure();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let errors: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .filter(|v: &Value| v["level"] == "error")
        .collect();
    assert!(!errors.is_empty(), "an error line in the log: {text:?}\n{out}");
    let msg = errors[0]["msg"].as_str().unwrap_or("").to_lowercase();
    let names = [c.id(), "not exist", "not found", "no such"];
    assert!(names.iter().any(|n| msg.contains(n)), "msg names the failure: {text:?}");
    assert!(errors[0]["time"].is_string(), "runc's fields: {text:?}");
}

#[test]
fn unknown_flag_fails_with_a_message() {
    require_container!();
    let b = Bundle::new("bad-flag");
    let c = Container::new(&b);
    for args in [vec!["state", "--berth-bogus", c.id()], vec!["--berth-bogus", "list"]] {
        let out = c.cmd(&args).output();
        out.failure();
        assert!(out.stderr.contains("berth-bogus"), "the message names the flag\n{out}");
    }
    assert!(c.state_entries().is_empty());
}

/// Pid of a process in the pid namespace of `init`, other than `init`, whose command line
/// contains `needle`.
fn find_child(init: u32, needle: &str) -> u32 {
    let ns = |p: u32| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    let want = ns(init).expect("init's pid namespace");
    let start = Instant::now();
    loop {
        let pids = std::fs::read_dir("/proc").unwrap().flatten();
        let found = pids.filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()).find(|&p| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            p != init && ns(p).as_ref() == Some(&want) && cmd.contains(needle)
        });
        if let Some(p) = found {
            return p;
        }
        assert!(start.elapsed() < WAIT, "no `{needle}` process in the container");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_all_reaches_a_second_process() {
    require_container!();
    // PID 1 (sh, no trap) ignores TERM; the background sleep does not, so only `--all` ends it.
    let b = bundle_with("kill-all", &["sh", "-c", "sleep 1001 & while true; do sleep 1; done"]);
    let c = Container::new(&b);
    c.run_detached().success();
    let init = c.pid();
    let child = find_child(init, "sleep 1001");
    c.cmd(["kill", "--all", c.id(), "TERM"]).output().success();
    assert!(process::wait_gone(child, WAIT), "the second process got TERM");
    assert!(process::alive(init), "PID 1 ignores TERM");
    assert_eq!(c.status(), "running");
}

#[test]
fn delete_force_of_running_container_leaves_nothing() {
    require_container!();
    let b = bundle_with("delete-force", &["sh", "-c", "sleep 1002 & while true; do sleep 1; done"]);
    let c = Container::new(&b);
    c.run_detached().success();
    let init = c.pid();
    let child = find_child(init, "sleep 1002");
    c.delete(true).success();
    assert!(process::wait_gone(init, WAIT), "init killed");
    assert!(process::wait_gone(child, WAIT), "the second process killed");
    c.state_output().failure();
    assert!(cgroup::leftover_dirs(c.id()).is_empty(), "{:?}", cgroup::leftover_dirs(c.id()));
    c.assert_nothing_left();
}

#[test]
fn state_from_a_new_process_after_create_exited() {
    require_container!();
    let b = sleeper("state-later");
    let c = Container::new(&b);
    // Each command is its own process: create has exited before state, start and the
    // second state run, so everything they know comes from the state directory.
    let created = c.create();
    created.success();
    std::thread::sleep(Duration::from_millis(300));
    let first = c.state();
    assert_eq!(first["status"], "created", "{first}");
    c.start().success();
    let second = c.state();
    assert_eq!(second["status"], "running", "{second}");
    assert_eq!(first["pid"], second["pid"], "the same init");
    assert_eq!(first["id"], second["id"]);
}

/// Whether `out` ended by itself with a plain exit code (no signal, no panic, no timeout).
fn clean_exit(out: &Output) -> bool {
    out.code().is_some_and(|c| c == 0 || c == 1) && !out.stderr.contains("panicked")
}

#[test]
fn concurrent_kill_and_state_during_delete() {
    require_container!();
    let b = sleeper("concurrent");
    let c = Container::new(&b);
    c.run_detached().success();
    let pid = c.pid();
    let results: Vec<Output> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for _ in 0..3 {
            handles.push(s.spawn(|| (0..8).map(|_| c.state_output()).collect::<Vec<_>>()));
            handles.push(s.spawn(|| (0..8).map(|_| c.kill("KILL")).collect::<Vec<_>>()));
        }
        handles.push(s.spawn(|| vec![c.delete(true)]));
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    for out in &results {
        assert!(clean_exit(out), "every command exits cleanly\n{out}");
        if out.cmdline.contains(" state ") && out.status.success() {
            let v: Value = serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("a successful state prints whole JSON: {e}\n{out}"));
            assert!(matches!(v["status"].as_str(), Some("running" | "stopped")), "{out}");
        }
    }
    let delete = results.last().unwrap();
    assert!(delete.status.success(), "delete --force succeeds despite the others\n{delete}");
    assert!(process::wait_gone(pid, WAIT));
    c.state_output().failure();
    c.assert_nothing_left();
}
