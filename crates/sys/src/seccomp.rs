//! seccomp: a filter built with libseccomp and exported as a classic BPF program, and the raw
//! `seccomp(2)` call that installs such a program.
//!
//! The two halves run in different processes on purpose. The runtime builds and exports the
//! program in its own process before `clone3` ([`Filter`], [`Filter::export`]), so libseccomp's
//! allocations are never charged to the container's memory cgroup; the container's init only
//! calls [`load`] on the finished instructions, the last thing before `execve`.
//!
//! libseccomp is linked from Debian's `libseccomp-dev` (`-lseccomp`); a static build
//! (`crt-static`) picks `libseccomp.a`.

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use rustix::io::Errno;

use crate::clone::last_errno;
use crate::error::{Error, Result};

/// Actions, as libseccomp's `SCMP_ACT_*` (the kernel's `SECCOMP_RET_*` values).
pub mod action {
    /// Kill the calling thread (`SCMP_ACT_KILL`, `SCMP_ACT_KILL_THREAD`).
    pub const KILL_THREAD: u32 = 0x0000_0000;
    /// Kill the whole process, as by SIGSYS (`SCMP_ACT_KILL_PROCESS`).
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    /// Send SIGSYS (`SCMP_ACT_TRAP`).
    pub const TRAP: u32 = 0x0003_0000;
    /// Hand the call to a user-space agent over the listener fd (`SCMP_ACT_NOTIFY`).
    pub const NOTIFY: u32 = 0x7fc0_0000;
    /// Allow and log (`SCMP_ACT_LOG`).
    pub const LOG: u32 = 0x7ffc_0000;
    /// Allow (`SCMP_ACT_ALLOW`).
    pub const ALLOW: u32 = 0x7fff_0000;

    /// Fail the call with `errno` (`SCMP_ACT_ERRNO(errno)`); the kernel keeps 16 bits.
    pub const fn errno(errno: u16) -> u32 {
        0x0005_0000 | errno as u32
    }

    /// Notify a ptrace tracer with `msg` (`SCMP_ACT_TRACE(msg)`).
    pub const fn trace(msg: u16) -> u32 {
        0x7ff0_0000 | msg as u32
    }
}

/// `seccomp(2)` filter flags (`SECCOMP_FILTER_FLAG_*` in `<linux/seccomp.h>`).
pub mod flag {
    /// Synchronise every thread of the process to the filter.
    pub const TSYNC: u32 = 1 << 0;
    /// Log every action but allow.
    pub const LOG: u32 = 1 << 1;
    /// Keep the speculative store bypass mitigation off.
    pub const SPEC_ALLOW: u32 = 1 << 2;
    /// Return a notification listener fd (needed by `SCMP_ACT_NOTIFY`).
    pub const NEW_LISTENER: u32 = 1 << 3;
    /// Waiting for the agent's answer is killable once the agent has received it (5.19).
    pub const WAIT_KILLABLE_RECV: u32 = 1 << 5;
}

/// One argument condition, as libseccomp's `struct scmp_arg_cmp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCmp {
    /// Argument index, 0 to 5.
    pub arg: c_uint,
    /// Operator, `enum scmp_compare`: see [`cmp`].
    pub op: c_int,
    /// First operand (the mask for [`cmp::MASKED_EQ`]).
    pub datum_a: u64,
    /// Second operand (the value compared after masking for [`cmp::MASKED_EQ`]).
    pub datum_b: u64,
}

/// `enum scmp_compare`.
pub mod cmp {
    /// `SCMP_CMP_NE`.
    pub const NE: i32 = 1;
    /// `SCMP_CMP_LT`.
    pub const LT: i32 = 2;
    /// `SCMP_CMP_LE`.
    pub const LE: i32 = 3;
    /// `SCMP_CMP_EQ`.
    pub const EQ: i32 = 4;
    /// `SCMP_CMP_GE`.
    pub const GE: i32 = 5;
    /// `SCMP_CMP_GT`.
    pub const GT: i32 = 6;
    /// `SCMP_CMP_MASKED_EQ`.
    pub const MASKED_EQ: i32 = 7;
}

