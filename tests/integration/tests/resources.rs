//! `linux.resources` beyond the basics, and the commands that act on a live cgroup: each
//! resource checked in the cgroup files from the host (and by `runtimetest` inside), the
//! device filter (v1 `devices.deny`, v2 eBPF), `pause`/`resume`, `update`, `events --stats`,
//! `ps` and `features`. Runs on cgroup v1/hybrid here and on v2 in the VM.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_test_support::bundle::RUNTIMETEST;
use berth_test_support::{cgroup, prereq, require_container, Bundle, Container, Runtime};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);
const M: i64 = 1 << 20;

fn v2() -> bool {
    prereq::cgroup_v2().is_ok()
}

fn is_berth() -> bool {
    Runtime::from_env().name == "berth-runtime"
}

/// Prints why a berth-only part is skipped for another runtime.
fn berth_only(what: &str) -> bool {
    if !is_berth() {
        eprintln!("SKIP {what}: {} does not implement it", Runtime::from_env().name);
    }
    is_berth()
}

fn started(name: &str, args: &[&str], resources: &Value) -> (Bundle, Container) {
    let mut b = Bundle::new(name);
    for (key, value) in resources.as_object().unwrap() {
        b.spec["linux"]["resources"][key] = value.clone();
    }
    b.args(args);
    b.write_config();
    let c = Container::new(&b);
    c.run_detached().success();
    (b, c)
}

fn read(c: &Container, controller: &str, file: &str) -> Option<String> {
    let controller = if v2() { "" } else { controller };
    cgroup::read_for_pid(c.pid(), controller, file)
}

/// A block device for blockIO rules: the whole disk holding `/`, else the first disk in
/// `/sys/block` (the VM's root is not on a block device), else none.
fn block_device() -> Option<(u64, u64)> {
    let dev = std::fs::metadata("/").unwrap().dev();
    let own = PathBuf::from(format!("/sys/dev/block/{}:{}", libc_major(dev), libc_minor(dev)));
    // A partition (8:1) has no queue of its own for throttling: use its disk (8:0).
    let file = if own.join("partition").exists() {
        own.join("../dev")
    } else if own.join("dev").exists() {
        own.join("dev")
    } else {
        let mut disks: Vec<_> = std::fs::read_dir("/sys/block").ok()?.flatten().collect();
        disks.sort_by_key(std::fs::DirEntry::file_name);
        let disk =
            disks.into_iter().find(|d| !d.file_name().to_string_lossy().starts_with("ram"))?;
        disk.path().join("dev")
    };
    let text = std::fs::read_to_string(file).ok()?;
    let (major, minor) = text.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

#[test]
fn memory_cpu_pids_blkio_in_cgroup_files() {
    require_container!();
    let mut res = json!({
        "memory": {"limit": 64 * M, "reservation": 32 * M},
        "cpu": {"shares": 512, "quota": 20_000, "period": 100_000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 40},
    });
    let disk = block_device();
    if let Some((major, minor)) = disk {
        let rule = json!([{"major": major, "minor": minor, "rate": 1_048_576}]);
        res["blockIO"] = json!({ "throttleReadBpsDevice": rule });
    } else {
        eprintln!("SKIP blockIO part: no block device on this host");
    }
    let (_b, c) = started("res-files", &["sleep", "1000"], &res);
    if v2() {
        assert_eq!(read(&c, "", "memory.max").as_deref(), Some("67108864"));
        assert_eq!(read(&c, "", "memory.low").as_deref(), Some("33554432"));
        assert_eq!(read(&c, "", "cpu.max").as_deref(), Some("20000 100000"));
        assert_eq!(read(&c, "", "cpuset.cpus").as_deref(), Some("0"));
        if let Some((major, minor)) = disk {
            let io_max = read(&c, "", "io.max").unwrap_or_default();
            assert!(io_max.contains(&format!("{major}:{minor} rbps=1048576")), "{io_max}");
        }
    } else {
        assert_eq!(read(&c, "memory", "memory.soft_limit_in_bytes").as_deref(), Some("33554432"));
        assert_eq!(read(&c, "cpu", "cpu.shares").as_deref(), Some("512"));
        assert_eq!(read(&c, "cpu", "cpu.cfs_quota_us").as_deref(), Some("20000"));
        assert_eq!(read(&c, "cpuset", "cpuset.cpus").as_deref(), Some("0"));
        assert_eq!(read(&c, "cpuset", "cpuset.mems").as_deref(), Some("0"));
        if let Some((major, minor)) = disk {
            let bps = read(&c, "blkio", "blkio.throttle.read_bps_device");
            assert_eq!(bps, Some(format!("{major}:{minor} 1048576")));
        }
    }
    assert_eq!(read(&c, "pids", "pids.max").as_deref(), Some("40"));
    c.delete(true).success();
    c.assert_nothing_left();
}

#[test]
fn limits_seen_from_inside() {
    require_container!();
    let mut b = Bundle::new("res-inside");
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 48 * M});
    b.spec["linux"]["resources"]["cpu"] = json!({"quota": 30_000, "period": 100_000});
    b.spec["linux"]["resources"]["pids"] = json!({"limit": 30});
    b.args(&[RUNTIMETEST, "check", "cgroups"]);
    b.write_config();
    let c = Container::new(&b);
    c.run().checks_ok(&["cgroups"]);
    c.assert_nothing_left();
}

