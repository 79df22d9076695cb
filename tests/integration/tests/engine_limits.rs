//! Limits and hardening hold from a default `berth run`, measured from the host and probed
//! from inside: a memory hog is OOM-killed and `inspect` says so, a fork bomb stops at
//! `--pids-limit`, a CPU hog gets its `--cpus` share, and a default container cannot mount,
//! read `/proc/kcore`, write `/sys`, call `keyctl` or make a user namespace, while setuid
//! gains nothing under `no-new-privileges`. Each probe has a control (a calm container, a
//! privileged one, one without no-new-privileges) that shows it can tell the difference.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use berth_test_support::engine::Engine;
use berth_test_support::{cgroup, prereq, require_container};

fn exited(doc: &serde_json::Value) -> bool {
    doc["State"]["Status"] == "exited"
}

fn init_pid(env: &Engine, name: &str) -> u32 {
    let doc = env.inspect(name);
    let pid = doc["State"]["Pid"].as_u64().and_then(|p| u32::try_from(p).ok());
    pid.unwrap_or_else(|| panic!("no pid: {doc}"))
}

/// `file` of the container cgroup of `pid`: v2's unified hierarchy, else v1 `controller`.
fn cgroup_file(pid: u32, controller: &str, file: &str) -> String {
    let controller = if prereq::cgroup_v2().is_ok() { "" } else { controller };
    cgroup::read_for_pid(pid, controller, file)
        .unwrap_or_else(|| panic!("read {file} of pid {pid} ({controller:?} hierarchy)"))
}

#[test]
fn memory_hog_is_oom_killed_and_inspect_says_so() {
    require_container!();
    let env = Engine::with_rootfs("limits");
    // `tail` holds the current line in memory, and /dev/zero has no newline.
    env.run(&["-d", "--name", "hog", "--memory", "32m"], &["tail", "/dev/zero"]).success();
    // The init survives a child that was OOM-killed: Docker still reports OOMKilled.
    let child = "tail /dev/zero; exit 3";
    env.run(&["-d", "--name", "child", "--memory", "32m"], &["sh", "-c", child]).success();
    // Control: the same limit, never reached.
    env.run(&["-d", "--name", "calm", "--memory", "32m"], &["sh", "-c", "exit 0"]).success();
    // OOMKilled describes the last run: killed first, then started again and calm.
    let once = "[ -e /oom-once ] && exit 0; touch /oom-once; tail /dev/zero";
    env.run(&["-d", "--name", "once", "--memory", "32m"], &["sh", "-c", once]).success();
    let cases = [("hog", 137, true), ("child", 3, true), ("calm", 0, false), ("once", 137, true)];
    for (name, code, oom) in cases {
        assert_state(&env, name, code, oom);
    }
    env.berth(["start", "once"]).success();
    assert_state(&env, "once", 0, false);
    env.finish();
}

fn assert_state(env: &Engine, name: &str, code: i64, oom_killed: bool) {
    env.wait_for(name, 60, exited);
    let state = &env.inspect(name)["State"];
    let got = (state["ExitCode"].as_i64(), state["OOMKilled"].as_bool());
    assert_eq!(got, (Some(code), Some(oom_killed)), "{name}: {state}");
}

