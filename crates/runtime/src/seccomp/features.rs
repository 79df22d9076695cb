//! The `linux.seccomp` part of the `features` document (features.md), probed: the
//! architectures this libseccomp build knows and the filter flags this kernel takes.

use berth_sys::seccomp::{self as sys, flag};
use oci_spec::runtime::Arch;
use serde_json::{json, Value};

const ACTIONS: [&str; 9] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

const OPERATORS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

const ARCHES: [&str; 23] = [
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// Flags by name with the seccomp(2) bits that test them (TSYNC is accepted and ignored, so
/// it is supported wherever seccomp is).
const FLAGS: [(&str, u32); 4] = [
    ("SECCOMP_FILTER_FLAG_TSYNC", 0),
    ("SECCOMP_FILTER_FLAG_LOG", flag::LOG),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", flag::SPEC_ALLOW),
    ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", flag::WAIT_KILLABLE_RECV | flag::NEW_LISTENER),
];

/// `{"enabled": true, "actions": …, "operators": …, "archs": …, "knownFlags": …,
/// "supportedFlags": …}`, for `features`.
pub(crate) fn features() -> Value {
    let archs: Vec<&str> = ARCHES
        .into_iter()
        .filter(|name| {
            serde_json::from_value::<Arch>(json!(name)).is_ok_and(|a| sys::arch_supported(a as u32))
        })
        .collect();
    let known: Vec<&str> = FLAGS.iter().map(|f| f.0).collect();
    let supported: Vec<&str> =
        FLAGS.iter().filter(|f| f.1 == 0 || sys::flags_supported(f.1)).map(|f| f.0).collect();
    json!({
        "enabled": true,
        "actions": ACTIONS,
        "operators": OPERATORS,
        "archs": archs,
        "knownFlags": known,
        "supportedFlags": supported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_native_arch_and_basic_flags() {
        let f = features();
        assert_eq!(f["enabled"], true);
        let archs = f["archs"].as_array().expect("archs");
        assert!(archs.contains(&json!("SCMP_ARCH_X86_64")) || !cfg!(target_arch = "x86_64"));
        let supported = f["supportedFlags"].as_array().expect("flags");
        assert!(supported.contains(&json!("SECCOMP_FILTER_FLAG_LOG")));
        assert_eq!(f["actions"].as_array().map(Vec::len), Some(9));
    }
}