/// `SCMP_FLTATR_CTL_OPTIMIZE` in `enum scmp_filter_attr`.
const ATTR_OPTIMIZE: c_int = 8;

#[link(name = "seccomp")]
extern "C" {
    fn seccomp_init(def_action: u32) -> *mut c_void;
    fn seccomp_release(ctx: *mut c_void);
    fn seccomp_arch_add(ctx: *mut c_void, arch_token: u32) -> c_int;
    fn seccomp_attr_set(ctx: *mut c_void, attr: c_int, value: u32) -> c_int;
    fn seccomp_syscall_resolve_name(name: *const c_char) -> c_int;
    fn seccomp_rule_add_array(
        ctx: *mut c_void,
        action: u32,
        syscall: c_int,
        arg_cnt: c_uint,
        arg_array: *const ArgCmp,
    ) -> c_int;
    fn seccomp_export_bpf(ctx: *const c_void, fd: c_int) -> c_int;
    fn seccomp_api_get() -> c_uint;
}

/// libseccomp's API level: what the library and the running kernel support together
/// (3: `SCMP_ACT_LOG`, `SCMP_ACT_KILL_PROCESS`; 4: `SPEC_ALLOW`; 5: `SCMP_ACT_NOTIFY`).
pub fn api_level() -> u32 {
    // SAFETY: takes no arguments; probes the kernel once and caches the answer.
    unsafe { seccomp_api_get() }
}

/// The syscall number of `name` on the native architecture, or `None` when libseccomp does
/// not know it (or it does not exist on this architecture).
pub fn syscall_number(name: &str) -> Option<i32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call, which only reads it.
    let nr = unsafe { seccomp_syscall_resolve_name(c.as_ptr()) };
    // __NR_SCMP_ERROR is -1. Other negative numbers are libseccomp's pseudo-syscalls for
    // calls the native architecture lacks (socketcall, stat64 …): rules with them apply to
    // the filter's other architectures (x86 beside x86_64), so they are kept, as runc does.
    (nr != -1).then_some(nr)
}

/// A libseccomp filter being built (`scmp_filter_ctx`). Not `Send`: libseccomp contexts are
/// used from the thread that made them.
#[derive(Debug)]
pub struct Filter {
    ctx: NonNull<c_void>,
}

impl Filter {
    /// A filter for the native architecture whose action for unmatched calls is `default`.
    pub fn new(default: u32) -> Result<Filter> {
        // SAFETY: seccomp_init only reads its integer argument; it returns NULL on failure
        // (an invalid action), else a context we own until seccomp_release in Drop.
        let ctx = unsafe { seccomp_init(default) };
        NonNull::new(ctx)
            .map(|ctx| Filter { ctx })
            .ok_or_else(|| Error::new(format!("seccomp_init 0x{default:x}"), None, Errno::INVAL))
    }

    /// Adds an architecture (an `AUDIT_ARCH_*` token as in `SCMP_ARCH_*`). Already present
    /// (the native one) is fine.
    pub fn add_arch(&mut self, token: u32) -> Result<()> {
        // SAFETY: the context is live (owned by self); the token is a plain integer.
        let ret = unsafe { seccomp_arch_add(self.ctx.as_ptr(), token) };
        match ret {
            r if r == -libc::EEXIST => Ok(()),
            r => check(r, || format!("seccomp_arch_add 0x{token:x}")),
        }
    }

    /// Turns on libseccomp's binary-tree layout, faster for long rule lists.
    pub fn optimize_tree(&mut self) -> Result<()> {
        // SAFETY: the context is live; attribute and value are plain integers.
        let ret = unsafe { seccomp_attr_set(self.ctx.as_ptr(), ATTR_OPTIMIZE, 2) };
        check(ret, || "seccomp_attr_set optimize".to_string())
    }

