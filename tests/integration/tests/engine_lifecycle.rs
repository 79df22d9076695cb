//! The `berth` engine's container lifecycle commands, driven as a user would: `create`,
//! `start [-a]`, `restart`, `pause`/`unpause`, `rename`, `top`, `stats`, `port`,
//! `container prune`, `version`, `info`, and `--restart` policies applied by the monitor.
//! Each test has its own records, run state and cgroup parent, and leaves nothing behind.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use berth_test_support::engine::{self, Engine};
use berth_test_support::require_container;
use berth_test_support::runtime::which;

#[test]
fn create_records_without_running_then_start_and_start_again_append_the_log() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    let out = env.make("create", &["--name", "job"], &["sh", "-c", "echo ran; exit 5"]);
    out.success();
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "{out}");
    let ps = env.berth(["ps", "-a"]);
    assert!(ps.stdout.lines().any(|l| l.contains("job") && l.contains("Created")), "{ps}");
    assert_eq!(env.berth(["ps", "-q"]).stdout, "", "created is not running\n{ps}");
    assert_eq!(env.inspect("job")["State"]["Status"], "created");
    assert!(env.leftovers().is_empty(), "create made no runtime state or cgroup");
    let logs = env.berth(["logs", "job"]);
    assert_eq!(logs.stdout, "", "{logs}");
    env.berth(["start", "job"]).success();
    assert_eq!(env.berth(["wait", "job"]).stdout.trim(), "5");
    // Again, attached: the output of this run only, and its status.
    let again = env.berth(["start", "-a", "job"]);
    assert_eq!(again.code(), Some(5), "{again}");
    assert_eq!(again.stdout, "ran\n", "{again}");
    let doc = env.inspect("job");
    assert_eq!(doc["Id"], id.as_str(), "the same container");
    assert_eq!(doc["State"]["ExitCode"], 5);
    assert_eq!(env.berth(["logs", "job"]).stdout, "ran\nran\n", "the log is appended to");
    env.finish();
}

/// `rm -f` of a container that never started has no exit to wait for (it once waited 10 s
/// per container for one, found by the benchmark's 1000-record row).
#[test]
fn rm_f_of_a_created_container_is_immediate() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    env.make("create", &["--name", "never"], &["true"]).success();
    let start = std::time::Instant::now();
    env.berth(["rm", "-f", "never"]).success();
    // Immediate: not the 10 s grace period of a stop. (The bound leaves room for the
    // cgroup-v2 VM tier under software emulation, where it once took 3.7 s under load.)
    assert!(start.elapsed() < Duration::from_secs(8), "took {:?}", start.elapsed());
    assert!(env.berth(["ps", "-aq"]).stdout.is_empty());
    env.finish();
}

#[test]
fn restart_gives_a_new_init_to_the_same_container() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    env.run(&["-d", "--name", "svc"], &["sh", "-c", "echo started; exec sleep 1000"]).success();
    let before = env.inspect("svc");
    let pid = before["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0, "{before}");
    let out = env.berth(["restart", "-t", "1", "svc"]);
    out.success();
    assert_eq!(out.stdout, "svc\n", "{out}");
    let after = env.inspect("svc");
    assert_eq!(after["State"]["Status"], "running", "{after}");
    assert_eq!(after["Id"], before["Id"]);
    let new_pid = after["State"]["Pid"].as_i64().unwrap();
    assert!(new_pid > 0 && new_pid != pid, "{pid} -> {new_pid}");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the old init is gone");
    env.wait_for("svc", 10, |_| env.berth(["logs", "svc"]).stdout == "started\nstarted\n");
    // start of a running container changes nothing (Docker).
    env.berth(["start", "svc"]).success();
    assert_eq!(env.inspect("svc")["State"]["Pid"].as_i64().unwrap(), new_pid);
    env.finish();
}

