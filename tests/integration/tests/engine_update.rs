//! `berth update`: new limits reach a running container's cgroup at once, stay for its next
//! start, and show in `inspect`; a new restart policy reaches its monitor; refused input
//! changes nothing.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use berth_test_support::engine::Engine;
use berth_test_support::{cgroup, prereq, require_container};

const M: u64 = 1 << 20;

fn init_pid(env: &Engine, name: &str) -> u32 {
    let doc = env.inspect(name);
    let pid = doc["State"]["Pid"].as_u64().and_then(|p| u32::try_from(p).ok());
    pid.filter(|p| *p > 0).unwrap_or_else(|| panic!("no pid: {doc}"))
}

/// The container's memory limit, pids limit and CPU quota, read from the host.
fn limits(env: &Engine, name: &str) -> (String, String, String) {
    let pid = init_pid(env, name);
    let v2 = prereq::cgroup_v2().is_ok();
    let read = |controller: &str, file: &str| {
        let controller = if v2 { "" } else { controller };
        cgroup::read_for_pid(pid, controller, file)
            .unwrap_or_else(|| panic!("read {file} of pid {pid} ({controller:?} hierarchy)"))
    };
    let (memory, cpu) = if v2 {
        (read("", "memory.max"), read("", "cpu.max"))
    } else {
        let quota = read("cpu", "cpu.cfs_quota_us");
        (
            read("memory", "memory.limit_in_bytes"),
            format!("{quota} {}", read("cpu", "cpu.cfs_period_us")),
        )
    };
    (memory, read("pids", "pids.max"), cpu)
}

#[test]
fn limits_change_live_stay_for_the_next_start_and_show_in_inspect() {
    require_container!();
    let env = Engine::with_rootfs("update");
    env.run(&["-d", "--name", "u", "--memory", "64m", "--pids-limit", "64"], &["sleep", "1000"])
        .success();
    assert_eq!(limits(&env, "u").0, (64 * M).to_string());
    let out = env.berth([
        "update",
        "--memory",
        "128m",
        "--memory-swap",
        "256m",
        "--pids-limit",
        "100",
        "--cpus",
        "0.5",
        "u",
    ]);
    out.success();
    assert_eq!(out.stdout, "u\n", "each container as given, as Docker prints it");
    let want = ((128 * M).to_string(), "100".to_string(), "50000 100000".to_string());
    assert_eq!(limits(&env, "u"), want, "applied to the running container");
    let host = &env.inspect("u")["HostConfig"];
    assert_eq!((host["Memory"].as_u64(), host["PidsLimit"].as_i64()), (Some(128 * M), Some(100)));
    assert_eq!(host["NanoCpus"].as_u64(), Some(500_000_000), "{host}");
    env.berth(["stop", "-t", "0", "u"]).success();
    env.berth(["start", "u"]).success();
    assert_eq!(limits(&env, "u"), want, "the next start runs with them");
    // Refused: below Docker's floor, a memory above the memory+swap already set, no flag.
    for (args, says) in [
        (vec!["update", "--memory", "1m", "u"], "6MB"),
        (vec!["update", "--memory", "512m", "u"], "--memory-swap"),
        (vec!["update", "u"], "one or more flags"),
        (vec!["update", "--memory", "64m", "nosuch"], "nosuch"),
    ] {
        let out = env.berth(args.iter().copied());
        assert_eq!(out.code(), Some(125), "{out}");
        assert!(out.stderr.contains(says), "names {says:?}: {out}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out}");
    }
    assert_eq!(limits(&env, "u"), want, "a refused update changes nothing");
    assert_eq!(env.inspect("u")["HostConfig"]["Memory"].as_u64(), Some(128 * M));
    // Below what the container uses (40 MiB of tmpfs it cannot give back): the runtime
    // refuses on v1 and v2 alike (v2 would otherwise OOM-kill it), and nothing changes.
    let fill = "dd if=/dev/zero of=/dev/shm/f bs=1M count=40 && touch /filled && sleep 1000";
    env.run(&["-d", "--name", "big", "--memory", "128m"], &["sh", "-c", fill]).success();
    let filled = || env.berth(["exec", "big", "test", "-e", "/filled"]).code() == Some(0);
    let start = std::time::Instant::now();
    while !filled() {
        assert!(start.elapsed().as_secs() < 30, "the container never filled /dev/shm");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = env.berth(["update", "--memory", "16m", "--memory-swap", "16m", "big"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("usage"), "says why: {out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out}");
    assert_eq!(limits(&env, "big").0, (128 * M).to_string());
    assert_eq!(env.inspect("big")["HostConfig"]["Memory"].as_u64(), Some(128 * M));
    assert_eq!(env.inspect("big")["State"]["Running"], true);
    env.finish();
}

#[test]
fn a_new_restart_policy_reaches_the_running_monitor() {
    require_container!();
    let env = Engine::with_rootfs("update");
    env.run(&["-d", "--name", "r"], &["sleep", "1000"]).success();
    env.berth(["update", "--restart", "always", "r"]).success();
    assert_eq!(env.inspect("r")["HostConfig"]["RestartPolicy"]["Name"], "always");
    // Killed from outside (not `berth kill`, which tells the monitor it was asked for).
    let first = init_pid(&env, "r");
    let killed = std::process::Command::new("kill").args(["-KILL", &first.to_string()]).status();
    assert!(killed.unwrap().success());
    env.wait_for("r", 30, |d| {
        let s = &d["State"];
        d["RestartCount"] == 1 && s["Running"] == true && s["Restarting"] == false
    });
    assert_ne!(init_pid(&env, "r"), first, "a new init");
    // `--rm` containers take no policy; the record keeps `always`.
    env.run(&["-d", "--rm", "--name", "gone"], &["sleep", "1000"]).success();
    let out = env.berth(["update", "--restart", "always", "gone"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("--rm"), "{out}");
    env.berth(["rm", "-f", "gone"]).success();
    env.finish();
}
