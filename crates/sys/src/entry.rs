//! A program entry without Rust's runtime set-up, for `berth-runtime`, which starts five
//! times per container (docs/adr/0014-c-main-for-the-runtime.md).
//!
//! Rust's `fn main` runs `std::rt::init` first: it checks that descriptors 0–2 are open
//! (`poll`), ignores SIGPIPE, and installs the stack-overflow handler, for which glibc reads
//! and parses `/proc/self/maps` to find the main thread's stack, then an alternate signal
//! stack is mapped and four signal actions set. On the bench host that is 0.06 ms of a
//! 0.9 ms `state`. [`crate::c_main!`] defines C's `main` instead and does only the first two.
//! What is lost: the "has overflowed its stack" message (an overflow is a plain SIGSEGV;
//! berth-runtime's recursion is bounded: serde_json's depth limit, the 40-link limit of
//! path resolution) and the main thread's name in panic messages. Arguments and the
//! environment are unaffected: std reads them from glibc's start-up, not from `main`.

use std::ffi::c_int;

/// Defines the program's C `main`, which runs `$run` (a `fn() -> u8` giving the exit code)
/// after [`start`], and exits through `std::process::exit` (which flushes stdout). Use it
/// in a `#![no_main]` binary.
#[macro_export]
macro_rules! c_main {
    ($run:path) => {
        // The C entry point glibc's start-up calls; a `#![no_main]` binary has no other
        // `main` symbol. Nothing here is unsafe to call: argc/argv are not used (std has
        // them already).
        #[unsafe(no_mangle)]
        extern "C" fn main(
            _argc: ::std::ffi::c_int,
            _argv: *const *const ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            $crate::entry::run($run)
        }
    };
}

/// Sets up what berth needs of Rust's runtime ([`start`]), runs `f` and exits with its code.
pub fn run(f: fn() -> u8) -> c_int {
    start();
    std::process::exit(c_int::from(f()))
}

/// The part of `std::rt::init` that matters here: descriptors 0, 1 and 2 exist (a closed
/// one is opened on `/dev/null`, so that no file opened later takes its number and
/// receives what is printed), and SIGPIPE is ignored (a write to a closed pipe then fails
/// with EPIPE, which the caller handles, instead of killing the process).
pub fn start() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
    // SAFETY: `fds` is a valid array of three pollfd for the duration of the call; a zero
    // timeout makes it return at once. POLLNVAL in `revents` marks a closed descriptor.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if polled >= 0 {
        for p in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
            reopen_on_dev_null(p.fd);
        }
    }
    // SAFETY: installing SIG_IGN involves no handler code; SIGPIPE is a valid signal.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Opens `/dev/null` as `fd` (the lowest free number is the closed one; anything else is
/// left alone: a process that closed its stdio and then opened others gets no surprise).
fn reopen_on_dev_null(fd: c_int) {
    let flags = rustix::fs::OFlags::RDWR; // no CLOEXEC: stdio is inherited
    if let Ok(null) = rustix::fs::open("/dev/null", flags, rustix::fs::Mode::empty()) {
        use std::os::fd::IntoRawFd;
        let got = null.into_raw_fd();
        if got != fd {
            // SAFETY: `got` was just opened here and is owned by nobody else.
            unsafe { libc::close(got) };
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn start_leaves_open_stdio_alone_and_ignores_sigpipe() {
        super::start();
        // SAFETY: reading the current disposition (null new action) changes nothing.
        let old = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old);
            old.sa_sigaction
        };
        assert_eq!(old, libc::SIG_IGN);
        for fd in 0..3 {
            assert!(rustix::io::fcntl_getfd(stdio(fd)).is_ok());
        }
    }

    fn stdio(fd: i32) -> std::os::fd::BorrowedFd<'static> {
        // SAFETY: 0..3 stay open for the whole test process.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
    }
}
