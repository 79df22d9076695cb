//! `execve(2)`, and the sealed-memfd re-exec of the runtime binary.

use std::ffi::{CStr, CString, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{MemfdFlags, Mode, OFlags, SealFlags};
use rustix::io::Errno;

use crate::clone::last_errno;
use crate::error::{Context, Error, Result};

/// Replaces the process image. Returns only on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> Error {
    let argv_ptrs = null_terminated(argv);
    let envp_ptrs = null_terminated(envp);
    // SAFETY: `path` is NUL-terminated; both pointer arrays are NULL-terminated and point into
    // `argv`/`envp`, which outlive the call. execve only returns on failure.
    unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
    let p = Path::new(std::ffi::OsStr::from_bytes(path.to_bytes()));
    Error::new("exec", Some(p), Errno::from_raw_os_error(last_errno()))
}

fn null_terminated(items: &[CString]) -> Vec<*const libc::c_char> {
    items.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
}

const SEALS: SealFlags =
    SealFlags::SEAL.union(SealFlags::SHRINK).union(SealFlags::GROW).union(SealFlags::WRITE);

/// How the running binary is protected from being overwritten through `/proc/PID/exe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// The binary is reached through a read-only mount: opening it for writing fails with
    /// EROFS whatever the caller's privileges.
    ReadOnlyMount,
    /// The binary is a sealed anonymous copy (memfd); writes could only reach the copy.
    SealedMemfd,
}

/// Makes sure the running binary cannot be overwritten from a container (CVE-2019-5736).
///
/// A process inside a container can open `/proc/<runtime pid>/exe` (the init waiting for
/// `start`, or a process joining the container) and write through it to the runtime binary
/// on the host. Returns at once if the binary is already protected; otherwise re-executes
/// the same argv and environment from a protected image and never returns:
///
/// 1. Preferred: a detached, read-only bind mount of the binary's directory
///    (`open_tree(OPEN_TREE_CLONE)` + `mount_setattr(MOUNT_ATTR_RDONLY)`), executed with
///    `execveat`. No copy, no page-cache duplication; the mount is attached nowhere, so no
///    other namespace can see, remount or unmount it, and it disappears with the last
///    process running from it. (runc 1.2 uses a detached read-only overlayfs for the same
///    reason.)
/// 2. Where that is refused (no mount privilege, an old kernel): a sealed memfd copy, as
///    runc ≤ 1.1 and youki do.
pub fn ensure_protected_self() -> Result<Protection> {
    let exe = Path::new("/proc/self/exe");
    let file = std::fs::File::open(exe).op_path("open", exe)?;
    if rustix::fs::fcntl_get_seals(&file).is_ok_and(|s| s.contains(SEALS)) {
        return Ok(Protection::SealedMemfd);
    }
    let st = rustix::fs::fstatvfs(&file).op_path("statvfs", exe)?;
    if st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
        return Ok(Protection::ReadOnlyMount);
    }
    let err = reexec_from_readonly_mount();
    if matches!(err.errno, Errno::PERM | Errno::NOSYS | Errno::INVAL | Errno::NOENT) {
        return Err(reexec_from_sealed_memfd(file));
    }
    Err(err)
}

/// `ensure_protected_self` forcing the sealed-memfd method (kept for tests and comparison).
pub fn ensure_sealed_self() -> Result<()> {
    let exe = Path::new("/proc/self/exe");
    let file = std::fs::File::open(exe).op_path("open", exe)?;
    if rustix::fs::fcntl_get_seals(&file).is_ok_and(|s| s.contains(SEALS)) {
        return Ok(());
    }
    Err(reexec_from_sealed_memfd(file))
}

/// Re-executes through a detached read-only mount; returns only on failure.
fn reexec_from_readonly_mount() -> Error {
    use rustix::mount::OpenTreeFlags;
    let exe = Path::new("/proc/self/exe");
    let target = match std::fs::read_link(exe).op_path("readlink", exe) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Error::new("locate binary", Some(&target), Errno::NOENT);
    };
    // A binary replaced since we started reads as "name (deleted)": use the memfd copy.
    if !target.exists() {
        return Error::new("locate binary", Some(&target), Errno::NOENT);
    }
    let flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    let tree = match rustix::mount::open_tree(rustix::fs::CWD, dir, flags).op_path("open_tree", dir)
    {
        Ok(t) => t,
        Err(e) => return e,
    };
    use crate::mount::MountAttr;
    let readonly = MountAttr::RDONLY | MountAttr::NOSUID | MountAttr::NODEV;
    if let Err(e) = crate::mount::set_attr(&tree, readonly, MountAttr::EMPTY, false, dir) {
        return e;
    }
    match rustix::fs::openat(&tree, name, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()) {
        Ok(bin) => Error { path: Some(target.clone()), ..execveat_self(&bin) },
        Err(e) => Error::new("open", Some(&target), e),
    }
}

/// execveat(fd, "", argv, environ, AT_EMPTY_PATH) with this process's argv and environment.
fn execveat_self(fd: &impl AsFd) -> Error {
    let argv = cstrings(std::env::args_os());
    let envp = cstrings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k;
        kv.push("=");
        kv.push(v);
        kv
    }));
    let argv_ptrs = null_terminated(&argv);
    let envp_ptrs = null_terminated(&envp);
    // SAFETY: the descriptor is open across the call; the path is an empty NUL-terminated
    // string with AT_EMPTY_PATH; argv/envp pointer arrays are NULL-terminated and point into
    // vectors that outlive the call. execveat only returns on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_fd().as_raw_fd(),
            c"".as_ptr(),
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Error::new("execveat", None, Errno::from_raw_os_error(last_errno()))
}

/// Re-executes from a sealed memfd copy; returns only on failure.
fn reexec_from_sealed_memfd(mut file: std::fs::File) -> Error {
    let exe = Path::new("/proc/self/exe");
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    let memfd = match rustix::fs::memfd_create(c"berth-runtime", flags).op("memfd_create") {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    let mut out = std::fs::File::from(memfd);
    if let Err(e) = copy_all(&mut file, &mut out).op_path("copy to memfd", exe) {
        return e;
    }
    if let Err(e) = rustix::fs::fcntl_add_seals(&out, SEALS).op("seal memfd") {
        return e;
    }
    // The memfd is close-on-exec, which is fine for an ELF binary: the kernel has it open
    // before it closes close-on-exec descriptors.
    Error { op: "exec sealed copy of".into(), path: Some(exe.to_path_buf()), ..execveat_self(&out) }
}

fn copy_all(from: &mut std::fs::File, to: &mut std::fs::File) -> std::io::Result<()> {
    let len = from.metadata()?.len();
    // sendfile copies in the kernel; fall back to a plain loop where it is refused.
    let mut done = 0u64;
    while done < len {
        let chunk = usize::try_from(len - done).unwrap_or(usize::MAX);
        match rustix::fs::sendfile(&*to, &*from, None, chunk) {
            Ok(0) => break,
            Ok(n) => done += n as u64,
            Err(_) => {
                let mut buf = Vec::new();
                from.read_to_end(&mut buf)?;
                return to.write_all(&buf);
            }
        }
    }
    Ok(())
}

fn cstrings(items: impl Iterator<Item = OsString>) -> Vec<CString> {
    // An argument with an interior NUL cannot come from a real argv; drop such items.
    items.filter_map(|s| CString::new(s.as_bytes()).ok()).collect()
}
