//! Each area of config.md / config-linux.md, checked from inside the container by
//! `runtimetest` and, where the host can see it (namespaces, cgroups), from outside too.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_test_support::bundle::RUNTIMETEST;
use berth_test_support::{cgroup, prereq, process, require_container, Bundle, Container};
use serde_json::json;

/// Runs runtimetest with `check <names...>` in the foreground and expects `ok` for each.
fn check(b: &mut Bundle, names: &[&str]) {
    let mut args = vec![RUNTIMETEST, "check"];
    args.extend_from_slice(names);
    b.args(&args);
    b.write_config();
    let c = Container::new(b);
    c.run().checks_ok(names);
    c.assert_nothing_left();
}

fn push_mount(b: &mut Bundle, m: serde_json::Value) {
    b.spec["mounts"].as_array_mut().unwrap().push(m);
}

#[test]
fn default_config_passes_every_check() {
    require_container!();
    let mut b = Bundle::new("defaults");
    b.args(&[RUNTIMETEST, "all"]);
    b.write_config();
    let c = Container::new(&b);
    let names = ["hostname", "mounts", "root_readonly", "masked_paths", "readonly_paths"];
    let more = ["devices", "dev_symlinks", "capabilities", "rlimits", "user", "cwd", "env"];
    let out = c.run();
    out.checks_ok(&names).checks_ok(&more).checks_ok(&["no_new_privileges", "namespaces"]);
}

#[test]
fn runtimetest_reports_a_mismatch() {
    require_container!();
    // Guards the checker itself: the copy runtimetest reads disagrees with what was applied.
    let mut b = Bundle::new("mismatch");
    b.args(&[RUNTIMETEST, "check", "hostname"]);
    b.write_config();
    let mut lie = b.spec.clone();
    lie["hostname"] = json!("not-the-hostname");
    let copy = b.rootfs().join("runtimetest/config.json");
    std::fs::write(copy, lie.to_string()).unwrap();
    let out = Container::new(&b).run();
    out.failure().check_failed("hostname");
}

#[test]
fn hostname() {
    require_container!();
    let mut b = Bundle::new("hostname");
    b.spec["hostname"] = json!("berth-conformance");
    check(&mut b, &["hostname"]);
}

#[test]
fn domainname() {
    require_container!();
    // config.md "Domainname" (runtime-spec 1.0.2+); runc 1.1 ignores the field.
    let mut b = Bundle::new("domainname");
    b.spec["domainname"] = json!("example.test");
    check(&mut b, &["domainname"]);
}

#[test]
fn tmpfs_mount_with_options() {
    require_container!();
    let mut b = Bundle::new("tmpfs");
    push_mount(
        &mut b,
        json!({"destination": "/mnt/scratch", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "noexec", "mode=1770", "size=1m"]}),
    );
    check(&mut b, &["mounts"]);
}

#[test]
fn bind_mount_readonly() {
    require_container!();
    let mut b = Bundle::new("bind-ro");
    let src = b.path().join("shared");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("hello"), "from the host\n").unwrap();
    push_mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": src,
               "options": ["rbind", "ro", "nosuid", "nodev"]}),
    );
    check(&mut b, &["mounts"]);
    // The content is the host's and a write fails.
    b.args(&["sh", "-c", "cat /data/hello; touch /data/new 2>/dev/null && echo WRITABLE"]);
    b.write_config();
    let out = Container::new(&b).run();
    assert_eq!(out.stdout.trim(), "from the host", "{out}");
    assert!(!src.join("new").exists());
}

#[test]
fn root_readonly_true() {
    require_container!();
    let mut b = Bundle::new("root-ro");
    b.spec["root"]["readonly"] = json!(true);
    check(&mut b, &["root_readonly"]);
}

#[test]
fn root_readonly_false() {
    require_container!();
    let mut b = Bundle::new("root-rw");
    b.spec["root"]["readonly"] = json!(false);
    check(&mut b, &["root_readonly"]);
}

