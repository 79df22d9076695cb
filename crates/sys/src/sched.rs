//! Per-process scheduling knobs the runtime-spec exposes: `personality(2)`,
//! `ioprio_set(2)`, `sched_setattr(2)` and `set_mempolicy(2)`. libc has no typed wrapper for
//! most of them.

use rustix::io::Errno;

use crate::clone::last_errno;
use crate::error::{Error, Result};

fn check(ret: libc::c_long, op: &str) -> Result<()> {
    if ret < 0 {
        Err(Error::new(op, None, Errno::from_raw_os_error(last_errno())))
    } else {
        Ok(())
    }
}

/// Sets the execution domain (`PER_LINUX` = 0, `PER_LINUX32` = 8) and flags.
pub fn set_personality(persona: u64) -> Result<()> {
    // SAFETY: personality takes an integer and touches no memory.
    let ret = unsafe { libc::syscall(libc::SYS_personality, persona) };
    check(ret, "personality")
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level)` for the calling process.
pub fn set_io_priority(class: u32, level: u32) -> Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    let value = (class << 13) | (level & 0x1fff);
    // SAFETY: ioprio_set takes three integers and touches no memory.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    check(ret, "ioprio_set")
}

/// `struct sched_attr`, version 1 (56 bytes, with the utilisation clamps).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    /// Size of the structure (filled in by [`set_scheduler`]).
    pub size: u32,
    /// SCHED_OTHER 0, FIFO 1, RR 2, BATCH 3, ISO 4, IDLE 5, DEADLINE 6.
    pub policy: u32,
    /// SCHED_FLAG_* bits.
    pub flags: u64,
    /// Nice value (OTHER, BATCH).
    pub nice: i32,
    /// Static priority (FIFO, RR).
    pub priority: u32,
    /// DEADLINE runtime, ns.
    pub runtime: u64,
    /// DEADLINE deadline, ns.
    pub deadline: u64,
    /// DEADLINE period, ns.
    pub period: u64,
    /// Utilisation clamp minimum.
    pub util_min: u32,
    /// Utilisation clamp maximum.
    pub util_max: u32,
}

/// `sched_setattr(0, attr, 0)` for the calling thread.
pub fn set_scheduler(mut attr: SchedAttr) -> Result<()> {
    attr.size = u32::try_from(std::mem::size_of::<SchedAttr>()).unwrap_or(56);
    // SAFETY: `attr` is a version-1 `struct sched_attr` with its size set; it lives across
    // the call and the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0u32) };
    check(ret, "sched_setattr")
}

/// `set_mempolicy(mode | flags, nodemask, maxnode)`.
pub fn set_mempolicy(mode_and_flags: i32, nodemask: &[u64]) -> Result<()> {
    let maxnode = nodemask.len() * 64 + 1;
    let ptr = if nodemask.is_empty() { std::ptr::null() } else { nodemask.as_ptr() };
    // SAFETY: `ptr` is null or points to `nodemask`, which holds `maxnode - 1` bits and
    // outlives the call; the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode_and_flags, ptr, maxnode) };
    check(ret, "set_mempolicy")
}
