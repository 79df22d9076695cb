//! The process's scheduling knobs (`linux.personality`, `process.ioPriority`,
//! `process.scheduler`, `linux.memoryPolicy`) seen from inside, and the security-module
//! settings this host cannot honour (AppArmor, SELinux, Intel RDT), which must be refused.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use berth_test_support::{require_container, Bundle, Container};
use serde_json::{json, Value};

/// Runs `script` in a container configured by `edit` and returns its stdout.
fn run_script(name: &str, script: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut b = Bundle::new(name);
    edit(&mut b.spec);
    b.args(&["sh", "-c", script]);
    b.write_config();
    let c = Container::new(&b);
    let out = c.run();
    out.success();
    c.assert_nothing_left();
    out.stdout.clone()
}

/// `create` must fail with one line naming `needle`, leaving nothing.
fn refused(name: &str, edit: impl FnOnce(&mut Value), needle: &str) {
    let mut b = Bundle::new(name);
    edit(&mut b.spec);
    b.write_config();
    let c = Container::new(&b);
    let out = c.create();
    out.failure();
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "one error line\n{out}");
    assert!(lines[0].contains(needle), "names {needle}\n{out}");
    c.assert_nothing_left();
}

#[test]
fn personality_linux32() {
    require_container!();
    let out = run_script("persona", "uname -m", |s| {
        s["linux"]["personality"] = json!({"domain": "LINUX32"});
    });
    assert_eq!(out.trim(), "i686", "uname -m under PER_LINUX32");
}

#[test]
fn io_priority_best_effort_level() {
    require_container!();
    let out = run_script("ioprio", "ionice -p $$", |s| {
        s["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    });
    assert!(out.contains("best-effort") && out.contains('6'), "ionice: {out:?}");
}

#[test]
fn scheduler_batch_with_nice() {
    require_container!();
    // Field 19 of /proc/self/stat is the nice value, field 41 the policy (3 = SCHED_BATCH).
    let out = run_script("sched", "cut -d' ' -f19,41 /proc/self/stat", |s| {
        s["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    });
    assert_eq!(out.trim(), "5 3", "nice and policy: {out:?}");
}

#[test]
fn memory_policy_bind_to_node_0() {
    require_container!();
    if !std::path::Path::new("/proc/self/numa_maps").exists() {
        let why = "skip: no /proc/self/numa_maps (kernel without NUMA): the policy cannot be seen";
        assert!(!berth_test_support::prereq::strict(), "{why} (BERTH_TEST_STRICT=1)");
        eprintln!("{why}");
        return;
    }
    // The policy of the process's mappings shows in numa_maps as "bind:0".
    let out = run_script("mempol", "cat /proc/self/numa_maps", |s| {
        s["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"});
    });
    assert!(out.contains("bind:0"), "numa_maps: {out:?}");
}

#[test]
fn apparmor_profile_is_refused_without_apparmor() {
    require_container!();
    if std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
    {
        eprintln!("skip: AppArmor is enabled on this host, the refusal does not apply");
        return;
    }
    refused(
        "apparmor",
        |s| s["process"]["apparmorProfile"] = json!("docker-default"),
        "apparmorProfile",
    );
}

#[test]
fn selinux_label_is_refused() {
    require_container!();
    refused(
        "selinux",
        |s| s["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0"),
        "selinuxLabel",
    );
}

#[test]
fn intel_rdt_is_refused() {
    require_container!();
    refused(
        "rdt",
        |s| s["linux"]["intelRdt"] = json!({"closID": "x", "l3CacheSchema": "L3:0=f"}),
        "intelRdt",
    );
}

#[test]
fn net_devices_are_moved_and_renamed() {
    require_container!();
    // The runtime runs in a network namespace of the test's own (unshare -n) holding a veth
    // interface, so nothing of the host's network is touched.
    let mut b = Bundle::new("netdev");
    b.spec["linux"]["netDevices"] = json!({"bd0": {"name": "moved0"}});
    b.args(&["sh", "-c", "ls /sys/class/net"]);
    b.write_config();
    let c = Container::new(&b);
    let rt = c.runtime().path.display().to_string();
    let script = format!(
        "ip link add bd0 type veth peer name bd1 && exec {rt} --root {} run --bundle {} {}",
        c.state_root().display(),
        b.path().display(),
        c.id()
    );
    let out = berth_test_support::TestCommand::new(std::process::Command::new("unshare"))
        .args(["--net", "sh", "-c", script.as_str()])
        .output();
    out.success();
    let names: Vec<&str> = out.stdout.split_whitespace().collect();
    assert!(names.contains(&"moved0"), "renamed device inside: {out}");
    assert!(!names.contains(&"bd0"), "{out}");
    c.assert_nothing_left();
}

#[test]
fn net_devices_without_a_new_network_namespace_are_refused() {
    require_container!();
    refused(
        "netdev-nons",
        |s| {
            s["linux"]["netDevices"] = json!({"lo": {}});
            let ns = s["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "network");
        },
        "netDevices",
    );
}