#[test]
fn pause_freezes_and_ps_says_paused_until_unpause() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    env.run(&["-d", "--name", "frozen"], &["sleep", "1000"]).success();
    env.berth(["pause", "frozen"]).success();
    let ps = env.berth(["ps"]);
    assert!(ps.stdout.lines().any(|l| l.contains("frozen") && l.contains("(Paused)")), "{ps}");
    let doc = env.inspect("frozen");
    assert_eq!(doc["State"]["Paused"], true, "{doc}");
    assert_eq!(doc["State"]["Status"], "paused", "{doc}");
    // The freezer stops the init: it is not scheduled (no context switches) while paused.
    let pid = doc["State"]["Pid"].as_i64().unwrap();
    let switches = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("voluntary_ctxt_switches"))
            .map(String::from)
    };
    assert!(switches().is_some());
    let twice = env.berth(["pause", "frozen"]);
    assert_eq!(twice.code(), Some(125), "already paused\n{twice}");
    let start = env.berth(["start", "frozen"]);
    assert_eq!(start.code(), Some(125), "start of a paused container\n{start}");
    env.berth(["unpause", "frozen"]).success();
    let ps = env.berth(["ps"]);
    assert!(ps.stdout.lines().any(|l| l.contains("frozen") && !l.contains("Paused")), "{ps}");
    assert_eq!(env.berth(["unpause", "frozen"]).code(), Some(125), "not paused any more");
    // A paused container can still be stopped (it is thawed for the signal).
    env.berth(["pause", "frozen"]).success();
    env.berth(["stop", "-t", "1", "frozen"]).success();
    assert_eq!(env.inspect("frozen")["State"]["Status"], "exited");
    env.finish();
}

#[test]
fn rename_changes_the_name_and_refuses_taken_or_bad_ones() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    env.make("create", &["--name", "old"], &["true"]).success();
    env.make("create", &["--name", "other"], &["true"]).success();
    env.berth(["rename", "old", "new"]).success();
    assert_eq!(env.inspect("new")["Name"], "/new");
    assert_eq!(env.berth(["inspect", "old"]).code(), Some(125));
    let taken = env.berth(["rename", "new", "other"]);
    assert_eq!(taken.code(), Some(125), "{taken}");
    assert!(taken.stderr.contains("already in use"), "{taken}");
    let bad = env.berth(["rename", "new", "-bad/name"]);
    assert_eq!(bad.code(), Some(125), "{bad}");
    assert_eq!(env.berth(["rename", "missing", "x"]).code(), Some(125));
    env.finish();
}

#[test]
fn top_lists_the_container_processes_with_ps_options() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    env.run(&["-d", "--name", "t"], &["sh", "-c", "sleep 1000 & exec sleep 999"]).success();
    env.wait_for("t", 10, |_| env.berth(["top", "t"]).stdout.contains("sleep 1000"));
    let top = env.berth(["top", "t"]);
    assert!(top.stdout.starts_with("UID"), "ps -ef header\n{top}");
    assert!(top.stdout.contains("sleep 999"), "{top}");
    assert_eq!(top.stdout.lines().count(), 3, "header and two processes\n{top}");
    let pid = env.inspect("t")["State"]["Pid"].as_i64().unwrap();
    let custom = env.berth(["top", "t", "-o", "pid,comm"]);
    custom.success();
    assert!(custom.stdout.lines().next().unwrap().contains("PID"), "{custom}");
    assert!(
        custom.stdout.lines().any(|l| l.split_whitespace().next() == Some(&pid.to_string())),
        "the init's host pid\n{custom}"
    );
    env.berth(["stop", "-t", "0", "t"]).success();
    assert_eq!(env.berth(["top", "t"]).code(), Some(125), "not running");
    env.finish();
}

#[test]
fn stats_no_stream_reports_cpu_memory_limit_and_pids() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    env.run(&["-d", "--name", "busy", "--memory", "64m"], &["sh", "-c", "while :; do :; done"])
        .success();
    env.run(&["-d", "--name", "idle"], &["sleep", "1000"]).success();
    let out = env.berth(["stats", "--no-stream", "--format", "json", "busy"]);
    out.success();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["Name"], "busy", "{v}");
    assert!(v["MemUsage"].as_str().unwrap().ends_with("/ 64MiB"), "{v}");
    assert_eq!(v["PIDs"], "1", "{v}");
    let cpu: f64 = v["CPUPerc"].as_str().unwrap().trim_end_matches('%').parse().unwrap();
    assert!(cpu > 20.0, "a busy loop uses a CPU: {v}");
    // Without names: every running container, as a table.
    let table = env.berth(["stats", "--no-stream"]);
    table.success();
    assert!(table.stdout.starts_with("CONTAINER ID"), "{table}");
    assert_eq!(table.stdout.lines().count(), 3, "{table}");
    assert!(table.stdout.contains("idle") && table.stdout.contains("busy"), "{table}");
    env.berth(["stop", "-t", "0", "idle"]).success();
    assert_eq!(env.berth(["stats", "--no-stream", "idle"]).code(), Some(125), "not running");
    env.finish();
}

