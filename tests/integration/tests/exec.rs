//! `exec`: a new process in a running container — its namespaces, cgroup, identity, exit
//! status, terminal, detach, and the refusals (stopped container, missing program, a cwd
//! outside the container).

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use berth_test_support::bundle::RUNTIMETEST;
use berth_test_support::console::{read_until_closed, ConsoleSocket};
use berth_test_support::{require_container, Bundle, Container};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

/// A running container whose init sleeps.
fn running(name: &str) -> (Bundle, Container) {
    let mut b = Bundle::new(name);
    b.args(&["sleep", "1000"]);
    b.write_config();
    let c = Container::new(&b);
    c.run_detached().success();
    (b, c)
}

/// `exec ID ARGS…`.
fn with_id<'a>(c: &'a Container, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["exec", c.id()];
    v.extend_from_slice(args);
    v
}

fn ns(pid: u32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap().to_string_lossy().into_owned()
}

#[test]
fn exec_runs_in_the_container_and_returns_its_status() {
    require_container!();
    let (_b, c) = running("exec-status");
    let out = c.cmd(with_id(&c, &["sh", "-c", "hostname; echo pid=$$; exit 7"])).output();
    assert_eq!(out.status.code(), Some(7), "{out}");
    assert!(out.stdout.contains("pid="), "{out}");
    assert!(!out.stdout.contains("pid=1\n"), "not the init: {out}");
    c.delete(true).success();
    c.assert_nothing_left();
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup() {
    require_container!();
    let (_b, c) = running("exec-ns");
    let init = c.pid();
    let out = c
        .cmd(with_id(
            &c,
            &["sh", "-c", "for n in mnt net uts ipc pid; do readlink /proc/self/ns/$n; done"],
        ))
        .output();
    out.success();
    for kind in ["mnt", "net", "uts", "ipc", "pid"] {
        assert!(
            out.stdout.contains(&ns(init, kind)),
            "{kind} of the init {}: {out}",
            ns(init, kind)
        );
    }
    let init_cg = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    // Inside the cgroup namespace both read "/"; compare the host view of a detached exec.
    let pidfile = c.state_root().with_file_name("exec.pid");
    let pf = pidfile.to_str().unwrap();
    c.cmd(["exec", "-d", "--pid-file", pf, c.id(), "sleep", "100"]).output().success();
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let exec_cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(exec_cg, init_cg, "the exec'd process is in the container's cgroups");
    for kind in ["mnt", "net", "uts", "ipc", "pid", "cgroup"] {
        assert_eq!(ns(pid, kind), ns(init, kind), "{kind}");
    }
    c.delete(true).success();
    c.assert_nothing_left();
}

#[test]
fn exec_user_env_cwd_overrides() {
    require_container!();
    let (_b, c) = running("exec-user");
    let out = c
        .cmd([
            "exec",
            "-u",
            "1000:1001",
            "-g",
            "1002",
            "-e",
            "FOO=bar",
            "--cwd",
            "/dev",
            c.id(),
            "sh",
            "-c",
            "id -u; id -g; id -G; echo $FOO; pwd",
        ])
        .output();
    out.success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1000", "{out}");
    assert_eq!(lines[1], "1001", "{out}");
    assert!(lines[2].split(' ').any(|g| g == "1002"), "{out}");
    assert_eq!(lines[3], "bar", "{out}");
    assert_eq!(lines[4], "/dev", "{out}");
    c.delete(true).success();
}

#[test]
fn exec_process_file() {
    require_container!();
    let (b, c) = running("exec-procfile");
    let mut p = b.spec["process"].clone();
    p["args"] = json!(["sh", "-c", "echo from-file $X"]);
    p["env"] = json!(["PATH=/bin", "X=42"]);
    p["terminal"] = json!(false);
    let file = b.path().join("process.json");
    std::fs::write(&file, p.to_string()).unwrap();
    let out = c.cmd(["exec", "--process", file.to_str().unwrap(), c.id()]).output();
    out.success();
    assert!(out.stdout.contains("from-file 42"), "{out}");
    c.delete(true).success();
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (major, minor)
}

/// The CPUs the exec'd process may run on, as `/proc/self/status` lists them.
fn exec_cpus(b: &Bundle, c: &Container, affinity: serde_json::Value) -> String {
    let mut p = b.spec["process"].clone();
    p["args"] = json!(["sh", "-c", "grep Cpus_allowed_list /proc/self/status"]);
    p["terminal"] = json!(false);
    p["execCPUAffinity"] = affinity;
    let file = b.path().join("process.json");
    std::fs::write(&file, p.to_string()).unwrap();
    let out = c.cmd(["exec", "--process", file.to_str().unwrap(), c.id()]).output();
    out.success();
    out.stdout.split(':').nth(1).unwrap_or_default().trim().to_string()
}

#[test]
fn exec_cpu_affinity_final_is_applied_in_the_cgroup() {
    require_container!(two_cpus);
    let (b, c) = running("exec-affinity");
    if c.runtime().path.file_name().is_some_and(|n| n != "berth-runtime") {
        eprintln!("skip: execCPUAffinity is runc 1.2's; Debian's runc 1.1 ignores it");
        c.delete(true).success();
        return;
    }
    assert_eq!(exec_cpus(&b, &c, json!({"initial": "0", "final": "1"})), "1");
    // `initial` alone: nothing is changed after the move into the cgroup (runtime-spec), and
    // since Linux 6.2 a task's requested affinity survives a move into another cpuset (it is
    // only narrowed to the cpuset's CPUs), so it stays, as runc's own tests expect.
    if kernel_at_least(6, 2) {
        assert_eq!(exec_cpus(&b, &c, json!({"initial": "1"})), "1");
    }
    // A CPU that does not exist: a clear error naming the setting, nothing started.
    let mut p = b.spec["process"].clone();
    p["args"] = json!(["true"]);
    p["execCPUAffinity"] = json!({"final": "1000"});
    let file = b.path().join("process.json");
    std::fs::write(&file, p.to_string()).unwrap();
    let out = c.cmd(["exec", "--process", file.to_str().unwrap(), c.id()]).output();
    out.failure();
    assert!(out.stderr.contains("execCPUAffinity.final"), "{out}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out}");
    c.delete(true).success();
    c.assert_nothing_left();
}

#[test]
fn exec_runtimetest_sees_the_container_config() {
    require_container!();
    let (_b, c) = running("exec-check");
    // Not `namespaces`: that check wants to be pid 1, which only the init is.
    let out =
        c.cmd(with_id(&c, &[RUNTIMETEST, "check", "hostname", "capabilities", "rlimits"])).output();
    out.checks_ok(&["hostname", "capabilities", "rlimits"]);
    c.delete(true).success();
}

#[test]
fn exec_into_stopped_container_fails() {
    require_container!();
    let mut b = Bundle::new("exec-stopped");
    b.args(&["true"]);
    b.write_config();
    let c = Container::new(&b);
    c.run_detached().success();
    c.wait_status("stopped", WAIT);
    let out = c.cmd(with_id(&c, &["true"])).output();
    out.failure();
    assert!(out.stderr.contains("stopped"), "{out}");
    c.delete(false).success();
    c.assert_nothing_left();
}

#[test]
fn exec_of_a_missing_program_fails_clearly() {
    require_container!();
    let (_b, c) = running("exec-missing");
    let out = c.cmd(with_id(&c, &["no-such-program"])).output();
    out.failure();
    assert!(out.stderr.contains("no-such-program"), "{out}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out}");
    c.delete(true).success();
}

#[test]
fn exec_cwd_through_a_leaked_fd_cannot_escape() {
    require_container!();
    // CVE-2024-21626 for exec: a cwd of /proc/self/fd/N must fail or stay inside.
    let (b, c) = running("exec-fd-cwd");
    for fd in 3..=9 {
        let cwd = format!("/proc/self/fd/{fd}");
        let out = c.cmd(["exec", "--cwd", cwd.as_str(), c.id(), "sh", "-c", "ls -di /"]).output();
        if out.status.success() {
            let root_ino = std::fs::metadata(b.rootfs())
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .unwrap();
            assert!(out.stdout.starts_with(&format!("{root_ino} ")), "fd {fd}: {out}");
        }
    }
    c.delete(true).success();
}

#[test]
fn exec_with_a_terminal() {
    require_container!();
    let (_b, c) = running("exec-tty");
    let sock = ConsoleSocket::new();
    let mut cmd = c.cmd(["exec", "-t", "-d", "--console-socket"]);
    cmd = cmd.args([sock.path()]).args([c.id(), "sh", "-c", "tty; echo tty-done"]);
    cmd.output().success();
    let master = sock.recv_master(WAIT).unwrap_or_else(|e| panic!("pty master: {e}"));
    let text = read_until_closed(&master, WAIT);
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("tty-done"), "{text:?}");
    c.delete(true).success();
    c.assert_nothing_left();
}

#[test]
fn exec_runs_under_the_container_seccomp_filter() {
    require_container!();
    // runc applies the container's filter to exec'd processes too.
    let mut b = Bundle::new("exec-seccomp");
    b.args(&["sleep", "1000"]);
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    b.write_config();
    let c = Container::new(&b);
    c.run_detached().success();
    let out = c.cmd(with_id(&c, &["mkdir", "/dev/shm/x"])).output();
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    c.delete(true).success();
    c.assert_nothing_left();
}
