//! Waiting for a container's news without polling on a timer: an inotify instance that
//! wakes on writes to its log and on files appearing in its run directory (the monitor's
//! exit file is renamed into place there, `runtime-deleted` is created there).
//!
//! `berth run` (foreground), `logs -f`, `wait`, `start -a` and `rm -f` used to sleep 10 or
//! 20 ms between looks, which put 5–10 ms on average (up to 20) between a container's exit
//! and `berth run` returning. A wake-up still re-reads the record and the files: inotify
//! only says "look now". Waits keep a timeout, so what inotify cannot see (a monitor or an
//! init that died without writing anything, an exit recorded by another `berth`) is
//! still noticed, as before, only later.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::inotify;

/// An inotify instance watching one container, or nothing (inotify unavailable: the waits
/// below then sleep their timeout, capped to the old polling interval).
#[derive(Debug)]
pub(crate) struct Watch {
    fd: Option<OwnedFd>,
}

/// The longest a wait sleeps when inotify could not be set up.
const FALLBACK: Duration = Duration::from_millis(20);

impl Watch {
    /// Watches `files` (modified) and `dirs` (a file created, closed after writing, or moved
    /// in). A path that does not exist yet is skipped: callers watch its directory too.
    pub(crate) fn new(files: &[&Path], dirs: &[&Path]) -> Watch {
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
        Watch { fd }
    }

    /// Returns once something happened to the watched paths (possibly before this call:
    /// events queue up) or after `timeout`. Drains the queued events.
    pub(crate) fn wait(&self, timeout: Duration) {
        let Some(fd) = &self.fd else {
            std::thread::sleep(timeout.min(FALLBACK));
            return;
        };
        let ts = Timespec::try_from(timeout).unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 });
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        if poll(&mut fds, Some(&ts)).unwrap_or(0) == 0 {
            return;
        }
        let mut buf = [0u8; 4096];
        while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
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
        assert!(w.fd.is_some(), "inotify is available on Linux");
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
}
