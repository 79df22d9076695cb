//! Loading a bundle's `config.json` and refusing, before anything is created, what cannot
//! work. Every refusal names the field in the spec's JSON spelling.

use std::path::{Path, PathBuf};

use berth_sys::Context;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};
use crate::namespace::{self, NamespacePlan};

/// A loaded, validated bundle.
#[derive(Debug)]
pub struct Bundle {
    /// The container id.
    pub id: String,
    /// Absolute bundle directory.
    pub dir: PathBuf,
    /// Absolute rootfs directory.
    pub rootfs: PathBuf,
    /// The config.
    pub spec: Spec,
    /// The namespaces to create and join.
    pub namespaces: NamespacePlan,
    /// `linux.seccomp`, compiled here in the runtime (never in the container).
    pub(crate) seccomp: Option<crate::seccomp::Prepared>,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig { field: field.to_string(), reason: reason.into() }
}

/// Reads `<bundle>/config.json` and validates it.
pub fn load(bundle: &Path, id: &str) -> Result<Bundle> {
    let dir = std::fs::canonicalize(bundle)
        .op_path("open bundle", bundle)
        .map_err(Error::sys("load bundle"))?;
    if !dir.is_dir() {
        let e = berth_sys::Error::new("open bundle", Some(&dir), berth_sys::error::Errno::NOTDIR);
        return Err(Error::Sys { context: "load bundle".into(), source: e });
    }
    let spec = read_spec(&dir.join("config.json"))?;
    let root = spec.root().as_ref().ok_or_else(|| invalid("root", "missing"))?;
    let rootfs =
        if root.path().is_absolute() { root.path().clone() } else { dir.join(root.path()) };
    if !rootfs.is_dir() {
        let errno = match rootfs.exists() {
            true => berth_sys::error::Errno::NOTDIR,
            false => berth_sys::error::Errno::NOENT,
        };
        let e = berth_sys::Error::new("open rootfs", Some(&rootfs), errno);
        return Err(Error::Sys { context: "load bundle".into(), source: e });
    }
    let namespaces = validate(&spec)?;
    let seccomp = crate::seccomp::prepare(&spec)?;
    Ok(Bundle { id: id.to_string(), dir, rootfs, spec, namespaces, seccomp })
}

/// Parses config.json; a type error names the field's JSON path (`process.args`), which
/// serde alone does not.
pub fn read_spec(path: &Path) -> Result<Spec> {
    let bytes = std::fs::read(path).map_err(|e| Error::State {
        op: "read config",
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let reason = e.into_inner().to_string();
        Error::LoadConfig { path: path.to_path_buf(), field, reason }
    })
}

/// Checks the parts of the config that the runtime-spec says must be refused.
pub fn validate(spec: &Spec) -> Result<NamespacePlan> {
    let process = spec.process().as_ref().ok_or_else(|| invalid("process", "missing"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid("process.args", "must name a program"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid("process.cwd", format!("{} is not absolute", process.cwd().display())));
    }
    let linux = spec.linux().as_ref().ok_or_else(|| invalid("linux", "missing"))?;
    let empty = Vec::new();
    let ns = namespace::plan(linux.namespaces().as_ref().unwrap_or(&empty))
        .map_err(|r| invalid("linux.namespaces", r))?;
    let has = |t: LinuxNamespaceType| {
        linux.namespaces().as_ref().is_some_and(|v| v.iter().any(|n| n.typ() == t))
    };
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if maps && !has(LinuxNamespaceType::User) {
        return Err(invalid("linux.uidMappings", "set, but there is no user namespace"));
    }
    if ns.new_user && !maps {
        return Err(invalid(
            "linux.uidMappings",
            "a new user namespace needs uid and gid mappings",
        ));
    }
    if !has(LinuxNamespaceType::Mount) {
        return Err(invalid("linux.namespaces", "a mount namespace is required"));
    }
    if spec.hostname().is_some() && !has(LinuxNamespaceType::Uts) {
        return Err(invalid("hostname", "set, but there is no uts namespace"));
    }
    if spec.domainname().is_some() && !has(LinuxNamespaceType::Uts) {
        return Err(invalid("domainname", "set, but there is no uts namespace"));
    }
    for m in spec.mounts().as_ref().unwrap_or(&Vec::new()) {
        if !m.destination().is_absolute() {
            let d = m.destination().display();
            return Err(invalid("mounts.destination", format!("{d} is not absolute")));
        }
        let opts = m.options().clone().unwrap_or_default();
        crate::mountopt::parse(&opts).map_err(|r| invalid("mounts.options", r))?;
    }
    validate_security_modules(spec)?;
    if let Some(devs) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) {
        if ns.clone_flags & crate::namespace::clone_flag(LinuxNamespaceType::Network) == 0 {
            return Err(invalid("linux.netDevices", "needs a new network namespace"));
        }
        for (host, d) in devs {
            let name = d.name().as_deref().unwrap_or(host);
            if !crate::netdev::valid_name(host) || !crate::netdev::valid_name(name) {
                return Err(invalid(
                    "linux.netDevices",
                    format!("{host:?} -> {name:?} is not a valid interface name"),
                ));
            }
        }
    }
    for key in linux.sysctl().as_ref().map(|s| s.keys().collect::<Vec<_>>()).unwrap_or_default() {
        validate_sysctl(key, &has)?;
    }
    Ok(ns)
}

