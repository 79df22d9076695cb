//! `linux.seccomp` (config-linux.md "Seccomp"), checked from inside with busybox: actions,
//! errno values, argument conditions (runc's OR for repeated arguments), the notify agent
//! protocol (runtime.md "containerProcessState"), and refusals of bad profiles.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use berth_test_support::seccomp_agent::{self, SeccompAgent};
use berth_test_support::{require_container, Bundle, Container, Output};
use serde_json::{json, Value};

/// A bundle running `sh -c script` under `profile`, with /dev/shm writable for mkdir.
fn bundle(name: &str, script: &str, profile: Value) -> Bundle {
    let mut b = Bundle::new(name);
    b.args(&["sh", "-c", script]);
    b.spec["linux"]["seccomp"] = profile;
    b.write_config();
    b
}

fn run(b: &Bundle) -> Output {
    Container::new(b).run()
}

fn deny(names: &[&str], action: &str, extra: Value) -> Value {
    let mut rule = json!({"names": names, "action": action});
    if let (Some(r), Value::Object(e)) = (rule.as_object_mut(), extra) {
        r.extend(e);
    }
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
}

#[test]
fn errno_action_defaults_to_eperm() {
    require_container!();
    let b = bundle(
        "sc-eperm",
        "mkdir /dev/shm/x",
        deny(&["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", json!({})),
    );
    let out = run(&b);
    assert_eq!(out.code(), Some(1), "mkdir fails\n{out}");
    assert!(out.stderr.contains("Operation not permitted"), "EPERM\n{out}");
}

#[test]
fn errno_action_returns_errno_ret() {
    require_container!();
    let extra = json!({"errnoRet": 28});
    let b = bundle(
        "sc-errno",
        "mkdir /dev/shm/x",
        deny(&["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", extra),
    );
    let out = run(&b);
    assert_eq!(out.code(), Some(1), "mkdir fails\n{out}");
    assert!(out.stderr.contains("No space left on device"), "ENOSPC (28)\n{out}");
}

/// What busybox sh, echo and mkdir need, and what runc's Go init calls after loading the
/// filter (runc loads it before its last steps; berth just before execve).
const ALLOW: &[&str] = &[
    "arch_prctl",
    "brk",
    "clone",
    "clone3",
    "close",
    "close_range",
    "dup2",
    "dup3",
    "epoll_ctl",
    "epoll_pwait",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getpid",
    "getppid",
    "getrandom",
    "gettid",
    "getuid",
    "ioctl",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "openat",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "readlinkat",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_getaffinity",
    "sched_yield",
    "set_robust_list",
    "set_tid_address",
    "sigaltstack",
    "stat",
    "statfs",
    "statx",
    "tgkill",
    "uname",
    "wait4",
    "write",
    "writev",
];

#[test]
fn default_errno_with_an_allow_list() {
    require_container!();
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ALLOW, "action": "SCMP_ACT_ALLOW"}]
    });
    let b = bundle("sc-allowlist", "echo allowed; mkdir /dev/shm/x", profile);
    let out = run(&b);
    assert_eq!(out.code(), Some(1), "mkdir fails\n{out}");
    assert!(out.stdout.contains("allowed"), "echo works\n{out}");
    assert!(out.stderr.contains("Operation not permitted"), "mkdir gets EPERM\n{out}");
}

#[test]
fn default_errno_ret() {
    require_container!();
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 28,
        "syscalls": [{"names": ALLOW, "action": "SCMP_ACT_ALLOW"}]
    });
    let out = run(&bundle("sc-deferrno", "mkdir /dev/shm/x", profile));
    assert!(out.stderr.contains("No space left on device"), "ENOSPC (28)\n{out}");
}

#[test]
fn kill_process_exits_by_sigsys() {
    require_container!();
    let b = bundle(
        "sc-kill",
        "mkdir /dev/shm/x",
        deny(&["mkdir", "mkdirat"], "SCMP_ACT_KILL_PROCESS", json!({})),
    );
    let out = run(&b);
    assert_eq!(out.code(), Some(128 + 31), "killed by SIGSYS\n{out}");
}

