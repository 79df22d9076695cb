//! Root tests against the host's real cgroupfs (v1 hybrid on the build host, v2 in the VM).
//!
//! Every test works in its own cgroup nested under the test process's own cgroup
//! (`berth-test-<pid>-<n>/…`, never a hierarchy root) and removes it in `Drop`, also when the
//! test panics. Without root they skip with a printed reason; `BERTH_TEST_STRICT=1` turns the
//! skip into a failure.

#![allow(clippy::unwrap_used)] // test helpers, not only #[test] fns, may unwrap

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_cgroups::{Cgroup, Layout, Mode};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

const M: i64 = 1 << 20;

/// Returns false (after printing why) when the test cannot run here.
fn require_root(test: &str) -> bool {
    if rustix::process::getuid().is_root() {
        return true;
    }
    let reason = format!("{test}: skipped: needs root to create cgroups");
    assert!(
        std::env::var("BERTH_TEST_STRICT").as_deref() != Ok("1"),
        "{reason} (BERTH_TEST_STRICT=1)"
    );
    skip(&reason);
    false
}

/// Prints a skip reason straight to stderr: `eprintln!` output is captured by the test harness
/// and hidden for passing tests.
fn skip(reason: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{reason}");
}

/// A unique relative path below the test process's own cgroup.
fn unique_rel(leaf: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("berth-test-{}-{n}/{leaf}", std::process::id())
}

/// Owns the cgroup and the processes put in it; kills, reaps and destroys on drop.
struct Guard {
    cgroup: Cgroup,
    children: Vec<Child>,
}

impl Guard {
    fn new(rel: &str) -> Guard {
        let layout = Layout::detect().expect("detect layout");
        let cgroup = Cgroup::resolve(&layout, Some(Path::new(rel)), "unused").expect("resolve");
        Guard { cgroup, children: Vec::new() }
    }

    fn spawn_sleep(&mut self) -> i32 {
        let child = Command::new("sleep").arg("300").spawn().expect("spawn sleep");
        let pid = i32::try_from(child.id()).expect("pid fits i32");
        self.children.push(child);
        pid
    }

    fn kill_children(&mut self) {
        for mut child in self.children.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill_children();
        if let Err(err) = self.cgroup.destroy() {
            eprintln!("cleanup of {:?} failed: {err}", self.cgroup.dirs());
        }
    }
}

/// Creates the guard's cgroup. On cgroup v2, a relative path nests under the test process's
/// own cgroup, which cannot delegate controllers while it holds the test process (the "no
/// internal processes" rule; fine in the root cgroup, as in the VM): that is a host
/// precondition, so the test skips (fails under `BERTH_TEST_STRICT=1`).
fn create_or_skip(guard: &mut Guard, test: &str) -> bool {
    match guard.cgroup.create() {
        Ok(()) => true,
        Err(err @ berth_cgroups::Error::InternalProcesses { .. }) => {
            let reason = format!("{test}: skipped: {}", chain(&err));
            assert!(std::env::var("BERTH_TEST_STRICT").as_deref() != Ok("1"), "{reason}");
            skip(&reason);
            false
        }
        Err(err) => panic!("create: {}", chain(&err)),
    }
}

/// The error and its sources, `: `-separated.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn read(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

fn resources(limit: i64, swap: Option<i64>) -> LinuxResources {
    let mut memory = LinuxMemoryBuilder::default().limit(limit).reservation(limit / 2);
    if let Some(swap) = swap {
        memory = memory.swap(swap);
    }
    LinuxResourcesBuilder::default()
        .memory(memory.build().unwrap())
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000)
                .period(100_000u64)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(64).build().unwrap())
        .build()
        .unwrap()
}

/// Whether the host accounts swap (v1 memsw / v2 swap.max present in the new cgroup).
fn has_swap(cgroup: &Cgroup) -> bool {
    let memory = cgroup.path_of("memory").expect("memory dir");
    match cgroup.mode() {
        Mode::V2 => memory.join("memory.swap.max").exists(),
        Mode::V1 | Mode::Hybrid => memory.join("memory.memsw.limit_in_bytes").exists(),
    }
}

