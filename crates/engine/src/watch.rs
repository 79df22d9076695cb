//! Waiting for a container's news without polling on a timer.
//!
//! Two sources, one interface (`Watch::wait`: "look now"):
//!
//! - **The monitor's pipe** ([`MonitorPipe`]), for the `berth` that started the monitor
//!   (foreground `run`): the pipe the monitor answered `ok PID` on stays open; the monitor
//!   writes a byte to it after each append to the log and once the exit file is in place,
//!   and closes it after its `runtime delete` (or the kernel closes it when the monitor
//!   dies), which `run --rm` waits for instead of the monitor's exit. No inotify instance.
//! - **inotify** for everyone else (`logs -f`, `wait`, `start -a`, `rm -f`, `stop`): it wakes
//!   on writes to the log and on files appearing in the run directory (the monitor's exit
//!   file is renamed into place there, `runtime-deleted` is created there).
//!
//! Why the pipe where it can be had: closing an inotify instance that had watches waits for
//! the kernel's fsnotify mark reaper (`fsnotify_destroy_group` →
//! `fsnotify_wait_marks_destroyed` → `flush_delayed_work` → `synchronize_srcu`), 4–23 ms in
//! 71 of 80 closes measured over 40 foreground `run --rm`s; a process exiting with the
//! instance open pays the same before its parent hears of it
//! (`bench/results/2026-11-29-engine-wait.md`).
//!
//! A wake-up still re-reads the record and the files: neither source is trusted for the
//! state itself. Waits keep a timeout, so what neither can see (an init that died without
//! anything written, an exit recorded by another `berth`) is still noticed, only later.

use std::cell::Cell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::inotify;

/// The read end of the pipe a monitor answers its starter on (`monitor` module docs): a
/// byte per log append and one after the exit file, end-of-file once the runtime's
/// container is deleted or the monitor is gone.
#[derive(Debug)]
pub struct MonitorPipe(OwnedFd);

impl MonitorPipe {
    /// Wraps the read end of the monitor's stdout pipe (non-blocking).
    pub fn new(fd: OwnedFd) -> MonitorPipe {
        MonitorPipe(fd)
    }

    /// Waits (at most `timeout`) for the end of the pipe: the monitor has recorded the exit
    /// and deleted the runtime's container, or is gone. False on timeout.
    pub(crate) fn wait_end(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(&self.0, &mut buf) {
                Ok(0) => return true,
                Ok(_) | Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => {}
                Err(_) => return true,
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            let ts = Timespec::try_from(left).unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 });
            let mut fds = [PollFd::new(&self.0, PollFlags::IN)];
            let _ = poll(&mut fds, Some(&ts));
        }
    }
}

/// What a [`Watch`] sleeps on.
#[derive(Debug)]
enum Source<'a> {
    /// An inotify instance with at least one watch.
    Inotify(OwnedFd),
    /// The monitor's pipe; `ended`: end-of-file was read, so polling it would return at
    /// once for ever (a monitor killed before its container exited): sleep instead.
    Monitor { fd: BorrowedFd<'a>, ended: Cell<bool> },
    /// Neither could be had: sleep the timeout, capped to the old polling interval.
    Sleep,
}

/// One waiter's source of wake-ups for one container.
#[derive(Debug)]
pub(crate) struct Watch<'a> {
    source: Source<'a>,
}

/// The longest a wait sleeps when it has nothing to sleep on.
const FALLBACK: Duration = Duration::from_millis(20);

