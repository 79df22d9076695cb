//! `clone3(2)`: how a container's init process is started.
//!
//! One `clone3` call creates the child directly inside its new namespaces (crun does the same;
//! runc needs a C constructor and two extra processes for it). `CLONE_PIDFD` hands the parent a
//! pidfd, so every later signal goes to this exact process and never to a recycled pid.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;

use crate::error::{Error, Result};

/// What `clone3` returned, seen from each side.
#[derive(Debug)]
pub enum Forked {
    /// We are the new process.
    Child,
    /// We are the caller; the child has this pid (in our pid namespace) and pidfd.
    Parent {
        /// The child's pid as seen from the caller.
        pid: i32,
        /// A pidfd referring to the child (`CLONE_PIDFD`).
        pidfd: OwnedFd,
    },
}

/// `struct clone_args` from `<linux/sched.h>` (the first 88 bytes: up to `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` from `<linux/sched.h>` (Linux 5.7); libc does not export it.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Forks like `fork(2)`, with the `CLONE_NEW*` bits of `ns_flags` creating new namespaces for
/// the child, optionally placing it straight into the cgroup v2 directory `cgroup_fd`.
///
/// # Safety
/// The calling process must be single-threaded. The child gets a copy of only the calling
/// thread; a lock (the allocator's, stdio's) held by another thread at the time of the call
/// would stay locked forever in the child. berth's runtime starts one short-lived thread
/// (the network namespace made ahead) and joins it before it calls this.
pub unsafe fn clone3(ns_flags: u64, cgroup_fd: Option<RawFd>) -> Result<Forked> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: ns_flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: `args` is a properly laid out `clone_args` that lives across the call and its
    // size is passed; `pidfd` outlives the call and the kernel writes one int there. With no
    // CLONE_VM and a null stack the child runs on a copy-on-write copy of our memory, exactly
    // like fork(2), so no Rust object is shared between the two processes. The caller
    // guarantees single-threadedness (see `# Safety`).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Error::new("clone3", None, Errno::from_raw_os_error(last_errno()))),
        0 => Ok(Forked::Child),
        pid => {
            // SAFETY: with CLONE_PIDFD the kernel stored a new, open pidfd that nothing else
            // owns; we take ownership of it exactly once.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            let pid = i32::try_from(pid).map_err(|_| Error::new("clone3", None, Errno::RANGE))?;
            Ok(Forked::Parent { pid, pidfd })
        }
    }
}

/// [`clone3`] after checking that the process is single-threaded, which is what makes it
/// sound; a multi-threaded caller gets `EDEADLK` instead of a child that could deadlock.
///
/// A thread the caller has just joined may still be counted for a moment: `pthread_join`
/// returns when the kernel clears the thread's tid (early in its exit, when it lets go of
/// the address space), and the thread leaves the process's count only when it is reaped at
/// the end of its exit. A joined thread runs no more user code, but the count cannot tell it
/// from a live one, so this waits up to [`JOINED_THREAD_GRACE`] for the count to reach one.
/// The gap is microseconds on a quiet host; a cgroup-v2 test VM under software emulation
/// once showed it past the first read.
pub fn clone3_checked(ns_flags: u64, cgroup_fd: Option<RawFd>) -> Result<Forked> {
    wait_for_one_thread(thread_count, JOINED_THREAD_GRACE)?;
    // SAFETY: the process has exactly one thread (checked above); nothing in this call starts
    // one in between.
    unsafe { clone3(ns_flags, cgroup_fd) }
}

/// How long [`clone3_checked`] waits for a joined thread to be reaped.
pub const JOINED_THREAD_GRACE: Duration = Duration::from_secs(1);

/// Polls `count` until it reports one thread, or `grace` has passed (`EDEADLK`).
fn wait_for_one_thread(mut count: impl FnMut() -> Option<usize>, grace: Duration) -> Result<()> {
    let deadline = Instant::now() + grace;
    loop {
        if count() == Some(1) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let e = Error::new("clone3 from a multi-threaded process", None, Errno::DEADLK);
            return Err(e);
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

pub(crate) fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Number of threads of the calling process, from `/proc/self/stat`.
pub fn thread_count() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 20 is num_threads; skip past the command name, which may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(17)?.parse().ok()
}

/// The `CLONE_NEW*` namespace bits [`unshare_namespaces`] accepts.
pub const NAMESPACE_FLAGS: u64 = 0x0002_0000 // CLONE_NEWNS
    | 0x0200_0000 // CLONE_NEWCGROUP
    | 0x0400_0000 // CLONE_NEWUTS
    | 0x0800_0000 // CLONE_NEWIPC
    | 0x1000_0000 // CLONE_NEWUSER
    | 0x2000_0000 // CLONE_NEWPID
    | 0x4000_0000 // CLONE_NEWNET
    | 0x0000_0080; // CLONE_NEWTIME

/// `unshare(2)` of namespaces only. Any other bit (CLONE_FILES, CLONE_FS, CLONE_SYSVSEM …)
/// is refused with EINVAL: those change state that Rust code in this process relies on.
pub fn unshare_namespaces(flags: u64) -> Result<()> {
    if flags & !NAMESPACE_FLAGS != 0 {
        return Err(Error::new("unshare of non-namespace flags", None, Errno::INVAL));
    }
    let bits = u32::try_from(flags).map_err(|_| Error::new("unshare", None, Errno::INVAL))?;
    let flags = rustix::thread::UnshareFlags::from_bits_retain(bits);
    // SAFETY: only namespace bits are passed (checked above). Entering new namespaces changes
    // which pid, mount, network … namespace this process or its future children use; it
    // shares or unshares no memory, descriptor table or fs state with other threads.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(|e| Error::new("unshare", None, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_thread_is_counted() {
        assert!(thread_count().unwrap_or(0) >= 1);
    }

    #[test]
    fn a_joined_thread_still_counted_is_waited_for() {
        let mut reads = [Some(2), Some(2), Some(1)].into_iter();
        let r = wait_for_one_thread(|| reads.next().flatten(), Duration::from_secs(5));
        assert!(r.is_ok());
        assert_eq!(reads.next(), None, "stopped at the first count of one");
    }

    #[test]
    fn a_live_second_thread_is_refused_after_the_grace() {
        let start = Instant::now();
        let err = wait_for_one_thread(|| Some(2), Duration::from_millis(20)).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(err.errno, Errno::DEADLK, "{err}");
    }

    #[test]
    fn clone3_from_this_multi_threaded_test_is_refused() {
        // The test harness runs this test on a thread of its own, beside the main thread.
        let err = clone3_checked(0, None).unwrap_err();
        assert_eq!(err.errno, Errno::DEADLK, "{err}");
    }
}
