//! The device cgroup rules a container gets besides its config's own: the default devices the
//! runtime creates (runtime-spec config-linux.md, "Default Devices"), the pty devices, and
//! mknod of anything (an image may carry device nodes; opening them stays denied). runc
//! adds the same after the config's rules. A `linux.devices` entry gets its node, not a
//! rule: what it may be opened for is the config's `resources.devices` (Docker's and
//! podman's `--device` write both; `--device /dev/x:r` must not be writable), as in runc.

use oci_spec::runtime::{
    LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResources,
};

/// (type, major, minor, access); `None` is the `*` wildcard.
const DEFAULT_RULES: [(LinuxDeviceType, Option<i64>, Option<i64>, &str); 11] = [
    (LinuxDeviceType::C, None, None, "m"),
    (LinuxDeviceType::B, None, None, "m"),
    (LinuxDeviceType::C, Some(1), Some(3), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(5), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(7), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(8), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(9), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(0), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(1), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(2), "rwm"),
    (LinuxDeviceType::C, Some(136), None, "rwm"),
];

/// The config's resources with the runtime's device rules appended.
pub fn with_default_rules(res: &LinuxResources) -> LinuxResources {
    let mut rules: Vec<LinuxDeviceCgroup> = res.devices().clone().unwrap_or_default();
    for (typ, major, minor, access) in DEFAULT_RULES {
        rules.push(rule(typ, major, minor, access));
    }
    let mut out = res.clone();
    out.set_devices(Some(rules));
    out
}

/// Whether `res` sets any limit besides device rules (which need no cgroup to be safe: a
/// rootless container cannot create device nodes anyway).
pub fn has_limits(res: &LinuxResources) -> bool {
    res.memory().is_some()
        || res.cpu().is_some()
        || res.pids().is_some()
        || res.block_io().is_some()
        || res.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty())
        || res.network().is_some()
        || res.rdma().as_ref().is_some_and(|r| !r.is_empty())
        || res.unified().as_ref().is_some_and(|u| !u.is_empty())
}

fn rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default().allow(true).typ(typ).access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    // Every field is set above, so the builder cannot fail; fall back to a harmless default.
    b.build().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_after_the_config_rules() {
        let deny = LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().unwrap();
        let mut res = LinuxResources::default();
        res.set_devices(Some(vec![deny.clone()]));
        let out = with_default_rules(&res);
        let rules = out.devices().clone().unwrap();
        assert_eq!(rules[0], deny);
        assert_eq!(rules.len(), 1 + DEFAULT_RULES.len());
        assert!(rules[1..].iter().all(|r| r.allow()));
    }
}