#[test]
fn masked_and_readonly_paths() {
    require_container!();
    let mut b = Bundle::new("masked");
    std::fs::write(b.rootfs().join("secret.txt"), "secret\n").unwrap();
    std::fs::create_dir_all(b.rootfs().join("secrets/inner")).unwrap();
    std::fs::create_dir_all(b.rootfs().join("frozen")).unwrap();
    b.spec["linux"]["maskedPaths"].as_array_mut().unwrap().extend([
        json!("/secret.txt"),
        json!("/secrets"),
        json!("/does-not-exist"),
    ]);
    b.spec["linux"]["readonlyPaths"].as_array_mut().unwrap().push(json!("/frozen"));
    b.spec["root"]["readonly"] = json!(false);
    check(&mut b, &["masked_paths", "readonly_paths"]);
}

#[test]
fn capabilities_all_five_sets() {
    require_container!();
    let mut b = Bundle::new("caps");
    let set = json!(["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_KILL"]);
    b.spec["process"]["capabilities"] = json!({
        "bounding": set, "effective": set, "permitted": set, "inheritable": set, "ambient": set
    });
    check(&mut b, &["capabilities"]);
}

#[test]
fn capabilities_bounding_only() {
    require_container!();
    let mut b = Bundle::new("caps-bnd");
    b.spec["process"]["capabilities"] = json!({
        "bounding": ["CAP_NET_BIND_SERVICE", "CAP_SETUID"],
        "effective": ["CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_NET_BIND_SERVICE"]
    });
    check(&mut b, &["capabilities"]);
}

#[test]
fn rlimits() {
    require_container!();
    let mut b = Bundle::new("rlimits");
    b.spec["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 768},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000},
        {"type": "RLIMIT_MSGQUEUE", "soft": 8192, "hard": 16384}
    ]);
    check(&mut b, &["rlimits"]);
}

#[test]
fn user_uid_gid_additional_gids() {
    require_container!();
    let mut b = Bundle::new("user");
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 1002]});
    check(&mut b, &["user", "capabilities"]);
}

#[test]
fn umask() {
    require_container!();
    let mut b = Bundle::new("umask");
    b.spec["process"]["user"]["umask"] = json!(0o027);
    check(&mut b, &["umask"]);
}

#[test]
fn env_and_cwd() {
    require_container!();
    let mut b = Bundle::new("env");
    b.spec["process"]["env"] =
        json!(["PATH=/bin", "BERTH_TEST=with spaces = and equals", "EMPTY="]);
    b.spec["process"]["cwd"] = json!("/tmp");
    check(&mut b, &["env", "cwd"]);
}

#[test]
fn no_new_privileges() {
    require_container!();
    let mut b = Bundle::new("nnp");
    b.spec["process"]["noNewPrivileges"] = json!(true);
    check(&mut b, &["no_new_privileges"]);
}

#[test]
fn oom_score_adj() {
    require_container!();
    let mut b = Bundle::new("oom");
    b.spec["process"]["oomScoreAdj"] = json!(321);
    check(&mut b, &["oom_score_adj"]);
}

fn host_read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default().trim().to_string()
}

#[test]
fn sysctl_net_in_new_netns() {
    require_container!();
    let host = host_read("/proc/sys/net/ipv4/ip_forward");
    let value = if host == "1" { "0" } else { "1" };
    let mut b = Bundle::new("sysctl-net");
    b.spec["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": value});
    check(&mut b, &["sysctl"]);
    assert_eq!(host_read("/proc/sys/net/ipv4/ip_forward"), host, "host value untouched");
}