/// Labels and profiles for security modules this host does not have are refused: silently
/// running a container without the confinement its config asks for would be worse.
fn validate_security_modules(spec: &Spec) -> Result<()> {
    let process = spec.process().as_ref();
    let linux = spec.linux().as_ref();
    if process.and_then(|p| p.apparmor_profile().as_ref()).is_some() && !apparmor_enabled() {
        return Err(invalid("process.apparmorProfile", "AppArmor is not enabled on this host"));
    }
    if process.and_then(|p| p.selinux_label().as_ref()).is_some_and(|l| !l.is_empty()) {
        return Err(invalid("process.selinuxLabel", "SELinux is not supported on this host"));
    }
    if linux.and_then(|l| l.mount_label().as_ref()).is_some_and(|l| !l.is_empty()) {
        return Err(invalid("linux.mountLabel", "SELinux is not supported on this host"));
    }
    if linux.and_then(|l| l.intel_rdt().as_ref()).is_some() {
        return Err(invalid("linux.intelRdt", "Intel RDT (resctrl) is not supported on this host"));
    }
    Ok(())
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// runc's rule: a sysctl may only be set when the namespace it belongs to is the container's.
fn validate_sysctl(key: &str, has: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<()> {
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let needs = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    };
    match needs {
        Some(t) if has(t) => Ok(()),
        Some(t) => Err(invalid(
            "linux.sysctl",
            format!("{key} needs the container's own {} namespace", namespace::name(t)),
        )),
        None => Err(invalid("linux.sysctl", format!("{key} is not namespaced"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(dir: &Path, affinity: &str) -> std::path::PathBuf {
        let path = dir.join("config.json");
        let json = serde_json::json!({
            "ociVersion": "1.2.0",
            "process": {
                "cwd": "/",
                "args": ["true"],
                "user": { "uid": 0, "gid": 0 },
                "execCPUAffinity": { "initial": affinity },
            },
        });
        std::fs::write(&path, json.to_string()).expect("write config.json");
        path
    }

    /// oci-spec checks `execCPUAffinity` with a regex, which is regex-lite in this workspace
    /// (ADR 0013): CPU lists still parse, anything else is still refused, and digits are
    /// ASCII only (the full regex crate's `\d` took any Unicode digit).
    #[test]
    fn exec_cpu_affinity_is_checked() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for good in ["0", "0-3", "0-3,7", "1,3,5-63"] {
            let spec = read_spec(&write_config(tmp.path(), good)).expect(good);
            let got = spec.process().as_ref().and_then(|p| p.exec_cpu_affinity().clone());
            assert_eq!(got.and_then(|a| a.initial().clone()).as_deref(), Some(good));
        }
        for bad in ["", "0-", "a", "0,,1", "0-3;7", "\u{663}"] {
            let err = read_spec(&write_config(tmp.path(), bad)).expect_err(bad);
            assert!(err.to_string().contains("execCPUAffinity"), "{bad}: {err}");
        }
    }
}
