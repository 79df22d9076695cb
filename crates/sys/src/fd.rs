//! Descriptor hygiene before exec (CVE-2024-21626).

use rustix::io::Errno;

use crate::clone::last_errno;
use crate::error::{Error, Result};

/// Marks every descriptor from `first` upwards close-on-exec, so that only stdio and the
/// descriptors the caller chose (`--preserve-fds`) survive the exec into the container.
///
/// Marking instead of closing leaves the Rust objects that own those descriptors valid.
pub fn cloexec_from(first: u32) -> Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on descriptors in the
    // range; it closes nothing, so no owner of a descriptor is invalidated.
    let ret =
        unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if ret == 0 {
        Ok(())
    } else {
        Err(Error::new("close_range", None, Errno::from_raw_os_error(last_errno())))
    }
}

/// Clears close-on-exec on descriptor number `fd` (a `--preserve-fds` descriptor inherited
/// from the caller, which no Rust object owns). A number that is not open is skipped.
pub fn keep_across_exec(fd: i32) -> Result<()> {
    // SAFETY: F_SETFD on a raw number only changes that descriptor's flags (or fails with
    // EBADF); it neither closes nor duplicates anything.
    let ret = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    match ret {
        0 => Ok(()),
        _ if last_errno() == libc::EBADF => Ok(()),
        _ => Err(Error::new("fcntl F_SETFD", None, Errno::from_raw_os_error(last_errno()))),
    }
}
