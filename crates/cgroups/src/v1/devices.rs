//! v1 devices controller: `devices.allow` / `devices.deny`.
//!
//! Rules are written in config order, one line per write, which is what the OCI semantics
//! ("later rules override earlier ones") need for the usual shape: deny everything, then allow
//! the default devices. Adding the default device list is the runtime's job (runc does it in
//! specconv, not in its cgroup manager). cgroup v2 has no files for this (it needs an eBPF
//! program) and is not handled here.

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::{file, Error};

/// Writes each rule to `devices.allow` or `devices.deny` in `dir`.
pub(crate) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<(), Error> {
    for rule in rules {
        let target = if rule.allow() { "devices.allow" } else { "devices.deny" };
        file::write(dir, target, &rule_line(rule)?)?;
    }
    Ok(())
}

/// `"c 1:3 rwm"`, `"a *:* rwm"`; a missing major/minor is the `*` wildcard.
fn rule_line(rule: &LinuxDeviceCgroup) -> Result<String, Error> {
    let kind = match rule.typ().unwrap_or_default() {
        LinuxDeviceType::A => "a",
        LinuxDeviceType::B => "b",
        // `u` (unbuffered char) is a char device to the kernel.
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => {
            return Err(Error::InvalidResource {
                name: "devices.type",
                value: "p".into(),
                reason: "the devices cgroup has no rules for FIFOs",
            })
        }
    };
    let number = |n: Option<i64>| n.filter(|n| *n >= 0).map_or("*".to_owned(), |n| n.to_string());
    let access = rule.access().as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm");
    if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(Error::InvalidResource {
            name: "devices.access",
            value: access.to_owned(),
            reason: "only r, w and m are allowed",
        });
    }
    Ok(format!("{kind} {}:{} {access}", number(rule.major()), number(rule.minor())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    #[test]
    fn lines() {
        let deny_all = LinuxDeviceCgroupBuilder::default().allow(false).build().unwrap();
        assert_eq!(rule_line(&deny_all).unwrap(), "a *:* rwm");
        let null = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rw")
            .build()
            .unwrap();
        assert_eq!(rule_line(&null).unwrap(), "c 1:3 rw");
        let pts = LinuxDeviceCgroupBuilder::default().typ(LinuxDeviceType::U).major(136);
        assert_eq!(rule_line(&pts.build().unwrap()).unwrap(), "c 136:* rwm");
        let bad = LinuxDeviceCgroupBuilder::default().access("rwx").build().unwrap();
        assert!(rule_line(&bad).is_err());
    }

    #[test]
    fn writes_in_order_to_allow_or_deny() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("devices.allow"), "").unwrap();
        std::fs::write(tmp.path().join("devices.deny"), "").unwrap();
        let rules = [
            LinuxDeviceCgroupBuilder::default().allow(false).build().unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(5)
                .build()
                .unwrap(),
        ];
        apply(tmp.path(), &rules).unwrap();
        let get = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap();
        assert_eq!(get("devices.deny"), "a *:* rwm");
        assert_eq!(get("devices.allow"), "c 1:5 rwm");
    }
}