    /// Adds a rule: `action` for `syscall` when every condition holds (AND).
    pub fn add_rule(&mut self, action: u32, syscall: i32, conds: &[ArgCmp]) -> Result<()> {
        let n = c_uint::try_from(conds.len()).unwrap_or(c_uint::MAX);
        // SAFETY: the context is live; `conds` is a slice of `n` repr(C) scmp_arg_cmp that
        // libseccomp only reads during the call.
        let ret = unsafe {
            seccomp_rule_add_array(self.ctx.as_ptr(), action, syscall, n, conds.as_ptr())
        };
        check(ret, || format!("seccomp_rule_add syscall {syscall} action 0x{action:x}"))
    }

    /// Compiles the filter into a BPF program. libseccomp 2.5 only exports to a descriptor,
    /// so it goes through a memfd.
    pub fn export(&self) -> Result<Program> {
        let memfd = rustix::fs::memfd_create("berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| Error::new("memfd_create", None, e))?;
        // SAFETY: the context is live; the descriptor is open for the whole call.
        let ret = unsafe { seccomp_export_bpf(self.ctx.as_ptr(), memfd.as_raw_fd()) };
        check(ret, || "seccomp_export_bpf".to_string())?;
        let mut file = std::fs::File::from(memfd);
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| Error::from_io("read exported seccomp program", None, &e))?;
        Program::from_bytes(&bytes)
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        // SAFETY: the context came from seccomp_init and is released exactly once, here.
        unsafe { seccomp_release(self.ctx.as_ptr()) }
    }
}

/// One classic BPF instruction, `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

/// A compiled filter, ready for [`load`].
#[derive(Clone, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Program({} instructions)", self.insns.len())
    }
}

impl Program {
    /// Parses `struct sock_filter` records in native byte order (libseccomp's export format).
    pub fn from_bytes(bytes: &[u8]) -> Result<Program> {
        if bytes.len() % 8 != 0 || bytes.is_empty() || bytes.len() / 8 > usize::from(u16::MAX) {
            return Err(Error::new("parse exported seccomp program", None, Errno::INVAL));
        }
        let insns = bytes
            .chunks_exact(8)
            .map(|c| Insn {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Ok(Program { insns })
    }

    /// The instructions.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`: installs `program` on the calling thread.
/// With [`flag::NEW_LISTENER`] returns the notification listener.
///
/// The kernel requires no_new_privs or CAP_SYS_ADMIN in the caller's user namespace.
pub fn load(program: &Program, flags: u32) -> Result<Option<OwnedFd>> {
    let len = u16::try_from(program.insns.len())
        .map_err(|_| Error::new("seccomp load", None, Errno::TOOBIG))?;
    let fprog = libc::sock_fprog { len, filter: program.insns.as_ptr() as *mut libc::sock_filter };
    // SAFETY: `fprog` points at `len` instructions laid out as `struct sock_filter` (Insn is
    // repr(C) with the same fields); the kernel copies them during the call and writes
    // nothing. Both live across the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_uint::from(flags),
            &fprog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(Error::new(
            format!("seccomp set filter (flags 0x{flags:x})"),
            None,
            Errno::from_raw_os_error(last_errno()),
        ));
    }
    if flags & flag::NEW_LISTENER == 0 {
        return Ok(None);
    }
    let fd = c_int::try_from(ret).map_err(|_| Error::new("seccomp listener", None, Errno::BADF))?;
    // SAFETY: with NEW_LISTENER the kernel returned a new descriptor that nothing else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Whether the running kernel knows the filter flags `flags`: seccomp(2) is called with no
/// program, which fails with EFAULT once the flags have been accepted and EINVAL before
/// (libseccomp probes the same way). Nothing is installed either way.
pub fn flags_supported(flags: u32) -> bool {
    // SAFETY: a NULL program pointer makes the kernel fail the call when it tries to copy the
    // program, after checking the flags; no memory is read or written on our side.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_uint::from(flags),
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret < 0 && last_errno() == libc::EFAULT
}

/// Whether libseccomp (this build) knows the architecture `token` (`SCMP_ARCH_*`).
pub fn arch_supported(token: u32) -> bool {
    Filter::new(action::ALLOW).and_then(|mut f| f.add_arch(token)).is_ok()
}

/// A notified syscall, as received by an agent (`struct seccomp_notif`, the useful part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// Cookie to answer with.
    pub id: u64,
    /// The calling thread, in the agent's pid namespace.
    pub pid: u32,
    /// Syscall number.
    pub nr: i32,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    /// The six raw arguments.
    pub args: [u64; 6],
}

/// Agent side: waits for the next notification on `listener` (`SECCOMP_IOCTL_NOTIF_RECV`).
pub fn notif_recv(listener: &OwnedFd) -> Result<Notification> {
    // SAFETY: seccomp_notif is a plain C struct for which all-zero is valid, and RECV wants
    // it zeroed; the kernel writes one into `req`, which outlives the call.
    let (ret, req) = unsafe {
        let mut req: libc::seccomp_notif = std::mem::zeroed();
        let ret = libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req);
        (ret, req)
    };
    if ret != 0 {
        return Err(Error::new("seccomp notif recv", None, Errno::from_raw_os_error(last_errno())));
    }
    let d = req.data;
    Ok(Notification { id: req.id, pid: req.pid, nr: d.nr, arch: d.arch, args: d.args })
}

/// Agent side: answers notification `id` (`SECCOMP_IOCTL_NOTIF_SEND`): the call returns
/// `val` when `errno` is 0, else fails with `errno`.
pub fn notif_send(listener: &OwnedFd, id: u64, val: i64, errno: i32) -> Result<()> {
    // SAFETY: seccomp_notif_resp is a plain C struct, all-zero valid; the kernel only reads
    // the one `resp`, which outlives the call.
    let ret = unsafe {
        let mut resp: libc::seccomp_notif_resp = std::mem::zeroed();
        resp.id = id;
        resp.val = val;
        resp.error = -errno;
        libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp)
    };
    if ret != 0 {
        return Err(Error::new("seccomp notif send", None, Errno::from_raw_os_error(last_errno())));
    }
    Ok(())
}

