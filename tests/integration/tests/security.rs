//! Isolation properties every runtime must keep: only stdio crosses into the container, the
//! process starts inside the rootfs, the host runtime binary cannot be reached through
//! `/proc/<init>/exe` (CVE-2019-5736), leaked fds cannot become the cwd (CVE-2024-21626), and
//! symlinks planted in the rootfs cannot redirect mounts to the host (CVE-2021-30465 class).

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_test_support::bundle::RUNTIMETEST;
use berth_test_support::{process, require_container, Bundle, Container, TestCommand};
use serde_json::json;

fn sleeper(name: &str) -> Bundle {
    let mut b = Bundle::new(name);
    b.args(&["sleep", "1000"]);
    b.write_config();
    b
}

#[test]
fn only_stdio_reaches_the_container() {
    require_container!();
    let mut b = Bundle::new("fds");
    b.args(&[RUNTIMETEST, "check", "fds"]);
    b.write_config();
    let c = Container::new(&b);
    // The runtime itself inherits an extra fd 5 (not CLOEXEC: opened by the shell); without
    // --preserve-fds it must not reach the container.
    let mut sh = Command::new("/bin/sh");
    sh.args(["-c", "exec 5</etc/hostname; exec \"$@\"", "sh"]);
    sh.arg(&c.runtime().path).arg("--root").arg(c.state_root());
    let out = TestCommand::new(sh)
        .args(["run", "--bundle"])
        .args([b.path().as_os_str()])
        .args([c.id()])
        .output();
    out.checks_ok(&["fds"]);
    c.assert_nothing_left();
}

fn dev_ino(p: &Path) -> (u64, u64) {
    let md = std::fs::metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()));
    (md.dev(), md.ino())
}

/// The root reached by walking `..` up from `/proc/<pid>/cwd`. `..` stops at the root of the
/// container's mount namespace, so a cwd inside the container ends at its rootfs, while a
/// cwd on a host directory walks up to the host's `/`. (readlink(2) on these magic links
/// prints paths relative to the other namespace and cannot tell the two apart.)
fn root_above_cwd(pid: u32) -> (u64, u64) {
    let up = "../".repeat(40);
    dev_ino(Path::new(&format!("/proc/{pid}/cwd/{up}")))
}

#[test]
fn process_root_and_cwd_are_inside_rootfs() {
    require_container!();
    let mut b = sleeper("cwd-inside");
    b.spec["process"]["cwd"] = json!("/tmp");
    b.write_config();
    let c = Container::new(&b);
    c.run_detached().success();
    let pid = c.pid();
    let rootfs = dev_ino(&b.rootfs());
    assert_eq!(dev_ino(Path::new(&format!("/proc/{pid}/root"))), rootfs, "root is the rootfs");
    let cwd = dev_ino(Path::new(&format!("/proc/{pid}/cwd")));
    assert_eq!(cwd, dev_ino(&b.rootfs().join("tmp")), "cwd is rootfs/tmp");
    assert_eq!(root_above_cwd(pid), rootfs, "cwd is below the container root");
}

#[test]
fn leaked_fd_cannot_become_cwd() {
    require_container!();
    // CVE-2024-21626: cwd = /proc/self/fd/N reached a host directory through an fd the
    // runtime leaked into the init. The container must fail or stay inside its rootfs.
    for fd in 3..=9 {
        let mut b = sleeper(&format!("fd-cwd-{fd}"));
        b.spec["process"]["cwd"] = json!(format!("/proc/self/fd/{fd}"));
        b.write_config();
        let c = Container::new(&b);
        if !c.run_detached().status.success() {
            continue;
        }
        assert_eq!(root_above_cwd(c.pid()), dev_ino(&b.rootfs()), "fd {fd}: cwd escaped");
    }
}

#[test]
fn init_exe_is_not_the_writable_host_binary() {
    require_container!();
    // CVE-2019-5736: a container could open /proc/<init>/exe and overwrite the host runtime.
    // Before start, the init must run from a copy (sealed memfd, like runc and youki) or,
    // if it is the host binary itself, opening it for writing must fail.
    let b = sleeper("exe");
    let c = Container::new(&b);
    c.create().success();
    let pid = c.pid();
    let exe = PathBuf::from(format!("/proc/{pid}/exe"));
    let exe_md = std::fs::metadata(&exe).unwrap();
    let host_md = std::fs::metadata(&c.runtime().path).unwrap();
    if (exe_md.dev(), exe_md.ino()) == (host_md.dev(), host_md.ino()) {
        // No truncate, no write: opening is the probe.
        let opened = std::fs::OpenOptions::new().write(true).open(&exe);
        assert!(opened.is_err(), "the host runtime binary is writable through {}", exe.display());
    }
    assert!(process::alive(pid));
}