fn check_limits(cgroup: &Cgroup, limit: i64, swap: Option<i64>) {
    let memory = cgroup.path_of("memory").unwrap();
    let cpu = cgroup.path_of("cpu").unwrap();
    let pids = cgroup.path_of("pids").unwrap();
    assert_eq!(read(pids, "pids.max"), "64");
    if cgroup.mode() == Mode::V2 {
        assert_eq!(read(memory, "memory.max"), limit.to_string());
        assert_eq!(read(memory, "memory.low"), (limit / 2).to_string());
        if let Some(swap) = swap {
            assert_eq!(read(memory, "memory.swap.max"), (swap - limit).to_string());
        }
        assert_eq!(read(cpu, "cpu.weight"), "20");
        assert_eq!(read(cpu, "cpu.max"), "50000 100000");
    } else {
        assert_eq!(read(memory, "memory.limit_in_bytes"), limit.to_string());
        assert_eq!(read(memory, "memory.soft_limit_in_bytes"), (limit / 2).to_string());
        if let Some(swap) = swap {
            assert_eq!(read(memory, "memory.memsw.limit_in_bytes"), swap.to_string());
        }
        assert_eq!(read(cpu, "cpu.shares"), "512");
        assert_eq!(read(cpu, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(cpu, "cpu.cfs_period_us"), "100000");
    }
}

#[test]
fn lifecycle_limits_process_destroy() {
    if !require_root("lifecycle_limits_process_destroy") {
        return;
    }
    let rel = unique_rel("c1");
    let mut guard = Guard::new(&rel);
    if !create_or_skip(&mut guard, "lifecycle_limits_process_destroy") {
        return;
    }
    let created: Vec<PathBuf> =
        guard.cgroup.dirs().iter().flat_map(|d| d.created.iter().cloned()).collect();
    assert_eq!(created.len(), 2 * guard.cgroup.dirs().len(), "{created:?}");
    assert!(created.iter().all(|d| d.is_dir()));

    // Set, raise, then lower: the v1 memory/memsw write order must work both ways.
    let swap = has_swap(&guard.cgroup);
    for limit in [64 * M, 256 * M, 16 * M] {
        let swap = swap.then_some(limit * 2);
        guard.cgroup.apply(&resources(limit, swap)).unwrap_or_else(|e| panic!("{}", chain(&e)));
        check_limits(&guard.cgroup, limit, swap);
    }

    assert!(guard.cgroup.is_empty().unwrap());
    let pid = guard.spawn_sleep();
    guard.cgroup.add_process(pid).expect("add_process");
    assert_eq!(guard.cgroup.pids().unwrap(), [pid]);
    assert!(!guard.cgroup.is_empty().unwrap());
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let lines = own.lines().filter(|l| l.ends_with(&rel)).count();
    assert_eq!(lines, guard.cgroup.dirs().len(), "{own}");

    // Destroy right after the kill: the EBUSY retry covers the dying process.
    guard.kill_children();
    guard.cgroup.destroy().unwrap_or_else(|e| panic!("{}", chain(&e)));
    for dir in &created {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    assert!(guard.cgroup.is_empty().unwrap(), "a destroyed cgroup reads as empty");
}

#[test]
fn nested_subcgroups_and_destroy_from_saved_state() {
    if !require_root("nested_subcgroups_and_destroy_from_saved_state") {
        return;
    }
    let mut guard = Guard::new(&unique_rel("c2"));
    if !create_or_skip(&mut guard, "nested_subcgroups_and_destroy_from_saved_state") {
        return;
    }
    let saved = serde_json::to_string(&guard.cgroup).unwrap();

    // The container makes its own sub-cgroup (as systemd inside a container would) in the
    // hierarchy that lists pids, and puts a process there.
    let primary = match guard.cgroup.mode() {
        Mode::V2 => guard.cgroup.dirs()[0].path.clone(),
        Mode::V1 | Mode::Hybrid => guard.cgroup.path_of("pids").unwrap().to_owned(),
    };
    let inner = primary.join("inner");
    std::fs::create_dir(&inner).unwrap();
    let pid = guard.spawn_sleep();
    std::fs::write(inner.join("cgroup.procs"), pid.to_string()).unwrap();
    assert_eq!(guard.cgroup.pids().unwrap(), [pid]);

    guard.kill_children();
    let restored: Cgroup = serde_json::from_str(&saved).unwrap();
    restored.destroy().expect("destroy from saved state");
    for dir in restored.dirs() {
        assert!(!dir.path.exists());
        assert!(dir.created.iter().all(|d| !d.exists()));
    }
}

#[test]
fn v2_internal_process_rule_is_reported() {
    if !require_root("v2_internal_process_rule_is_reported") {
        return;
    }
    let layout = Layout::detect().unwrap();
    if !layout.is_v2() {
        skip("v2_internal_process_rule_is_reported: not applicable: the host is cgroup v1 (the VM tier runs it)");
        return;
    }
    // A cgroup holding a process cannot delegate controllers to a child.
    let mut outer = Guard::new(&unique_rel("busy"));
    if !create_or_skip(&mut outer, "v2_internal_process_rule_is_reported") {
        return;
    }
    let pid = outer.spawn_sleep();
    outer.cgroup.add_process(pid).unwrap();
    let busy = outer.cgroup.dirs()[0].path.clone();
    let mount = layout.unified().unwrap().mount_point.clone();
    let below = Path::new("/").join(busy.strip_prefix(&mount).unwrap()).join("c1");
    let mut inner = Guard {
        cgroup: Cgroup::resolve(&layout, Some(&below), "unused").unwrap(),
        children: Vec::new(),
    };
    let err = inner.cgroup.create().unwrap_err();
    assert!(matches!(err, berth_cgroups::Error::InternalProcesses { .. }), "{err}");
    assert_eq!(err.raw_os_error(), Some(16), "EBUSY");
    drop(inner);
    drop(outer);
}

#[test]
fn v1_device_rules_reach_devices_list() {
    if !require_root("v1_device_rules_reach_devices_list") {
        return;
    }
    let mut guard = Guard::new(&unique_rel("dev"));
    if guard.cgroup.mode() == Mode::V2 {
        skip("v1_device_rules_reach_devices_list: not applicable: v2 has no devices controller (its eBPF program is tested in berth-tests resources)");
        return;
    }
    if !create_or_skip(&mut guard, "v1_device_rules_reach_devices_list") {
        return;
    }
    let null = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(LinuxDeviceType::C)
        .major(1)
        .minor(3)
        .access("rwm")
        .build()
        .unwrap();
    let deny_all = LinuxDeviceCgroupBuilder::default().allow(false).build().unwrap();
    let resources = LinuxResourcesBuilder::default().devices(vec![deny_all, null]).build().unwrap();
    guard.cgroup.apply(&resources).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let devices = guard.cgroup.path_of("devices").unwrap();
    assert_eq!(read(devices, "devices.list"), "c 1:3 rwm");
}

/// The state letter of `pid` in `/proc/<pid>/stat`.
fn proc_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap()
}

#[test]
fn freeze_thaw_stats_and_kill() {
    if !require_root("freeze_thaw_stats_and_kill") {
        return;
    }
    let mut guard = Guard::new(&unique_rel("c-freeze"));
    if !create_or_skip(&mut guard, "freeze_thaw_stats_and_kill") {
        return;
    }
    let limits = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(64 * M).build().unwrap())
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .build()
        .unwrap();
    guard.cgroup.apply(&limits).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let pid = guard.spawn_sleep();
    guard.cgroup.add_process(pid).unwrap();

    assert!(!guard.cgroup.is_frozen());
    guard.cgroup.freeze().unwrap_or_else(|e| panic!("freeze: {}", chain(&e)));
    assert!(guard.cgroup.is_frozen());
    // v1 shows a frozen task in D, v2 in S (it sleeps in do_freezer_trap).
    assert!(matches!(proc_state(pid), 'D' | 'S'), "{}", proc_state(pid));
    guard.cgroup.thaw().unwrap_or_else(|e| panic!("thaw: {}", chain(&e)));
    assert!(!guard.cgroup.is_frozen());

    let stats = guard.cgroup.stats().unwrap_or_else(|e| panic!("stats: {}", chain(&e)));
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, 10);
    assert_eq!(stats.memory.usage.limit, u64::try_from(64 * M).unwrap());
    // v1 does not move a process's charges with it (move_charge_at_immigrate is 0), so only
    // v2 is sure to show usage for a process moved in after it started.
    assert!(guard.cgroup.mode() != Mode::V2 || stats.memory.usage.usage > 0, "{stats:?}");
    assert!(stats.memory.raw.contains_key("oom_kill"), "{stats:?}");

    // A limit below the usage is refused with both numbers when asked to check first (v1 may
    // show no usage at all, see above; then there is nothing to be below).
    if stats.memory.usage.usage > 4096 {
        let memory = LinuxMemoryBuilder::default().limit(4096).check_before_update(true);
        let below = LinuxResourcesBuilder::default().memory(memory.build().unwrap()).build();
        let err = guard.cgroup.apply(&below.unwrap()).unwrap_err();
        assert!(matches!(err, berth_cgroups::Error::LimitBelowUsage { limit: 4096, .. }), "{err}");
    }

    // cgroup.kill on v2 (kernel 5.14+); elsewhere the caller signals each pid.
    if guard.cgroup.kill_all().unwrap() {
        let child = &mut guard.children[0];
        let status = child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    } else {
        assert_ne!(guard.cgroup.mode(), Mode::V2, "no cgroup.kill on this v2 kernel?");
    }
}
