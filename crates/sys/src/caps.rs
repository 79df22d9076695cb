//! Capability sets: `capset(2)` and the bounding and ambient sets through `prctl(2)`.
//!
//! Capabilities are plain numbers here (`CAP_CHOWN` = 0 …), so a capability newer than this
//! code is still handled by number.

use rustix::io::Errno;

use crate::clone::last_errno;
use crate::error::{Error, Result};

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The three per-thread sets, one bit per capability number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    /// Effective set.
    pub effective: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Inheritable set.
    pub inheritable: u64,
}

/// Sets the calling thread's effective, permitted and inheritable sets.
pub fn set(sets: CapSets) -> Result<()> {
    let mut hdr = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let lo = |v: u64| (v & 0xffff_ffff) as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let data = [
        CapData {
            effective: lo(sets.effective),
            permitted: lo(sets.permitted),
            inheritable: lo(sets.inheritable),
        },
        CapData {
            effective: hi(sets.effective),
            permitted: hi(sets.permitted),
            inheritable: hi(sets.inheritable),
        },
    ];
    // SAFETY: `hdr` and the two-element `data` array are the version-3 layout capset expects;
    // both live across the call and the kernel only reads them.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    check(ret, "capset")
}

/// Removes `cap` from the bounding set (needs CAP_SETPCAP).
pub fn drop_bounding(cap: u32) -> Result<()> {
    prctl(libc::PR_CAPBSET_DROP, u64::from(cap), 0, "prctl PR_CAPBSET_DROP")
}

/// Whether `cap` is in the bounding set.
pub fn in_bounding(cap: u32) -> bool {
    // SAFETY: PR_CAPBSET_READ takes a capability number and reads no memory.
    unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) == 1 }
}

/// Raises `cap` in the ambient set (it must be permitted and inheritable).
pub fn raise_ambient(cap: u32) -> Result<()> {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_RAISE as u64,
        u64::from(cap),
        "prctl PR_CAP_AMBIENT_RAISE",
    )
}

/// Keeps the permitted set across a switch away from uid 0 (`PR_SET_KEEPCAPS`).
pub fn keep_caps(on: bool) -> Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, u64::from(on), 0, "prctl PR_SET_KEEPCAPS")
}

/// Marks the process dumpable or not (`PR_SET_DUMPABLE`): a non-dumpable process's
/// `/proc/PID/fd` cannot be opened by other processes of the same user.
pub fn set_dumpable(on: bool) -> Result<()> {
    prctl(libc::PR_SET_DUMPABLE, u64::from(on), 0, "prctl PR_SET_DUMPABLE")
}

/// The highest capability number this kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

fn prctl(option: libc::c_int, a: u64, b: u64, op: &str) -> Result<()> {
    // SAFETY: the options used here take integer arguments only and read or write no memory.
    let ret = unsafe { libc::prctl(option, a as libc::c_ulong, b as libc::c_ulong, 0, 0) };
    check(i64::from(ret), op)
}

fn check(ret: i64, op: &str) -> Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        Err(Error::new(op, None, Errno::from_raw_os_error(last_errno())))
    }
}
