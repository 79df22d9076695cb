//! `Bundle`: a tempdir holding `config.json` and a busybox rootfs with `runtimetest`.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::cgroup::cgroups_path;
use crate::runtimetest::runtimetest_path;

/// Where runtimetest and its copy of config.json live inside the rootfs.
pub const RUNTIMETEST_DIR: &str = "/runtimetest";
/// The in-container path of the checker.
pub const RUNTIMETEST: &str = "/runtimetest/runtimetest";

/// An OCI bundle in its own tempdir.
#[derive(Debug)]
pub struct Bundle {
    dir: TempDir,
    id: String,
    /// The spec written by [`Bundle::write_config`]; tests mutate it freely.
    pub spec: Value,
}

/// A fresh container id `<name>-<pid>-<n>`: unique per test process, and the pid keeps ids
/// apart across the test binaries of one `cargo test` run.
pub fn unique_id(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Sensible defaults modelled on `runc spec`, with `terminal: false`, runtimetest as the
/// process, and the container's own relative cgroup under the test prefix.
pub fn default_spec(id: &str) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": [RUNTIMETEST, "all"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "cgroupsPath": cgroups_path(id),
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"]
        }
    })
}

fn populate_rootfs(rootfs: &Path) -> std::io::Result<()> {
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "runtimetest"] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    // Copies, never hard links: a rw rootfs must not reach the host's busybox or build output.
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))?;
    std::fs::copy(runtimetest_path(), rootfs.join("runtimetest/runtimetest"))?;
    let list = std::process::Command::new("/bin/busybox").arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.contains('/') {
            symlink("busybox", rootfs.join("bin").join(applet))?;
        }
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n")?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\ntty:x:5:\n")?;
    Ok(())
}

impl Bundle {
    /// A bundle for a container named after `name` (the id is made unique).
    pub fn new(name: &str) -> Bundle {
        let dir =
            tempfile::Builder::new().prefix("berth-bundle-").tempdir().expect("bundle tempdir");
        let id = unique_id(name);
        populate_rootfs(&dir.path().join("rootfs")).expect("populate rootfs");
        let spec = default_spec(&id);
        let b = Bundle { dir, id, spec };
        b.write_config();
        b
    }

    /// The container id this bundle's cgroup path was made for.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Sets the process arguments.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.spec["process"]["args"] = json!(args);
        self
    }

    /// Writes `spec` to `config.json` and to `/runtimetest/config.json` in the rootfs.
    pub fn write_config(&self) {
        let text = serde_json::to_string_pretty(&self.spec).expect("serialize spec");
        std::fs::write(self.path().join("config.json"), &text).expect("write config.json");
        let copy = self.rootfs().join("runtimetest/config.json");
        if copy.parent().is_some_and(Path::is_dir) {
            std::fs::write(copy, &text).expect("write rootfs copy of config.json");
        }
    }

    /// Replaces `config.json` with raw text (for malformed-input tests).
    pub fn write_raw_config(&self, text: &str) {
        std::fs::write(self.path().join("config.json"), text).expect("write config.json");
    }

    /// Appends a namespace entry, or sets the path of an existing one.
    pub fn namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        let list = self.spec["linux"]["namespaces"].as_array_mut().expect("namespaces array");
        list.retain(|n| n["type"] != kind);
        list.push(match path {
            Some(p) => json!({"type": kind, "path": p}),
            None => json!({"type": kind}),
        });
        self
    }

    /// Removes a namespace entry (the container then shares the runtime's).
    pub fn without_namespace(&mut self, kind: &str) -> &mut Self {
        if let Some(list) = self.spec["linux"]["namespaces"].as_array_mut() {
            list.retain(|n| n["type"] != kind);
        }
        self
    }
}