#[test]
fn sysctl_kernel_shmmax_in_ipc_ns() {
    require_container!();
    let host = host_read("/proc/sys/kernel/shmmax");
    let mut b = Bundle::new("sysctl-ipc");
    b.spec["linux"]["sysctl"] = json!({"kernel.shmmax": "12345678", "kernel.msgmax": "4096"});
    check(&mut b, &["sysctl"]);
    assert_eq!(host_read("/proc/sys/kernel/shmmax"), host, "host value untouched");
}

#[test]
fn default_and_custom_devices() {
    require_container!(fuse);
    let mut b = Bundle::new("devices");
    b.spec["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666,
         "uid": 0, "gid": 0},
        {"path": "/dev/berth-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
         "uid": 1, "gid": 2}
    ]);
    b.spec["linux"]["resources"]["devices"].as_array_mut().unwrap().push(json!(
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
    ));
    check(&mut b, &["devices", "dev_symlinks"]);
}

#[test]
fn pid_namespace_makes_process_pid_1() {
    require_container!();
    let mut b = Bundle::new("pidns");
    check(&mut b, &["namespaces"]);
}

#[test]
fn user_namespace_with_mappings() {
    require_container!(userns);
    let mut b = Bundle::new("userns");
    b.namespace("user", None);
    b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    check(&mut b, &["namespaces", "user", "capabilities"]);
}