#[test]
fn v1_only_memory_knobs_and_cpu_burst_idle() {
    require_container!();
    if v2() || !berth_only("cpu burst/idle (runc 1.1 lacks them)") {
        return eprintln!("SKIP v1 knobs: swappiness/disableOOMKiller are v1 files");
    }
    let res = json!({
        "memory": {"limit": 64 * M, "swappiness": 10, "disableOOMKiller": true},
        "cpu": {"burst": 10_000, "idle": 0}
    });
    let (_b, c) = started("res-v1", &["sleep", "1000"], &res);
    assert_eq!(read(&c, "memory", "memory.swappiness").as_deref(), Some("10"));
    let oom = read(&c, "memory", "memory.oom_control").unwrap_or_default();
    assert!(oom.contains("oom_kill_disable 1"), "{oom}");
    assert_eq!(read(&c, "cpu", "cpu.cfs_burst_us").as_deref(), Some("10000"));
    c.delete(true).success();
}

#[test]
fn unified_is_v2_only_and_network_needs_its_controller() {
    require_container!();
    if !berth_only("berth's errors for unified on v1 and network without net_cls") {
        return;
    }
    let mut b = Bundle::new("res-unified");
    b.spec["linux"]["resources"]["unified"] = json!({"pids.max": "7"});
    b.args(&["sleep", "1000"]);
    b.write_config();
    let c = Container::new(&b);
    if v2() {
        c.run_detached().success();
        assert_eq!(read(&c, "", "pids.max").as_deref(), Some("7"));
        c.delete(true).success();
    } else {
        let out = c.create();
        out.failure();
        assert!(out.stderr.contains("unified"), "{out}");
        c.assert_nothing_left();
    }
    let net_cls = std::path::Path::new("/sys/fs/cgroup/net_cls").exists();
    if v2() || !net_cls {
        let mut b = Bundle::new("res-net");
        b.spec["linux"]["resources"]["network"] = json!({"classID": 1_048_577});
        b.args(&["true"]);
        b.write_config();
        let c = Container::new(&b);
        let out = c.create();
        out.failure();
        assert!(out.stderr.contains("net_cls"), "{out}");
        c.assert_nothing_left();
    }
}

