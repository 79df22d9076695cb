//! Sending any signal number, including the real-time ones `rustix::process::Signal` cannot
//! name safely.

use std::os::fd::{AsFd, AsRawFd};

use rustix::io::Errno;

use crate::clone::last_errno;
use crate::error::{Error, Result};

/// `pidfd_send_signal(2)` with a raw signal number.
pub fn pidfd_send_signal(pidfd: impl AsFd, signo: i32) -> Result<()> {
    // SAFETY: the pidfd is a live borrowed descriptor; a null siginfo is allowed; an invalid
    // signal number makes the call fail with EINVAL.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_fd().as_raw_fd(),
            signo,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    match ret {
        0 => Ok(()),
        _ => Err(Error::new("pidfd_send_signal", None, Errno::from_raw_os_error(last_errno()))),
    }
}

/// `kill(2)` with a raw signal number.
pub fn kill(pid: i32, signo: i32) -> Result<()> {
    // SAFETY: kill takes two integers and touches no memory.
    let ret = unsafe { libc::kill(pid, signo) };
    match ret {
        0 => Ok(()),
        _ => Err(Error::new(format!("kill {pid}"), None, Errno::from_raw_os_error(last_errno()))),
    }
}