#[test]
fn port_prints_nothing_without_published_ports() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    env.run(&["-d", "--name", "p"], &["sleep", "1000"]).success();
    let out = env.berth(["port", "p"]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "", "{out}");
    assert_ne!(env.berth(["port", "p", "80/tcp"]).code(), Some(0), "no such published port");
    assert_eq!(env.berth(["port", "nothing-here"]).code(), Some(125));
    env.finish();
}

#[test]
fn container_prune_removes_every_stopped_container_only() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    env.run(&["-d", "--name", "up"], &["sleep", "1000"]).success();
    env.run(&["--name", "done"], &["true"]).success();
    env.make("create", &["--name", "never"], &["true"]).success();
    let done = env.inspect("done")["Id"].as_str().unwrap().to_string();
    let out = env.berth(["container", "prune", "-f"]);
    out.success();
    assert!(out.stdout.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.stdout.contains(&done), "{out}");
    assert!(out.stdout.ends_with("Total reclaimed space: 0B\n"), "{out}");
    let names = env.berth(["ps", "-a", "--format", "json"]);
    assert_eq!(names.stdout.lines().count(), 1, "only the running one is left\n{names}");
    assert!(names.stdout.contains("\"up\""), "{names}");
    let again = env.berth(["container", "prune", "-f"]);
    assert_eq!(again.stdout, "Total reclaimed space: 0B\n", "{again}");
    env.finish();
}

#[test]
fn version_and_info_summarise_the_engine() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    let v = env.berth(["version"]);
    v.success();
    assert!(v.stdout.contains(&format!("Version:    {}", env!("CARGO_PKG_VERSION"))), "{v}");
    assert!(v.stdout.contains("Name:       berth-runtime"), "{v}");
    let rt = Command::new(engine::bin("berth-runtime")).arg("--version").output().unwrap();
    let rt_version = String::from_utf8_lossy(&rt.stdout);
    let rt_version = rt_version.lines().next().unwrap().split_whitespace().last().unwrap();
    assert!(v.stdout.ends_with(&format!("Version:    {rt_version}\n")), "{v}");
    env.run(&["-d", "--name", "a"], &["sleep", "1000"]).success();
    env.run(&["-d", "--name", "b"], &["sleep", "1000"]).success();
    env.berth(["pause", "b"]).success();
    env.make("create", &["--name", "c"], &["true"]).success();
    let info = env.berth(["info"]);
    info.success();
    for line in [
        " Containers: 3\n",
        "  Running: 1\n",
        "  Paused: 1\n",
        "  Stopped: 1\n",
        " Storage Driver: overlay\n",
        " Cgroup Driver: cgroupfs\n",
    ] {
        assert!(info.stdout.contains(line), "{line:?}\n{info}");
    }
    let cgv = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1" };
    assert!(info.stdout.contains(&format!(" Cgroup Version: {cgv}\n")), "{info}");
    let root = env.dir().join("data");
    assert!(info.stdout.contains(&format!(" Berth Root Dir: {}\n", root.display())), "{info}");
    env.finish();
}

#[test]
fn on_failure_restarts_up_to_the_limit_and_counts() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    env.run(
        &["-d", "--name", "flaky", "--restart", "on-failure:2"],
        &["sh", "-c", "echo try; exit 3"],
    )
    .success();
    env.wait_for("flaky", 20, |d| d["State"]["Status"] == "exited" && d["RestartCount"] == 2);
    let doc = env.inspect("flaky");
    assert_eq!(doc["State"]["ExitCode"], 3, "{doc}");
    assert_eq!(doc["HostConfig"]["RestartPolicy"]["Name"], "on-failure", "{doc}");
    assert_eq!(doc["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2, "{doc}");
    assert_eq!(
        env.berth(["logs", "flaky"]).stdout,
        "try\ntry\ntry\n",
        "first run and two restarts"
    );
    // A success is not a failure: no restart.
    env.run(&["-d", "--name", "fine", "--restart", "on-failure"], &["true"]).success();
    env.wait_for("fine", 10, |d| d["State"]["Status"] == "exited");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.inspect("fine")["RestartCount"], 0);
    env.finish();
}