impl<'a> Watch<'a> {
    /// Watches `files` (modified) and `dirs` (a file created, closed after writing, or moved
    /// in). A path that does not exist yet is skipped: callers watch its directory too.
    pub(crate) fn new(files: &[&Path], dirs: &[&Path]) -> Watch<'a> {
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .ok()
            .filter(|fd| {
                let mut any = false;
                for f in files {
                    any |= inotify::add_watch(fd, *f, inotify::WatchFlags::MODIFY).is_ok();
                }
                let in_dir = inotify::WatchFlags::CREATE
                    | inotify::WatchFlags::CLOSE_WRITE
                    | inotify::WatchFlags::MOVED_TO;
                for d in dirs {
                    any |= inotify::add_watch(fd, *d, in_dir).is_ok();
                }
                any
            });
        Watch { source: fd.map_or(Source::Sleep, Source::Inotify) }
    }

    /// The monitor's pipe when the caller has it, else `Watch::new(files, dirs)`.
    pub(crate) fn monitor_or(
        monitor: Option<&'a MonitorPipe>,
        files: &[&Path],
        dirs: &[&Path],
    ) -> Watch<'a> {
        match monitor {
            Some(m) => {
                Watch { source: Source::Monitor { fd: m.0.as_fd(), ended: Cell::new(false) } }
            }
            None => Watch::new(files, dirs),
        }
    }

    /// Returns once something happened (possibly before this call: events and bytes queue
    /// up) or after `timeout`. Drains what is queued.
    pub(crate) fn wait(&self, timeout: Duration) {
        let fd = match &self.source {
            Source::Inotify(fd) => fd.as_fd(),
            Source::Monitor { fd, ended } if !ended.get() => *fd,
            Source::Monitor { .. } | Source::Sleep => {
                std::thread::sleep(timeout.min(FALLBACK));
                return;
            }
        };
        let ts = Timespec::try_from(timeout).unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 });
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        if poll(&mut fds, Some(&ts)).unwrap_or(0) == 0 {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(fd, &mut buf) {
                Ok(0) => {
                    if let Source::Monitor { ended, .. } = &self.source {
                        ended.set(true);
                    }
                    return;
                }
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_file_moved_into_the_directory_wakes_the_waiter_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let w = Watch::new(&[], &[tmp.path()]);
        assert!(matches!(w.source, Source::Inotify(_)), "inotify is available on Linux");
        let dir = tmp.path().to_path_buf();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::write(dir.join("exit.tmp"), "0\n").unwrap();
            std::fs::rename(dir.join("exit.tmp"), dir.join("exit")).unwrap();
        });
        let start = Instant::now();
        w.wait(Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(5), "woken by the new file");
        t.join().unwrap();
    }

    #[test]
    fn a_write_to_a_watched_file_wakes_and_quiet_times_out() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("container.log");
        std::fs::write(&log, "").unwrap();
        let w = Watch::new(&[&log], &[]);
        std::fs::write(&log, "x").unwrap();
        let start = Instant::now();
        w.wait(Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(5), "the queued event wakes it");
        // drained: nothing new, so the next wait times out
        let start = Instant::now();
        w.wait(Duration::from_millis(100));
        assert!(start.elapsed() >= Duration::from_millis(90), "no event left");
    }

    #[test]
    fn the_monitor_pipe_wakes_on_a_byte_and_on_its_end_then_sleeps() {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        // Non-blocking as the monitor's starter gets it from `run::launch`.
        rustix::fs::fcntl_setfl(&r, rustix::fs::OFlags::NONBLOCK).unwrap();
        let m = MonitorPipe::new(r);
        let watch = Watch::monitor_or(Some(&m), &[], &[]);
        rustix::io::write(&w, b"x").unwrap();
        let start = Instant::now();
        watch.wait(Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(5), "the byte wakes it");
        let start = Instant::now();
        watch.wait(Duration::from_millis(100));
        assert!(start.elapsed() >= Duration::from_millis(90), "drained: nothing left");
        drop(w);
        let start = Instant::now();
        watch.wait(Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(5), "end-of-file wakes it");
        // After the end the pipe is always ready: the waiter sleeps rather than spins.
        let start = Instant::now();
        watch.wait(Duration::from_millis(100));
        assert!(start.elapsed() >= Duration::from_millis(15), "sleeps after the end");
    }
}