/// Runs a shell in a container whose rootfs has `/dev240` (c 240:0: a number reserved for local
/// use, with no driver and in nobody's default device rules; opening it needs no capability)
/// and returns what the open said.
fn open_dev240(name: &str, allow_all: bool) -> String {
    let mut b = Bundle::new(name);
    let node = b.rootfs().join("dev240");
    let made = std::process::Command::new("mknod").arg(&node).args(["c", "240", "0"]).status();
    assert!(made.is_ok_and(|s| s.success()), "mknod {}", node.display());
    if allow_all {
        b.spec["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
    }
    let script = "echo x > /dev/null && echo null-ok; (exec 3</dev240) 2>&1; echo done";
    b.args(&["sh", "-c", script]);
    b.write_config();
    let c = Container::new(&b);
    let out = c.run();
    out.success();
    c.assert_nothing_left();
    assert!(out.stdout.contains("null-ok"), "/dev/null stays usable\n{out}");
    out.stdout
}

#[test]
fn device_filter_denies_unlisted_devices() {
    require_container!();
    // The default rules (deny all, then the standard devices) refuse the open with EPERM
    // before the driver is even looked up (v1 devices.deny, v2 the eBPF program)...
    let denied = open_dev240("res-devices", false);
    assert!(denied.contains("Operation not permitted"), "{denied}");
    // ...and with an allow-all rule the same open gets past the filter (it may still fail
    // for other reasons, e.g. ENXIO as no driver has this number, or EACCES on a nodev mount).
    let allowed = open_dev240("res-devices-all", true);
    assert!(!allowed.contains("Operation not permitted"), "{allowed}");
}

#[test]
fn a_config_device_is_opened_only_as_its_rules_allow() {
    require_container!();
    // `/dev/local` (c 240:0, no driver) is made by the runtime from `linux.devices`; what
    // may open it is `resources.devices` alone, as in runc: nothing, then reading only.
    let mut seen = Vec::new();
    for rule in [None, Some("r")] {
        let mut b = Bundle::new("res-config-device");
        b.spec["linux"]["devices"] = json!([{"path": "/dev/local", "type": "c", "major": 240, "minor": 0, "fileMode": 0o666}]);
        if let Some(access) = rule {
            b.spec["linux"]["resources"]["devices"].as_array_mut().unwrap().push(json!(
                {"allow": true, "type": "c", "major": 240, "minor": 0, "access": access}
            ));
        }
        let script = "test -c /dev/local && echo node; (exec 3</dev/local) 2>&1; \
                      (exec 3>/dev/local) 2>&1; echo done";
        b.args(&["sh", "-c", script]);
        b.write_config();
        let c = Container::new(&b);
        let out = c.run();
        out.success();
        c.assert_nothing_left();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!((lines[0], lines.last().copied()), ("node", Some("done")), "{out}");
        seen.push((lines[1].contains("not permitted"), lines[2].contains("not permitted")));
    }
    // (read refused, write refused): both without a rule; only the write with "r" (the read
    // gets past the filter to the missing driver).
    assert_eq!(seen, [(true, true), (false, true)], "");
}

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn pause_stops_the_process_and_resume_restarts_it() {
    require_container!();
    let (_b, c) = started("res-pause", &["sh", "-c", "while :; do :; done"], &json!({}));
    let pid = c.pid();
    c.cmd(["pause", c.id()]).output().success();
    assert_eq!(c.status(), "paused");
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_ticks(pid), before, "a paused process does not run");
    c.cmd(["pause", c.id()]).output().failure();
    c.cmd(["resume", c.id()]).output().success();
    assert_eq!(c.status(), "running");
    let deadline = Instant::now() + WAIT;
    while cpu_ticks(pid) == before {
        assert!(Instant::now() < deadline, "the resumed process does not run");
        std::thread::sleep(Duration::from_millis(20));
    }
    c.cmd(["resume", c.id()]).output().failure();
    // delete --force of a paused container thaws it so the kill lands.
    c.cmd(["pause", c.id()]).output().success();
    c.delete(true).success();
    c.assert_nothing_left();
}

