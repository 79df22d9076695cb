//! berth's default seccomp profile for `berth run`: the effect of Docker's default profile,
//! written as a deny list on top of the default capability set.
//!
//! Docker's profile is an allow list of about 350 syscalls; what it keeps from a container
//! with the default capabilities is a known set: the calls below. Listing those (and letting
//! everything else through) blocks the same kernel surface, and keeps working when a new
//! harmless syscall appears, which an allow list would refuse with EPERM until updated. The
//! calls that Docker gates on a capability are only denied when that capability is not
//! granted (`--cap-add` lifts the block, as in Docker).

use serde_json::{json, Value};

/// Denied whatever the capabilities: kernel keyrings, the new mount API, BPF, perf,
/// userfaultfd, handle-based opens, 32-bit and obsolete entry points, kcmp.
const ALWAYS: &[&str] = &[
    "add_key",
    "keyctl",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "kexec_file_load",
    "kexec_load",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "nfsservctl",
    "vm86",
    "vm86old",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "io_pgetevents",
];

/// Denied unless the container has the capability (Docker's `includes.caps` rules).
const BY_CAP: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "setns",
            "unshare",
            "quotactl",
            "quotactl_fd",
            "syslog",
            "swapon",
            "swapoff",
            "vhangup",
            "fanotify_init",
            "lookup_dcookie",
            "iopl",
            "ioperm",
        ],
    ),
    ("CAP_SYS_MODULE", &["init_module", "finit_module", "delete_module"]),
    ("CAP_SYS_BOOT", &["reboot"]),
    (
        "CAP_SYS_TIME",
        &[
            "settimeofday",
            "stime",
            "clock_settime",
            "clock_settime64",
            "adjtimex",
            "clock_adjtime",
            "clock_adjtime64",
        ],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_PTRACE", &["process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"]),
    ("CAP_SYS_NICE", &["get_mempolicy", "set_mempolicy", "mbind", "move_pages"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
];

/// CLONE_NEWUSER: creating a user namespace is refused without CAP_SYS_ADMIN, as Docker does
/// (it is the usual first step of a kernel exploit from a container).
const CLONE_NEWUSER: u64 = 0x1000_0000;

/// The profile for a container with capabilities `caps` (`CAP_…` names).
pub fn default_profile(caps: &[String]) -> Value {
    let has = |c: &str| caps.iter().any(|x| x == c);
    let mut deny: Vec<&str> = ALWAYS.to_vec();
    for (cap, calls) in BY_CAP {
        if !has(cap) {
            deny.extend_from_slice(calls);
        }
    }
    deny.sort_unstable();
    deny.dedup();
    let mut rules = vec![json!({"names": deny, "action": "SCMP_ACT_ERRNO", "errnoRet": 1})];
    if !has("CAP_SYS_ADMIN") {
        // clone(2) takes the flags in its first argument on x86_64; clone3 passes them in
        // memory a filter cannot read, so it gets ENOSYS and libc falls back to clone.
        rules.push(json!({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
            "args": [{"index": 0, "value": CLONE_NEWUSER, "valueTwo": CLONE_NEWUSER, "op": "SCMP_CMP_MASKED_EQ"}]}));
        rules.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}));
    }
    // personality(2): only the harmless domains (Docker allows 0x0, 0x8, 0x20000, 0x20008
    // and the query 0xffffffff).
    let persona = [0x0u64, 0x8, 0x20000, 0x20008, 0xffff_ffff];
    rules.push(json!({"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
        "args": persona.iter().map(|v| json!({"index": 0, "value": v, "op": "SCMP_CMP_NE"})).collect::<Vec<_>>()}));
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(p: &Value) -> Vec<String> {
        p["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn caps_lift_their_blocks() {
        let p = default_profile(&[]);
        let d = denied(&p);
        assert!(d.contains(&"mount".to_string()) && d.contains(&"keyctl".to_string()));
        let p = default_profile(&["CAP_SYS_ADMIN".into()]);
        let d = denied(&p);
        assert!(!d.contains(&"mount".to_string()) && d.contains(&"keyctl".to_string()));
        assert!(p["syscalls"].as_array().unwrap().iter().all(|r| r["names"][0] != "clone"));
    }

    #[test]
    fn parses_as_an_oci_seccomp_section() {
        let _: oci_spec::runtime::LinuxSeccomp =
            serde_json::from_value(default_profile(&[])).unwrap();
    }
}
