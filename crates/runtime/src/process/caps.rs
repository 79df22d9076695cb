//! Capability names of the config (`CAP_CHOWN` …) as numbers.

use oci_spec::runtime::Capability;

/// Every capability the kernel defines, in number order (capability(7)).
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The number of a capability name, with or without the `CAP_` prefix.
pub fn number(name: &str) -> Option<u32> {
    let bare = name.strip_prefix("CAP_").unwrap_or(name);
    NAMES.iter().position(|n| n.eq_ignore_ascii_case(bare)).and_then(|i| u32::try_from(i).ok())
}

/// The name of capability `n` (`CAP_…`).
pub fn name(n: u32) -> Option<String> {
    NAMES.get(n as usize).map(|s| format!("CAP_{s}"))
}

/// A set of capabilities as a bit mask.
pub fn mask<'a>(caps: impl IntoIterator<Item = &'a Capability>) -> u64 {
    caps.into_iter().filter_map(|c| number(&c.to_string())).fold(0, |m, n| m | 1 << n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(number("CAP_CHOWN"), Some(0));
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number("checkpoint_restore"), Some(40));
        assert_eq!(number("CAP_NOPE"), None);
        assert_eq!(name(29).as_deref(), Some("CAP_AUDIT_WRITE"));
    }

    #[test]
    fn oci_names_map() {
        assert_eq!(mask(&[Capability::Kill, Capability::NetBindService]), 1 << 5 | 1 << 10);
        assert_eq!(mask(&[Capability::AuditWrite]), 1 << 29);
    }
}
