//! The config.json `spec` writes: runc's template, with berth's name as the hostname, and a
//! cgroup namespace (every kernel berth supports has one).

use serde_json::{json, Value};

/// The template for a root-run container.
pub fn rootful() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
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
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                           {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// The template for an unprivileged user: a user namespace mapping the caller's ids to root,
/// /sys bound from the host (sysfs cannot be mounted), no cgroup limits or mount.
pub fn rootless(uid: u32, gid: u32) -> Value {
    let mut v = rootful();
    let linux = &mut v["linux"];
    linux["resources"] = Value::Null;
    linux["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
        {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}]);
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(mounts) = v["mounts"].as_array_mut() {
        mounts.retain(|m| m["type"] != "cgroup");
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
            if m["destination"] == "/dev/pts" {
                m["options"] =
                    json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]);
            }
        }
    }
    if let Some(obj) = v["linux"].as_object_mut() {
        obj.remove("resources");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_as_oci_configs() {
        for v in [rootful(), rootless(1000, 1000)] {
            let spec: oci_spec::runtime::Spec = serde_json::from_value(v).unwrap();
            assert!(spec.process().is_some());
        }
    }

    #[test]
    fn rootless_maps_the_caller() {
        let v = rootless(1234, 99);
        assert_eq!(v["linux"]["uidMappings"][0]["hostID"], 1234);
        assert!(v["mounts"].as_array().unwrap().iter().all(|m| m["type"] != "cgroup"));
    }
}
