//! `execve(2)`, and the sealed-memfd re-exec of the runtime binary.

use std::ffi::{CStr, CString, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{MemfdFlags, SealFlags};
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

/// Makes sure the running binary is a sealed, anonymous copy of itself.
///
/// CVE-2019-5736: a process inside a container can open `/proc/<runtime pid>/exe` (the init
/// waiting for `start`, or a process joining the container) and write through it to the
/// runtime binary on the host. If the binary we run from is a memfd sealed against writes, such
/// a write hits only that throw-away copy. On the first call this copies `/proc/self/exe` into
/// a memfd, seals it and re-executes from it with the same argv and environment; in the
/// re-executed process it finds the seals and returns at once.
pub fn ensure_sealed_self() -> Result<()> {
    let exe = Path::new("/proc/self/exe");
    let mut file = std::fs::File::open(exe).op_path("open", exe)?;
    if rustix::fs::fcntl_get_seals(&file).is_ok_and(|s| s.contains(SEALS)) {
        return Ok(());
    }
    let memfd =
        rustix::fs::memfd_create(c"berth-runtime", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
            .op("memfd_create")?;
    let mut out = std::fs::File::from(memfd);
    copy_all(&mut file, &mut out).op_path("copy to memfd", exe)?;
    rustix::fs::fcntl_add_seals(&out, SEALS).op("seal memfd")?;
    let argv = cstrings(std::env::args_os());
    let envp = cstrings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k;
        kv.push("=");
        kv.push(v);
        kv
    }));
    let argv_ptrs = null_terminated(&argv);
    let envp_ptrs = null_terminated(&envp);
    // SAFETY: the memfd is open for the duration of the call; argv/envp pointer arrays are
    // NULL-terminated and point into vectors that outlive it. fexecve only returns on failure.
    // The memfd is close-on-exec, which is fine for an ELF binary: the kernel has it open
    // before it closes close-on-exec descriptors.
    unsafe { libc::fexecve(out.as_fd().as_raw_fd(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
    Err(Error::new("fexecve sealed copy of", Some(exe), Errno::from_raw_os_error(last_errno())))
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