#[test]
fn argument_condition_selects_calls() {
    require_container!();
    // personality(PER_LINUX32) denied, personality(PER_LINUX) allowed.
    let extra = json!({"args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]});
    let script = "linux64 true && echo linux64-ok; linux32 true || echo linux32-denied";
    let out = run(&bundle("sc-arg", script, deny(&["personality"], "SCMP_ACT_ERRNO", extra)));
    out.success();
    assert!(out.stdout.contains("linux64-ok"), "personality(0) allowed\n{out}");
    assert!(out.stdout.contains("linux32-denied"), "personality(8) denied\n{out}");
}

#[test]
fn conditions_on_the_same_argument_are_ored() {
    require_container!();
    // AND-ed, `arg0 == 8 && arg0 == 0` could never match; runc's semantics add one rule per
    // condition, so both calls are denied.
    let extra = json!({"args": [
        {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}
    ]});
    let script = "linux64 true || echo linux64-denied; linux32 true || echo linux32-denied";
    let out = run(&bundle("sc-or", script, deny(&["personality"], "SCMP_ACT_ERRNO", extra)));
    assert!(out.stdout.contains("linux64-denied"), "arg0 == 0 denied\n{out}");
    assert!(out.stdout.contains("linux32-denied"), "arg0 == 8 denied\n{out}");
}

#[test]
fn masked_eq_condition() {
    require_container!();
    // personality with bit 3 set (PER_LINUX32 = 8) denied, whatever the other bits.
    let extra =
        json!({"args": [{"index": 0, "value": 8, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]});
    let script = "linux64 true && echo linux64-ok; linux32 true || echo linux32-denied";
    let out = run(&bundle("sc-masked", script, deny(&["personality"], "SCMP_ACT_ERRNO", extra)));
    assert!(out.stdout.contains("linux64-ok") && out.stdout.contains("linux32-denied"), "{out}");
}

#[test]
fn log_action_allows() {
    require_container!();
    let profile = deny(&["mkdir", "mkdirat"], "SCMP_ACT_LOG", json!({}));
    let out = run(&bundle("sc-log", "mkdir /dev/shm/x && echo made", profile));
    out.success();
    assert!(out.stdout.contains("made"), "{out}");
}

/// Whether the runtime under test knows `flags` (runc 1.1, Debian 12's, refuses them all).
fn supports_flags(c: &Container) -> bool {
    let ok = c.runtime().name != "runc";
    if !ok {
        eprintln!("skipped: {} does not support linux.seccomp.flags", c.runtime().name);
    }
    ok
}

#[test]
fn filter_flags_are_accepted() {
    require_container!();
    let mut profile = deny(&["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", json!({}));
    profile["flags"] = json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
    ]);
    let b = bundle("sc-flags", "mkdir /dev/shm/x", profile);
    let c = Container::new(&b);
    if !supports_flags(&c) {
        return;
    }
    let out = c.run();
    assert_eq!(out.code(), Some(1), "the filter is loaded\n{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
}

#[test]
fn unknown_syscall_is_skipped_with_a_warning() {
    require_container!();
    let names = ["mkdir", "mkdirat", "berth_no_such_syscall"];
    let b = bundle("sc-unknown", "mkdir /dev/shm/x", deny(&names, "SCMP_ACT_ERRNO", json!({})));
    let c = Container::new(&b);
    let out = c.run();
    assert_eq!(out.code(), Some(1), "the rest of the rule still applies\n{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    // runc only logs it at debug level.
    if c.runtime().name == "berth-runtime" {
        assert!(out.stderr.contains("berth_no_such_syscall"), "a warning names it\n{out}");
    }
}

#[test]
fn loaded_without_no_new_privs_for_an_unprivileged_user() {
    require_container!();
    // Neither no_new_privs nor CAP_SYS_ADMIN: the kernel only takes the filter before the
    // identity switch.
    let mut b = bundle(
        "sc-nonnp",
        "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; mkdir /dev/shm/x",
        deny(&["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", json!({})),
    );
    b.spec["process"]["noNewPrivileges"] = json!(false);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.write_config();
    let out = run(&b);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stdout.contains("Seccomp:\t2"), "filter mode\n{out}");
    assert!(out.stdout.contains("NoNewPrivs:\t0"), "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
}

#[test]
fn notify_hands_the_listener_to_the_agent() {
    require_container!();
    let agent = SeccompAgent::new();
    let mut profile = deny(&["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY", json!({}));
    profile["listenerPath"] = json!(agent.path());
    profile["listenerMetadata"] = json!("berth-test-metadata");
    // The rootfs is read-only: mkdir only succeeds because the agent says so.
    let b = bundle("sc-notify", "mkdir /berth-notified && echo made", profile);
    let c = Container::new(&b);
    let out = std::thread::scope(|s| {
        let running = s.spawn(|| c.run());
        let (state, fd) = agent.accept(Duration::from_secs(20)).unwrap();
        let seen = seccomp_agent::serve(&fd, Duration::from_secs(20), |_, _| (0, 0));
        (running.join().unwrap(), state, seen)
    });
    let (out, state, seen) = out;
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "berth-test-metadata", "{state}");
    assert_eq!(state["state"]["id"], b.id(), "{state}");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
    assert!(state["ociVersion"].is_string(), "{state}");
    assert!(!seen.is_empty(), "the agent answered a call\n{out}");
    out.success();
    assert!(out.stdout.contains("made"), "{out}");
    assert!(!b.rootfs().join("berth-notified").exists(), "the call never ran");
}

/// `create` fails with one line naming the field, and leaves nothing.
#[track_caller]
fn refused(name: &str, profile: Value, needles: &[&str]) {
    let b = bundle(name, "true", profile);
    let c = Container::new(&b);
    let out = c.create();
    out.failure();
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "one error line\n{out}");
    assert!(needles.iter().any(|n| lines[0].contains(n)), "names one of {needles:?}\n{out}");
    assert!(c.state_entries().is_empty(), "state root is empty: {:?}", c.state_entries());
    c.assert_nothing_left();
}

#[test]
fn unknown_action_is_refused() {
    require_container!();
    refused("sc-badact", json!({"defaultAction": "SCMP_ACT_BOGUS"}), &["SCMP_ACT_BOGUS"]);
    let profile = deny(&["mkdir"], "SCMP_ACT_BOGUS", json!({}));
    refused("sc-badact2", profile, &["SCMP_ACT_BOGUS"]);
}

#[test]
fn unknown_architecture_is_refused() {
    require_container!();
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_BOGUS"]});
    refused("sc-badarch", profile, &["SCMP_ARCH_BOGUS"]);
}

#[test]
fn notify_without_listener_is_refused() {
    require_container!();
    refused(
        "sc-nolistener",
        deny(&["mkdir"], "SCMP_ACT_NOTIFY", json!({})),
        &["listenerPath", "listener"],
    );
}

#[test]
fn notify_with_no_agent_at_the_listener_path_is_refused() {
    require_container!();
    let mut profile = deny(&["mkdir"], "SCMP_ACT_NOTIFY", json!({}));
    let path = "/nonexistent/berth-test-seccomp-agent.sock";
    profile["listenerPath"] = json!(path);
    refused("sc-noagent", profile, &[path]);
}
