//! `features`: the runtime-spec features document (features.md), listing only what berth
//! actually implements, so an engine can decide what to ask for.

use serde_json::{json, Value};

use crate::process::caps;

/// The oldest and newest runtime-spec versions whose configs berth accepts.
pub const OCI_VERSION_MIN: &str = "1.0.0";
/// See [`OCI_VERSION_MIN`].
pub const OCI_VERSION_MAX: &str = "1.2.0";

/// Every hook kind, all run by berth.
const HOOKS: [&str; 6] =
    ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

/// The mount options `mountopt::parse` understands (flags, their negations, propagation,
/// bind); `tmpcopyup`, `idmap` and the recursive `r*` attribute options are refused there and
/// so are absent here.
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

/// Namespaces berth can create or join (`time` included: it is set up after clone).
const NAMESPACES: [&str; 8] = ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"];

/// The features document.
pub fn features() -> Value {
    let capabilities: Vec<String> = (0..64).map_while(caps::name).collect();
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": HOOKS,
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": capabilities,
            "cgroup": {
                "v1": true,
                "v2": true,
                "systemd": false,
                "systemdUser": false,
                "rdma": true
            },
            "seccomp": crate::seccomp::features(),
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.berth.version": env!("CARGO_PKG_VERSION")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_mount_option_parses() {
        let doc = features();
        for option in doc["mountOptions"].as_array().unwrap() {
            let option = option.as_str().unwrap().to_string();
            let parsed = crate::mountopt::parse(std::slice::from_ref(&option)).unwrap();
            assert!(parsed.data.is_empty(), "{option} is not a known option");
        }
    }

    #[test]
    fn document_shape() {
        let doc = features();
        assert_eq!(doc["ociVersionMax"], "1.2.0");
        assert_eq!(doc["linux"]["capabilities"][0], "CAP_CHOWN");
        assert_eq!(doc["linux"]["capabilities"].as_array().unwrap().len(), 41);
        assert_eq!(doc["linux"]["cgroup"]["systemd"], false);
    }
}