#[test]
fn fork_bomb_stops_at_the_pids_limit() {
    require_container!();
    let env = Engine::with_rootfs("limits");
    // --cpus keeps the bomb's failing forks from starving the other tests on this host.
    let flags = ["-d", "--name", "bomb", "--pids-limit", "64", "--cpus", "0.5"];
    env.run(&flags, &["sh", "-c", "b() { b | b & }; b; exec sleep 1000"]).success();
    let pid = init_pid(&env, "bomb");
    assert_eq!(cgroup_file(pid, "pids", "pids.max"), "64");
    let (start, mut peak) = (Instant::now(), 0u64);
    while start.elapsed() < Duration::from_secs(3) {
        peak = peak.max(cgroup_file(pid, "pids", "pids.current").parse().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!((48..=64).contains(&peak), "the bomb went off and stopped at 64: peak {peak}");
    let events = cgroup_file(pid, "pids", "pids.events");
    let refused: u64 = events.strip_prefix("max ").and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(refused > 0, "forks were refused at the limit: pids.events {events:?}");
    // The host is fine: it still forks.
    assert!(std::process::Command::new("true").status().unwrap().success());
    env.berth(["rm", "-f", "bomb"]).success();
    env.finish();
}

/// CPU time of the cgroup of `pid`, in nanoseconds.
fn cpu_usage_ns(pid: u32) -> u64 {
    if prereq::cgroup_v2().is_ok() {
        let stat = cgroup_file(pid, "", "cpu.stat");
        let usec = stat.lines().find_map(|l| l.strip_prefix("usage_usec ")?.parse::<u64>().ok());
        usec.unwrap_or_else(|| panic!("no usage_usec in {stat}")) * 1000
    } else {
        cgroup_file(pid, "cpuacct", "cpuacct.usage").parse().unwrap()
    }
}

#[test]
fn cpu_hog_gets_half_a_cpu() {
    require_container!();
    let env = Engine::with_rootfs("limits");
    // Two spinning loops want two CPUs; the quota allows half of one. A high weight keeps
    // the other builds on this 2-core host from pushing the hog below its quota, so what is
    // measured is the cap.
    let hog = "for i in 1 2; do (while :; do :; done) & done; wait";
    let flags = ["-d", "--name", "hog", "--cpus", "0.5", "--cpu-shares", "8192"];
    env.run(&flags, &["sh", "-c", hog]).success();
    let pid = init_pid(&env, "hog");
    std::thread::sleep(Duration::from_millis(500));
    let (t0, u0) = (Instant::now(), cpu_usage_ns(pid));
    std::thread::sleep(Duration::from_secs(2));
    let (wall, used) = (t0.elapsed(), cpu_usage_ns(pid) - u0);
    let ratio = used as f64 / wall.as_nanos() as f64;
    eprintln!("cpu hog under --cpus 0.5: {ratio:.3} CPU over {wall:?}");
    assert!((0.45..=0.55).contains(&ratio), "--cpus 0.5 gave {ratio:.3} CPU");
    env.berth(["rm", "-f", "hog"]).success();
    env.finish();
}

/// Each probe prints one `NAME=…` line: `refused` or `allowed`, the kcore bytes read, the
/// error of a write to /sys; and runtimetest's `keyctl_refused` line.
const PROBES: &str = r#"
probe() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name=allowed"; else echo "$name=refused"; fi; }
mkdir -p /mnt/probe
probe mount mount -t tmpfs probe /mnt/probe
probe userns unshare -U true
echo '{}' > /probe.json
RUNTIMETEST_CONFIG=/probe.json /runtimetest/runtimetest check keyctl_refused
echo "kcore=$(dd if=/proc/kcore bs=512 count=1 2>/dev/null | wc -c)"
echo "sys=$( (cat /sys/kernel/mm/ksm/run > /sys/kernel/mm/ksm/run) 2>&1)"
"#;

fn probe(env: &Engine, flags: &[&str]) -> String {
    let mut all = vec!["--rm"];
    all.extend_from_slice(flags);
    let out = env.run(&all, &["sh", "-c", PROBES]);
    // The whole run (stderr, status) goes into every assertion message.
    format!("{}\n{out}", out.stdout)
}

#[test]
fn default_run_cannot_mount_read_kcore_write_sys_keyctl_or_unshare_userns() {
    require_container!();
    let env = Engine::with_rootfs("limits");
    let got = probe(&env, &[]);
    for line in ["mount=refused", "userns=refused", "ok keyctl_refused", "kcore=0"] {
        assert!(got.lines().any(|l| l == line), "{line} in:\n{got}");
    }
    assert!(got.contains("Read-only file system"), "/sys is read-only:\n{got}");
    // Control: with CAP_SYS_ADMIN and no seccomp filter the same probes get through, so
    // they can tell. (Not `--privileged`, and not /sys: a writable /sys would be the host's.)
    let got = probe(&env, &["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"]);
    for line in ["mount=allowed", "userns=allowed", "FAIL keyctl_refused: EPERM got keyring"] {
        assert!(got.lines().any(|l| l.starts_with(line)), "control: {line} in:\n{got}");
    }
    env.finish();
}

#[test]
fn setuid_gains_nothing_under_no_new_privileges() {
    require_container!();
    let env = Engine::with_rootfs("limits");
    // A setuid-root copy of runtimetest, run by uid 1000: its `user` check sees the
    // effective uid it got from the setuid bit.
    let script = r#"
cp /runtimetest/runtimetest /suid-check && chmod 4755 /suid-check || exit 90
echo 'probe:x:1000:1000::/:/bin/sh' >> /etc/passwd
echo '{"process":{"user":{"uid":1000,"gid":1000}}}' > /uid-1000.json
su probe -c 'RUNTIMETEST_CONFIG=/uid-1000.json /suid-check check user'
"#;
    let nnp = env.run(&["--rm", "--security-opt", "no-new-privileges"], &["sh", "-c", script]);
    assert_eq!(nnp.stdout.trim(), "ok user", "{nnp}");
    // Control: without no-new-privileges the setuid bit works (effective uid 0).
    let control = env.run(&["--rm"], &["sh", "-c", script]);
    assert!(control.stdout.starts_with("FAIL user: Uid 1000 got 1000"), "{control}");
    env.finish();
}
