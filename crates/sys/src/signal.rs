//! Signal masks and synchronous signal waits.
//!
//! The foreground `run` blocks the signals it forwards and takes them one at a time with
//! `sigtimedwait(2)`, so no handler runs asynchronously and no state is shared with one.

use std::time::Duration;

use rustix::io::Errno;

use crate::clone::last_errno;
use crate::error::{Error, Result};

/// A set of signals.
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl std::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigSet")
    }
}

impl SigSet {
    /// Every signal.
    pub fn full() -> SigSet {
        // SAFETY: sigfillset initialises the zeroed set it is given; a zeroed sigset_t is a
        // valid value to pass.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut set);
            SigSet(set)
        }
    }

    /// No signal.
    pub fn empty() -> SigSet {
        // SAFETY: as in `full`.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            SigSet(set)
        }
    }
}

impl SigSet {
    /// The set of the given signal numbers (invalid numbers are ignored).
    pub fn of(signals: &[i32]) -> SigSet {
        let mut set = SigSet::empty();
        for s in signals {
            // SAFETY: `set.0` is an initialised sigset_t; sigaddset only rejects an invalid
            // number with EINVAL, which is ignored.
            unsafe { libc::sigaddset(&mut set.0, *s) };
        }
        set
    }
}

/// Adds `set` to the calling thread's blocked signals (threads spawned later inherit it).
pub fn block(set: &SigSet) -> Result<()> {
    // SAFETY: `set` is initialised and outlives the call; the old mask is not wanted (null).
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set.0, std::ptr::null_mut()) };
    if ret == 0 {
        Ok(())
    } else {
        Err(Error::new("sigprocmask", None, Errno::from_raw_os_error(ret)))
    }
}

/// Sets the calling thread's signal mask, returning the previous one.
pub fn set_mask(set: &SigSet) -> Result<SigSet> {
    let mut old = SigSet::empty();
    // SAFETY: both pointers refer to initialised sigset_t values that outlive the call.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &set.0, &mut old.0) };
    if ret == 0 {
        Ok(old)
    } else {
        Err(Error::new("sigprocmask", None, Errno::from_raw_os_error(ret)))
    }
}

/// Makes the child of `cmd` start with no blocked signal, whatever its parent blocks: a
/// supervisor that takes its signals with [`wait`] blocks them all, a signal mask survives
/// `execve`, and `std` resets it only on some of its spawn paths.
pub fn unblock_in_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let empty = SigSet::empty();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it makes one `pthread_sigmask` call (the
    // `rt_sigprocmask` system call, async-signal-safe) on a set copied in before the fork,
    // allocates nothing and touches no lock; a failure would leave the mask as it was.
    unsafe {
        cmd.pre_exec(move || {
            libc::pthread_sigmask(libc::SIG_SETMASK, &empty.0, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// Waits up to `timeout` for one of the signals in `set` (which must be blocked).
pub fn wait(set: &SigSet, timeout: Duration) -> Result<Option<i32>> {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `set` and `ts` are initialised and outlive the call; a null siginfo pointer is
    // allowed.
    let ret = unsafe { libc::sigtimedwait(&set.0, std::ptr::null_mut(), &ts) };
    if ret >= 0 {
        return Ok(Some(ret));
    }
    match last_errno() {
        libc::EAGAIN | libc::EINTR => Ok(None),
        e => Err(Error::new("sigtimedwait", None, Errno::from_raw_os_error(e))),
    }
}

/// Restores the default disposition of every signal.
///
/// Ignored signals stay ignored across exec, and the Rust runtime ignores SIGPIPE at start-up:
/// without this the container's processes would inherit that.
pub fn reset_dispositions() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL involves no handler code; an invalid or reserved signal
        // number only makes the call fail, which is harmless and ignored here.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}
