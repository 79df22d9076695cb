//! Freezing and thawing: v1 `freezer.state`, v2 `cgroup.freeze` (confirmed by the
//! `frozen` key of `cgroup.events`), and v2 `cgroup.kill`.
//!
//! Freezing is asynchronous: v1 shows `FREEZING` until every task has stopped (a task in an
//! uninterruptible sleep can keep it there), v2 flips `frozen` in `cgroup.events` when done.
//! We poll with a growing back-off; on v1 `FROZEN` is re-written now and then because a task
//! forked while freezing can leave the cgroup stuck in `FREEZING` (runc does the same). If it
//! never settles the cgroup is thawed again and the error names the file.

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::{file, Error};

/// Give up after this long: runc waits about as long before thawing again.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Freezes (`true`) or thaws (`false`) a v1 freezer cgroup and waits until it is done.
pub(crate) fn set_v1(dir: &Path, frozen: bool) -> Result<(), Error> {
    let (value, want) = if frozen { ("FROZEN", "FROZEN") } else { ("THAWED", "THAWED") };
    file::write(dir, "freezer.state", value)?;
    let start = Instant::now();
    let mut attempt = 0u32;
    loop {
        if file::read(dir, "freezer.state")? == want {
            return Ok(());
        }
        if start.elapsed() > TIMEOUT {
            if frozen {
                // Leave no half-frozen container behind.
                let _ = file::write(dir, "freezer.state", "THAWED");
            }
            return Err(timeout(dir.join("freezer.state"), want, start));
        }
        attempt += 1;
        if frozen && attempt % 25 == 0 {
            file::write(dir, "freezer.state", value)?;
        }
        sleep(backoff(attempt));
    }
}

/// True if the v1 freezer cgroup is `FROZEN` (a missing file, e.g. a removed cgroup, is not).
pub(crate) fn is_frozen_v1(dir: &Path) -> bool {
    file::read(dir, "freezer.state").is_ok_and(|s| s == "FROZEN")
}

/// Freezes or thaws a v2 cgroup and waits for `cgroup.events` to confirm.
pub(crate) fn set_v2(dir: &Path, frozen: bool) -> Result<(), Error> {
    file::write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    let start = Instant::now();
    let mut attempt = 0u32;
    loop {
        if file::read(dir, "cgroup.events")?.lines().any(|l| l == want) {
            return Ok(());
        }
        if start.elapsed() > TIMEOUT {
            if frozen {
                let _ = file::write(dir, "cgroup.freeze", "0");
            }
            return Err(timeout(dir.join("cgroup.events"), want, start));
        }
        attempt += 1;
        sleep(backoff(attempt));
    }
}

/// True if the v2 cgroup was asked to freeze (`cgroup.freeze` is 1), as runc reports it.
pub(crate) fn is_frozen_v2(dir: &Path) -> bool {
    file::read(dir, "cgroup.freeze").is_ok_and(|s| s == "1")
}

/// Writes `cgroup.kill` (Linux 5.14+): SIGKILL to every process in the subtree, atomically
/// with respect to forks. `Ok(false)` when the kernel has no such file.
pub(crate) fn kill_v2(dir: &Path) -> Result<bool, Error> {
    if !file::exists(dir, "cgroup.kill") {
        return Ok(false);
    }
    file::write(dir, "cgroup.kill", "1")?;
    Ok(true)
}

/// 100 µs, doubling up to 10 ms: most freezes finish in well under a millisecond.
fn backoff(attempt: u32) -> Duration {
    Duration::from_micros(100u64 << attempt.min(7)).min(Duration::from_millis(10))
}

fn timeout(path: std::path::PathBuf, state: &'static str, start: Instant) -> Error {
    let waited_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    Error::FreezeTimeout { path, state, waited_ms }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_fixture_settles_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("freezer.state"), "THAWED").unwrap();
        assert!(!is_frozen_v1(tmp.path()));
        // A plain file reads back what was written, like a freezer that froze at once.
        set_v1(tmp.path(), true).unwrap();
        assert!(is_frozen_v1(tmp.path()));
        set_v1(tmp.path(), false).unwrap();
        assert!(!is_frozen_v1(tmp.path()));
        assert!(!is_frozen_v1(&tmp.path().join("gone")));
    }

    #[test]
    fn v2_reads_events_and_kill() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cgroup.freeze"), "0").unwrap();
        std::fs::write(tmp.path().join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        set_v2(tmp.path(), true).unwrap();
        assert!(is_frozen_v2(tmp.path()));
        assert!(!kill_v2(tmp.path()).unwrap(), "no cgroup.kill: fall back");
        std::fs::write(tmp.path().join("cgroup.kill"), "").unwrap();
        assert!(kill_v2(tmp.path()).unwrap());
        assert_eq!(std::fs::read_to_string(tmp.path().join("cgroup.kill")).unwrap(), "1");
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), Duration::from_micros(100));
        assert_eq!(backoff(3), Duration::from_micros(800));
        assert_eq!(backoff(100), Duration::from_millis(10));
    }
}