fn check(ret: c_int, op: impl FnOnce() -> String) -> Result<()> {
    // libseccomp returns 0 or a negated errno.
    if ret >= 0 {
        Ok(())
    } else {
        Err(Error::new(op(), None, Errno::from_raw_os_error(-ret)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MKDIR: i32 = 83; // x86_64; other architectures skip the number checks
    const PERSONALITY: i32 = 135;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn resolves_native_syscalls() {
        assert_eq!(syscall_number("mkdir"), Some(MKDIR));
        assert_eq!(syscall_number("no_such_syscall"), None);
    }

    #[test]
    fn exports_a_program_ending_in_a_return() {
        let mut f = Filter::new(action::ALLOW).expect("init");
        f.add_rule(action::errno(1), MKDIR, &[]).expect("rule");
        let cond = ArgCmp { arg: 0, op: cmp::EQ, datum_a: 7, datum_b: 0 };
        f.add_rule(action::KILL_PROCESS, PERSONALITY, &[cond]).expect("rule");
        let p = f.export().expect("export");
        assert!(p.insns().len() > 4);
        // BPF_RET | BPF_K
        assert!(p.insns().iter().any(|i| i.code == 0x06 && i.k == action::ALLOW));
    }

    #[test]
    fn probes_flags_and_arches() {
        assert!(flags_supported(flag::LOG));
        assert!(!flags_supported(1 << 30));
        assert!(arch_supported(0xc000_003e), "x86_64");
        assert!(!arch_supported(0x1234));
    }

    #[test]
    fn invalid_action_is_refused() {
        assert!(Filter::new(0x1234_5678).is_err());
    }

    #[test]
    fn malformed_program_is_refused() {
        assert!(Program::from_bytes(&[0; 7]).is_err());
        assert!(Program::from_bytes(&[]).is_err());
    }
}