/// Plants `rootfs/<link>` -> `target` and mounts a tmpfs at `/<link>/<leaf>`; the runtime must
/// resolve the destination inside the rootfs, so `<escape>/<leaf>` never appears on the host.
fn mount_through_symlink(name: &str, target: &Path, escape: &Path) {
    let leaf = format!("berth-escape-{}", std::process::id());
    let mut b = Bundle::new(name);
    std::os::unix::fs::symlink(target, b.rootfs().join("link")).unwrap();
    b.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": format!("/link/{leaf}"), "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev"]
    }));
    b.spec["root"]["readonly"] = json!(false);
    b.args(&[RUNTIMETEST, "check", "mounts"]);
    b.write_config();
    let host_path = escape.join(&leaf);
    let existed = host_path.exists();
    let out = Container::new(&b).run();
    let escaped = !existed && host_path.exists();
    if escaped {
        // Remove what the runtime created outside (an empty directory) before failing.
        let _ = std::fs::remove_dir(&host_path);
    }
    assert!(!escaped, "the runtime created {} on the host\n{out}", host_path.display());
    out.checks_ok(&["mounts"]);
}

#[test]
fn mount_through_absolute_symlink_stays_inside() {
    require_container!();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_path_buf();
    mount_through_symlink("symlink-abs", &target, &target);
}

#[test]
fn mount_through_relative_symlink_stays_inside() {
    require_container!();
    let outside = tempfile::tempdir().unwrap();
    // Enough `..` to climb out of any bundle path, then down into the host tempdir.
    let rel =
        Path::new("../../../../../../../../..").join(outside.path().strip_prefix("/").unwrap());
    mount_through_symlink("symlink-rel", &rel, outside.path());
}

#[test]
fn mount_through_symlink_to_host_root_stays_inside() {
    require_container!();
    mount_through_symlink("symlink-root", Path::new("/"), Path::new("/"));
}

#[test]
fn host_processes_are_invisible() {
    require_container!();
    let mut b = Bundle::new("pid-isolation");
    b.args(&["sh", "-c", "ls /proc | grep -c '^[0-9]'"]);
    b.write_config();
    let out = Container::new(&b).run();
    out.success();
    let n: u32 = out.stdout.trim().parse().unwrap_or(999);
    assert!(n <= 4, "only the container's own processes are visible\n{out}");
}

#[test]
fn proc_sys_is_not_writable() {
    require_container!();
    let mut b = Bundle::new("proc-sys-ro");
    let script = "echo berth > /proc/sys/kernel/hostname 2>/dev/null && echo WROTE; \
                  echo 1 > /proc/sysrq-trigger 2>/dev/null && echo SYSRQ; true";
    b.args(&["sh", "-c", script]);
    b.write_config();
    let out = Container::new(&b).run();
    out.success();
    assert!(out.stdout.trim().is_empty(), "writes to readonlyPaths must fail\n{out}");
}

/// With the default `ro` cgroup mount, nothing can be made under `/sys/fs/cgroup`. On a
/// cgroup v1 host it is a tmpfs holding a bind of each hierarchy: every hierarchy must be
/// read-only, and it and the tmpfs nosuid, nodev and noexec (berth sets them on the whole
/// tree at once). (runc 1.1 leaves the tmpfs itself `rw` but refuses the mkdir; berth makes
/// it `ro`.) On cgroup v2 it is one cgroup2 mount, with the same flags.
#[test]
fn cgroup_tree_is_read_only() {
    require_container!();
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists();
    let mut b = Bundle::new("cgroup-ro");
    let script = "grep ' /sys/fs/cgroup' /proc/self/mountinfo; \
                  mkdir /sys/fs/cgroup/berth-probe 2>&1 && echo MADE-TOP; \
                  if [ -d /sys/fs/cgroup/memory ]; then \
                    mkdir /sys/fs/cgroup/memory/berth-probe 2>&1 \
                      && rmdir /sys/fs/cgroup/memory/berth-probe && echo MADE-SUB; fi; \
                  true";
    b.args(&["sh", "-c", script]);
    b.write_config();
    let out = Container::new(&b).run();
    out.success();
    let mounts: Vec<&str> = out.stdout.lines().filter(|l| l.contains(" /sys/fs/cgroup")).collect();
    match v1 {
        true => assert!(mounts.len() > 2, "a tmpfs and the hierarchies at /sys/fs/cgroup\n{out}"),
        false => assert!(mounts.iter().any(|l| l.contains(" - cgroup2 ")), "cgroup2\n{out}"),
    }
    for line in &mounts {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let opts: Vec<&str> = fields.get(5).copied().unwrap_or("").split(',').collect();
        let is_hierarchy = line.contains(" - cgroup");
        for flag in ["ro", "nosuid", "nodev", "noexec"] {
            if flag != "ro" || is_hierarchy {
                assert!(opts.contains(&flag), "{flag} missing on: {line}\n{out}");
            }
        }
    }
    assert!(!out.stdout.contains("MADE"), "a directory was made in the cgroup tree\n{out}");
    assert!(out.stdout.contains("Read-only file system"), "EROFS\n{out}");
}