#[test]
fn update_changes_limits_live_and_refuses_below_usage() {
    require_container!();
    let res = json!({"memory": {"limit": 64 * M}, "pids": {"limit": 50}});
    let (_b, c) = started("res-update", &["sleep", "1000"], &res);
    let limit_file = if v2() { "memory.max" } else { "memory.limit_in_bytes" };
    c.cmd(["update", "--memory", "33554432", "--pids-limit", "20", c.id()]).output().success();
    assert_eq!(read(&c, "memory", limit_file).as_deref(), Some("33554432"));
    assert_eq!(read(&c, "pids", "pids.max").as_deref(), Some("20"));
    let doc = json!({"pids": {"limit": 25}}).to_string();
    let file = c.bundle().join("resources.json");
    std::fs::write(&file, doc).unwrap();
    c.cmd(["update", "--resources", file.to_str().unwrap(), c.id()]).output().success();
    assert_eq!(read(&c, "pids", "pids.max").as_deref(), Some("25"));
    if v2() && !berth_only("refusing a memory.max below usage on v2 (runc lets the kernel OOM)") {
        return drop(c.delete(true));
    }
    let out = c.cmd(["update", "--memory", "4096", c.id()]).output();
    out.failure();
    assert!(out.stderr.contains("4096") && out.stderr.contains("usage"), "{out}");
    assert_eq!(read(&c, "memory", limit_file).as_deref(), Some("33554432"));
    c.delete(true).success();
    let gone = c.cmd(["update", "--memory", "1m", c.id()]).output();
    gone.failure();
}

#[test]
fn events_stats_ps_and_features() {
    require_container!();
    let res = json!({"memory": {"limit": 64 * M}, "pids": {"limit": 50}});
    let (_b, c) = started("res-events", &["sleep", "1000"], &res);
    let out = c.cmd(["events", "--stats", c.id()]).output();
    out.success();
    let event: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], c.id());
    let data = &event["data"];
    assert!(data["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0, "{data}");
    assert_eq!(data["memory"]["usage"]["limit"], 64 * M);
    assert_eq!(data["pids"]["current"], 1);
    assert_eq!(data["pids"]["limit"], 50);
    assert!(data["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0, "{data}");

    let json_ps = c.cmd(["ps", "--format", "json", c.id()]).output();
    json_ps.success();
    let pids: Vec<u32> = serde_json::from_str(json_ps.stdout.trim()).unwrap();
    assert_eq!(pids, vec![c.pid()]);
    let table = c.cmd(["ps", c.id()]).output();
    table.success();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].contains("PID"), "{table}");
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[1].contains(&c.pid().to_string()) && lines[1].contains("sleep"), "{table}");
    c.delete(true).success();

    let features = c.cmd(["features"]).output();
    features.success();
    let doc: Value = serde_json::from_str(&features.stdout).unwrap();
    assert!(doc["ociVersionMin"].as_str().is_some_and(|v| v.starts_with("1.")), "{doc}");
    assert!(doc["ociVersionMax"].as_str().is_some_and(|v| v.starts_with("1.")), "{doc}");
    assert!(doc["linux"]["namespaces"].as_array().is_some_and(|n| !n.is_empty()), "{doc}");
}

#[test]
fn hugepage_limits() {
    require_container!();
    if !std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        return eprintln!("SKIP hugepage_limits: no 2MB huge pages on this kernel");
    }
    if !v2() && !berth_only("hugetlb bound to the unified hierarchy of a hybrid host") {
        return;
    }
    let res = json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * M}]});
    let (_b, c) = started("res-hugetlb", &["sleep", "1000"], &res);
    // v1 hierarchy if there is one, else (v2, or hybrid with hugetlb in cgroup2) unified.
    let got = cgroup::read_for_pid(c.pid(), "hugetlb", "hugetlb.2MB.limit_in_bytes")
        .or_else(|| cgroup::read_for_pid(c.pid(), "", "hugetlb.2MB.max"));
    assert_eq!(got.as_deref(), Some("4194304"));
    c.delete(true).success();
    c.assert_nothing_left();
}