#[test]
fn always_restarts_until_stop_and_stop_is_not_undone() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    env.run(&["-d", "--name", "loop", "--restart", "always"], &["sh", "-c", "echo up; sleep 0.2"])
        .success();
    env.wait_for("loop", 20, |d| d["RestartCount"].as_u64().unwrap_or(0) >= 2);
    // The record follows the monitor's restarts: the pid is the live init's.
    env.wait_for("loop", 10, |d| {
        let pid = d["State"]["Pid"].as_i64().unwrap_or(0);
        pid == 0 || Path::new(&format!("/proc/{pid}")).exists()
    });
    env.berth(["stop", "-t", "1", "loop"]).success();
    let count = env.inspect("loop")["RestartCount"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let doc = env.inspect("loop");
    assert_eq!(doc["State"]["Status"], "exited", "stop is not undone by the policy\n{doc}");
    assert_eq!(doc["RestartCount"].as_u64().unwrap(), count, "{doc}");
    // kill counts as stopped by the user too (Docker).
    env.run(&["-d", "--name", "k", "--restart", "unless-stopped"], &["sleep", "1000"]).success();
    env.berth(["kill", "k"]).success();
    env.wait_for("k", 10, |d| d["State"]["Status"] == "exited");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.inspect("k")["State"]["Status"], "exited");
    // start clears the stop: the policy applies again (and the count starts over).
    env.berth(["start", "loop"]).success();
    env.wait_for("loop", 20, |d| d["RestartCount"].as_u64().unwrap_or(0) >= 1);
    env.finish();
}

#[test]
fn invalid_restart_policies_fail_with_125_and_create_nothing() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    for (flags, needle) in [
        (&["--restart", "sometimes"][..], "--restart"),
        (&["--restart", "on-failure:x"][..], "retry count"),
        (&["--restart", "always:3"][..], "only with on-failure"),
        (&["--rm", "--restart", "always"][..], "conflicting options"),
    ] {
        for verb in ["run", "create"] {
            let out = env.make(verb, flags, &["true"]);
            assert_eq!(out.code(), Some(125), "{verb} {flags:?}\n{out}");
            assert!(out.stderr.contains(needle), "{needle}\n{out}");
        }
    }
    assert_eq!(env.berth(["ps", "-aq"]).stdout, "", "no record");
    let containers = env.dir().join("data/containers");
    let dirs = std::fs::read_dir(&containers).map(|d| d.count()).unwrap_or(0);
    assert_eq!(dirs, 0, "no container directory");
    env.finish();
}

#[test]
fn runc_drives_the_same_lifecycle() {
    require_container!(runc);
    let env = Engine::with_rootfs("lifecycle");
    let runc = which("runc").unwrap();
    let runc = runc.to_str().unwrap();
    env.make("create", &["--name", "r", "--runtime", runc], &["sleep", "1000"]).success();
    env.berth(["start", "r"]).success();
    env.berth(["pause", "r"]).success();
    assert_eq!(env.inspect("r")["State"]["Status"], "paused");
    env.berth(["unpause", "r"]).success();
    let top = env.berth(["top", "r"]);
    assert!(top.stdout.contains("sleep 1000"), "{top}");
    let stats = env.berth(["stats", "--no-stream", "--format", "json", "r"]);
    stats.success();
    assert!(stats.stdout.contains("\"PIDs\":\"1\""), "{stats}");
    let pid = env.inspect("r")["State"]["Pid"].as_i64().unwrap();
    env.berth(["restart", "-t", "0", "r"]).success();
    assert_ne!(env.inspect("r")["State"]["Pid"].as_i64().unwrap(), pid);
    env.finish();
}

#[test]
fn an_image_container_starts_again_on_its_overlay() {
    require_container!();
    let registry = &berth_test_support::require_registry!().plain.host;
    let env = Engine::with_rootfs("lifecycle");
    let image = format!("{registry}/busybox:latest");
    let out = env.berth([
        "create",
        "--name",
        "img",
        "--cgroup-parent",
        env.parent(),
        &image,
        "sh",
        "-c",
        "echo x >> /count; wc -l < /count",
    ]);
    out.success();
    // The upper layer is the container's own: the file grows across starts.
    assert_eq!(env.berth(["start", "-a", "img"]).stdout.trim(), "1");
    assert_eq!(env.berth(["start", "-a", "img"]).stdout.trim(), "2");
    env.finish();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&env.dir().display().to_string()), "no overlay left");
}

#[test]
fn detached_auto_remove_goes_when_the_container_exits() {
    require_container!();
    let env = Engine::with_rootfs("lifecycle");
    let out = env.run(&["-d", "--rm", "--name", "brief"], &["sh", "-c", "sleep 0.3"]);
    out.success();
    assert_eq!(env.berth(["ps", "-aq"]).stdout.lines().count(), 1, "there while it runs");
    let start = std::time::Instant::now();
    while !env.berth(["ps", "-aq"]).stdout.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "never removed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
    assert_eq!(std::fs::read_dir(env.path("data/containers")).unwrap().count(), 0);
    env.finish();
}
