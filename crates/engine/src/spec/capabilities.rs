//! The capabilities a container gets: Docker's default set changed by `--cap-add` and
//! `--cap-drop`, or all of berth's own bounding set.

use super::RunOptions;
use crate::error::{Error, Result};

/// Docker's default capabilities.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The capability set of `opts`: Docker's defaults, `--cap-drop`, `--cap-add`, or every
/// capability of berth's own bounding set with `--privileged`.
pub(super) fn of(opts: &RunOptions) -> Result<Vec<String>> {
    let norm = |c: &str| {
        let up = c.to_ascii_uppercase();
        if up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        }
    };
    if opts.privileged {
        return bounding_set();
    }
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    for c in &opts.cap_drop {
        if c.eq_ignore_ascii_case("all") {
            caps.clear();
        } else {
            let c = norm(c);
            caps.retain(|x| *x != c);
        }
    }
    for c in &opts.cap_add {
        if c.eq_ignore_ascii_case("all") {
            caps = bounding_set()?;
            continue;
        }
        let c = norm(c);
        if !ALL_CAPS.contains(&c.as_str()) {
            return Err(Error::InvalidFlag {
                flag: "--cap-add",
                value: c,
                reason: "unknown capability".into(),
            });
        }
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// "All capabilities" for `--privileged` and `--cap-add ALL`: every capability in berth's own
/// bounding set, as podman does. A capability outside it cannot be granted (capset fails
/// with EPERM), so asking for it would make every privileged container fail to start on a
/// host, or inside a container, that dropped one (root here lacks CAP_SYS_RESOURCE).
fn bounding_set() -> Result<Vec<String>> {
    let path = "/proc/self/status";
    let status = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
    let mask = parse_cap_bnd(&status).ok_or_else(|| {
        Error::io("parse CapBnd of", path)(std::io::ErrorKind::InvalidData.into())
    })?;
    Ok(caps_in_mask(mask))
}

/// The `CapBnd:` mask of a `/proc/PID/status` text.
fn parse_cap_bnd(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The names of the capabilities whose bits are set in `mask` (bit N = capability N).
fn caps_in_mask(mask: u64) -> Vec<String> {
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// Every capability the kernel defines, indexed by its number.
const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_capabilities_are_those_of_the_bounding_set() {
        let status = "Name:\tberth\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\n";
        let mask = parse_cap_bnd(status).unwrap();
        let caps = caps_in_mask(mask);
        assert_eq!(caps.len(), 40);
        assert!(!caps.contains(&"CAP_SYS_RESOURCE".to_string()));
        assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert_eq!(caps.last().map(String::as_str), Some("CAP_CHECKPOINT_RESTORE"));
        assert_eq!(caps_in_mask(0), Vec::<String>::new());
        assert_eq!(parse_cap_bnd("CapEff:\t0\n"), None);
        assert_eq!(parse_cap_bnd("CapBnd:\tzz\n"), None);
    }
}
