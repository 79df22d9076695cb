//! Restart policies (`--restart no|on-failure[:N]|always|unless-stopped`), applied by the
//! monitor, and the files through which the engine and the monitor share them: the
//! `stopped-by-user` marker (written by `stop`, `kill` and `rm -f` before the signal, so a
//! policy never undoes them) and the restart count (`<container dir>/restarts`:
//! `COUNT\nTIME\n`, read for inspect's RestartCount).

use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

/// A parsed restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Never restart (Docker's default).
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max` times (0: without limit).
    OnFailure {
        /// `on-failure:N`.
        max: u32,
    },
    /// Restart after every exit.
    Always,
    /// Like `always`; without a daemon that restarts containers at boot the two only differ
    /// in name.
    UnlessStopped,
}

impl Policy {
    /// Parses Docker's syntax; an empty string is `no`.
    pub fn parse(text: &str) -> Result<Policy> {
        let bad = |reason: &str| Error::InvalidFlag {
            flag: "--restart",
            value: text.to_string(),
            reason: reason.into(),
        };
        let (name, count) = match text.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (text, None),
        };
        let policy = match name {
            "" | "no" => Policy::No,
            "always" => Policy::Always,
            "unless-stopped" => Policy::UnlessStopped,
            "on-failure" => {
                let max = match count {
                    Some(c) => c.parse::<u32>().map_err(|_| {
                        bad("the maximum retry count must be a non-negative integer")
                    })?,
                    None => 0,
                };
                return Ok(Policy::OnFailure { max });
            }
            _ => return Err(bad("use no, always, unless-stopped or on-failure[:max-retries]")),
        };
        if count.is_some() {
            return Err(bad("a maximum retry count goes only with on-failure"));
        }
        Ok(policy)
    }

    /// Docker's `HostConfig.RestartPolicy.Name`.
    pub fn name(&self) -> &'static str {
        match self {
            Policy::No => "no",
            Policy::OnFailure { .. } => "on-failure",
            Policy::Always => "always",
            Policy::UnlessStopped => "unless-stopped",
        }
    }

    /// `MaximumRetryCount`.
    pub fn max_retries(&self) -> u32 {
        match self {
            Policy::OnFailure { max } => *max,
            _ => 0,
        }
    }

    /// Whether a container that exited with `code` after `done` restarts is started again.
    pub fn wants_restart(&self, code: i32, done: u32) -> bool {
        match self {
            Policy::No => false,
            Policy::OnFailure { max } => code != 0 && (*max == 0 || done < *max),
            Policy::Always | Policy::UnlessStopped => true,
        }
    }
}

/// Docker's back-off before restart number `n` (0-based): 100 ms doubling, at most a minute.
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1u64 << n.min(10))).min(Duration::from_secs(60))
}

/// The marker `stop` writes in the container's run directory.
pub const STOPPED_BY_USER: &str = "stopped-by-user";

/// Tells the monitor of the container whose run directory is `run_dir` not to restart it.
pub fn mark_stopped_by_user(run_dir: &Path) {
    if run_dir.is_dir() {
        let _ = std::fs::write(run_dir.join(STOPPED_BY_USER), b"");
    }
}

/// How often the monitor restarted the container (from `<container dir>/restarts`).
pub fn count(container_dir: &Path) -> u32 {
    read(container_dir).map_or(0, |(n, _)| n)
}

/// The count and the time of the last restart.
pub fn read(container_dir: &Path) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(container_dir.join("restarts")).ok()?;
    let mut lines = text.lines();
    let n = lines.next()?.trim().parse().ok()?;
    Some((n, lines.next().unwrap_or_default().to_string()))
}

/// Records restart number `n` at `time` (written whole, then renamed into place).
pub fn write(file: &Path, n: u32, time: &str) {
    let tmp = file.with_extension("tmp");
    if std::fs::write(&tmp, format!("{n}\n{time}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, file);
    }
}

/// The file the monitor keeps in the run directory while it is between an exit and the
/// restart that follows (its back-off, and failed attempts): `CODE\nTIME\n` of the exit.
/// `ps` and `inspect` show the container `restarting` meanwhile, as Docker does.
pub const RESTARTING: &str = "restarting";

/// The monitor's side: entering the back-off after an exit with `code` at `time`.
pub fn mark_restarting(run_dir: &Path, code: i32, time: &str) {
    let file = run_dir.join(RESTARTING);
    let tmp = file.with_extension("tmp");
    if std::fs::write(&tmp, format!("{code}\n{time}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, file);
    }
}

/// The monitor's side: started again, or given up.
pub fn clear_restarting(run_dir: &Path) {
    let _ = std::fs::remove_file(run_dir.join(RESTARTING));
}

/// Shows `r` (a running record whose monitor is alive) as Docker shows a container in its
/// restart back-off: `restarting`, the exit that caused it, no pid.
pub fn show_restarting(run_dir: &Path, r: &mut crate::db::Record) {
    if r.state != "running" {
        return;
    }
    let Ok(text) = std::fs::read_to_string(run_dir.join(RESTARTING)) else { return };
    let mut lines = text.lines();
    let Some(code) = lines.next().and_then(|c| c.trim().parse().ok()) else { return };
    r.state = "restarting".into();
    r.exit_code = Some(code);
    r.finished_at = lines.next().map(str::to_string);
    r.pid = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_in_the_back_off_shows_restarting() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = crate::db::Record {
            id: "c".into(),
            name: "c".into(),
            image: "i".into(),
            command: Vec::new(),
            created: String::new(),
            state: "running".into(),
            pid: 42,
            exit_code: None,
            started_at: None,
            finished_at: None,
            runtime: String::new(),
            auto_remove: false,
            config: String::new(),
            oom_killed: false,
        };
        show_restarting(tmp.path(), &mut r);
        assert_eq!((r.state.as_str(), r.pid), ("running", 42), "no file: as it was");
        mark_restarting(tmp.path(), 137, "2026-11-29T00:00:00Z");
        show_restarting(tmp.path(), &mut r);
        assert_eq!((r.state.as_str(), r.pid, r.exit_code), ("restarting", 0, Some(137)));
        assert_eq!(r.finished_at.as_deref(), Some("2026-11-29T00:00:00Z"));
        clear_restarting(tmp.path());
        assert!(!tmp.path().join(RESTARTING).exists());
    }

    #[test]
    fn docker_syntax() {
        assert_eq!(Policy::parse("").unwrap(), Policy::No);
        assert_eq!(Policy::parse("no").unwrap(), Policy::No);
        assert_eq!(Policy::parse("always").unwrap(), Policy::Always);
        assert_eq!(Policy::parse("unless-stopped").unwrap(), Policy::UnlessStopped);
        assert_eq!(Policy::parse("on-failure").unwrap(), Policy::OnFailure { max: 0 });
        assert_eq!(Policy::parse("on-failure:3").unwrap(), Policy::OnFailure { max: 3 });
        for bad in ["sometimes", "on-failure:x", "on-failure:-1", "always:2", "no:1"] {
            assert!(Policy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decisions_and_backoff() {
        let p = Policy::OnFailure { max: 2 };
        assert!(p.wants_restart(1, 0) && p.wants_restart(1, 1) && !p.wants_restart(1, 2));
        assert!(!p.wants_restart(0, 0));
        assert!(Policy::Always.wants_restart(0, 100));
        assert!(!Policy::No.wants_restart(1, 0));
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), Duration::from_secs(60));
    }

    #[test]
    fn count_file_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(count(tmp.path()), 0);
        write(&tmp.path().join("restarts"), 4, "t");
        assert_eq!(read(tmp.path()), Some((4, "t".into())));
    }
}