fn ns_link(pid: u32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn new_and_shared_namespaces_seen_from_host() {
    require_container!();
    let mut b = Bundle::new("ns-host");
    b.without_namespace("network");
    b.args(&["sleep", "1000"]);
    b.write_config();
    let c = Container::new(&b);
    c.run_detached().success();
    let (pid, me) = (c.pid(), std::process::id());
    for kind in ["pid", "ipc", "uts", "mnt"] {
        assert_ne!(ns_link(pid, kind), ns_link(me, kind), "{kind} namespace is new");
    }
    assert_eq!(ns_link(pid, "net"), ns_link(me, "net"), "net namespace is shared");
}

/// A process holding a fresh network namespace, killed on drop.
struct NetnsHolder(Child);

impl NetnsHolder {
    fn start() -> NetnsHolder {
        let child = Command::new("unshare")
            .args(["--net", "sleep", "1000"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let holder = NetnsHolder(child);
        let me = ns_link(std::process::id(), "net");
        for _ in 0..500 {
            if ns_link(holder.pid(), "net") != me {
                return holder;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("unshare --net never entered a new netns");
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for NetnsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn join_netns_by_path() {
    require_container!(unshare);
    let holder = NetnsHolder::start();
    let mut b = Bundle::new("join-netns");
    b.namespace("network", Some(&format!("/proc/{}/ns/net", holder.pid())));
    b.args(&["sleep", "1000"]);
    b.write_config();
    let c = Container::new(&b);
    c.run_detached().success();
    assert_eq!(ns_link(c.pid(), "net"), ns_link(holder.pid(), "net"));
}

#[test]
fn join_netns_of_another_container() {
    require_container!();
    let mut a = Bundle::new("netns-a");
    a.args(&["sleep", "1000"]);
    a.write_config();
    let ca = Container::new(&a);
    ca.run_detached().success();
    let mut b = Bundle::new("netns-b");
    b.namespace("network", Some(&format!("/proc/{}/ns/net", ca.pid())));
    b.args(&["sleep", "1000"]);
    b.write_config();
    let cb = Container::new(&b);
    cb.run_detached().success();
    assert_eq!(ns_link(cb.pid(), "net"), ns_link(ca.pid(), "net"), "B joined A's netns");
    assert_ne!(ns_link(cb.pid(), "uts"), ns_link(ca.pid(), "uts"), "B's uts ns is its own");
    // The namespace outlives A's deletion only as long as B holds it; B still runs.
    drop(ca);
    assert!(process::alive(cb.pid()));
}

fn limits() -> serde_json::Value {
    json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 67108864},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "pids": {"limit": 50}
    })
}

#[test]
fn cgroup_limits_from_host_side() {
    require_container!();
    let mut b = Bundle::new("cgroup-host");
    b.spec["linux"]["resources"] = limits();
    b.args(&["sleep", "1000"]);
    b.write_config();
    let c = Container::new(&b);
    c.create().success();
    let pid = c.pid();
    // The container sits at the requested relative cgroupsPath (wherever the runtime roots it).
    let dir = cgroup::dir_of_pid(pid, if prereq::cgroup_v2().is_ok() { "" } else { "pids" });
    let want_suffix = cgroup::cgroups_path(c.id());
    assert!(dir.as_deref().is_some_and(|d| d.ends_with(&want_suffix)), "{dir:?}");
    let read = |ctrl: &str, file: &str| cgroup::read_for_pid(pid, ctrl, file);
    if prereq::cgroup_v2().is_ok() {
        assert_eq!(read("", "memory.max").as_deref(), Some("67108864"));
        assert_eq!(read("", "cpu.max").as_deref(), Some("50000 100000"));
        assert_eq!(read("", "pids.max").as_deref(), Some("50"));
    } else {
        assert_eq!(read("memory", "memory.limit_in_bytes").as_deref(), Some("67108864"));
        assert_eq!(read("cpu", "cpu.shares").as_deref(), Some("512"));
        assert_eq!(read("cpu", "cpu.cfs_quota_us").as_deref(), Some("50000"));
        assert_eq!(read("cpu", "cpu.cfs_period_us").as_deref(), Some("100000"));
        assert_eq!(read("pids", "pids.max").as_deref(), Some("50"));
    }
    c.delete(true).success();
    c.assert_nothing_left();
}

#[test]
fn cgroup_limits_from_inside() {
    require_container!();
    let mut b = Bundle::new("cgroup-inside");
    b.spec["linux"]["resources"] = limits();
    check(&mut b, &["cgroups"]);
}

#[test]
fn pids_limit_is_enforced() {
    require_container!();
    let mut b = Bundle::new("pids-enforced");
    b.spec["linux"]["resources"]["pids"] = json!({"limit": 5});
    // Ten background sleeps cannot all fork under pids.max = 5.
    let script = "n=0; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 2>/dev/null & \
                  [ $? -eq 0 ] && n=$((n+1)); done; echo started=$n; kill $(jobs -p) 2>/dev/null";
    b.args(&["sh", "-c", script]);
    b.write_config();
    let out = Container::new(&b).run();
    let started: u32 = out.stdout.trim().trim_start_matches("started=").parse().unwrap_or(99);
    // busybox sh either counts the failed forks or gives up with "can't fork".
    let refused = started < 10 || out.stderr.contains("can't fork");
    assert!(refused, "fork fails at the pids limit\n{out}");
}

#[test]
fn cwd_is_inside_rootfs_and_exists() {
    require_container!();
    let mut b = Bundle::new("cwd-create");
    b.spec["process"]["cwd"] = json!("/runtimetest");
    check(&mut b, &["cwd"]);
    assert!(Path::new(&b.rootfs()).join("runtimetest").is_dir());
}

/// The kernel has time namespaces (Linux 5.6+).
fn timens_supported() -> Result<(), String> {
    if Path::new("/proc/self/ns/time").exists() {
        Ok(())
    } else {
        Err("needs time namespaces (/proc/self/ns/time)".into())
    }
}

/// First field of `/proc/uptime`, in seconds.
fn uptime(text: &str) -> f64 {
    text.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
}

#[test]
fn time_namespace_with_offsets() {
    require_container!();
    if let Err(why) = timens_supported() {
        assert!(!prereq::strict(), "{why}");
        eprintln!("SKIP time_namespace_with_offsets: {why}");
        return;
    }
    // config-linux.md "Namespaces" (time) and "Offset for Time Namespace": the offsets are
    // written to timens_offsets before the process runs. /proc/uptime follows CLOCK_BOOTTIME,
    // so the boottime offset is what it shows; both offsets are read back directly too.
    let mut b = Bundle::new("timens");
    b.namespace("time", None);
    b.spec["linux"]["timeOffsets"] = json!({
        "monotonic": {"secs": 86400, "nanosecs": 0},
        "boottime": {"secs": 172800, "nanosecs": 0}
    });
    b.args(&["sh", "-c", "cat /proc/uptime; cat /proc/self/timens_offsets"]);
    b.write_config();
    let before = uptime(&host_read("/proc/uptime"));
    let out = Container::new(&b).run();
    let after = uptime(&host_read("/proc/uptime"));
    out.success();
    let mut lines = out.stdout.lines();
    let inside = uptime(lines.next().unwrap_or(""));
    let shift = inside - 172_800.0;
    assert!(shift >= before - 1.0 && shift <= after + 1.0, "uptime shifted by 2 days\n{out}");
    let offsets: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert!(offsets.contains(&vec!["monotonic", "86400", "0"]), "{out}");
    assert!(offsets.contains(&vec!["boottime", "172800", "0"]), "{out}");
}

#[test]
fn join_pid_namespace_of_another_container() {
    require_container!();
    let mut a = Bundle::new("pidns-a");
    a.args(&["sleep", "1003"]);
    a.write_config();
    let ca = Container::new(&a);
    ca.run_detached().success();
    let mut b = Bundle::new("pidns-b");
    b.namespace("pid", Some(&format!("/proc/{}/ns/pid", ca.pid())));
    b.args(&["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo self=$$"]);
    b.write_config();
    let cb = Container::new(&b);
    let out = cb.run();
    out.success();
    assert!(out.stdout.contains("sleep 1003"), "B sees A's init as its pid 1\n{out}");
    assert!(!out.stdout.contains("self=1\n"), "B's process is not pid 1 there\n{out}");
    cb.assert_nothing_left();
    assert!(process::alive(ca.pid()), "A keeps running");
}

/// The optional fields of the root mount as the container sees it.
fn root_mount_fields(propagation: &str) -> String {
    let mut b = Bundle::new(&format!("propagation-{propagation}"));
    b.spec["linux"]["rootfsPropagation"] = json!(propagation);
    b.args(&["sh", "-c", "awk '$5 == \"/\" { print }' /proc/self/mountinfo"]);
    b.write_config();
    let c = Container::new(&b);
    let out = c.run();
    out.success();
    c.assert_nothing_left();
    let line = out.stdout.lines().last().unwrap_or_else(|| panic!("no root mount\n{out}"));
    // Fields 7.. up to the "-" separator are the optional (propagation) fields.
    let fields: Vec<&str> = line.split_whitespace().skip(6).take_while(|f| *f != "-").collect();
    fields.join(" ")
}

#[test]
fn rootfs_propagation_shared() {
    require_container!();
    // config-linux.md "rootfsPropagation": the propagation of the container's root mount.
    let fields = root_mount_fields("shared");
    assert!(fields.contains("shared:"), "root mount is shared: {fields:?}");
}

#[test]
fn rootfs_propagation_private() {
    require_container!();
    let fields = root_mount_fields("private");
    assert!(!fields.contains("shared:"), "root mount is not shared: {fields:?}");
}

#[test]
fn cgroup_namespace_hides_the_host_path() {
    require_container!();
    // config-linux.md "Namespaces" (cgroup): the container's cgroup is the root of its view.
    let mut b = Bundle::new("cgroupns");
    b.namespace("cgroup", None);
    b.args(&["cat", "/proc/self/cgroup"]);
    b.write_config();
    let out = Container::new(&b).run();
    out.success();
    let paths: Vec<&str> = out.stdout.lines().filter_map(|l| l.splitn(3, ':').nth(2)).collect();
    assert!(!paths.is_empty(), "{out}");
    assert!(paths.iter().all(|p| *p == "/"), "every hierarchy shows `/`\n{out}");
}
