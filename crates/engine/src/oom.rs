//! Whether the kernel's OOM killer killed anything in a container: `inspect`'s `OOMKilled`.
//!
//! The monitor finds the init's memory cgroup while the init is still its (possibly
//! zombie) child, and after the init exits, before `runtime delete` removes the cgroup,
//! reads the cgroup's OOM-kill counter: `oom_kill` in `memory.events` on cgroup v2, in
//! `memory.oom_control` on v1 (Linux 4.13+). A non-zero count means the container hit its
//! memory limit and lost a process to it, as Docker reports it (any process, not only the
//! init). The answer goes to the [`MARKER`] file beside the exit file, which
//! `ops::reconcile` copies into the record.

use std::path::{Path, PathBuf};

/// The file in the container's run directory that exists when the last run was OOM-killed.
pub const MARKER: &str = "oom-killed";

/// Where the cgroup filesystems are mounted (what the runtime and `berth info` assume).
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// A container's memory cgroup directory and the file holding its OOM-kill counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryCgroup {
    /// `memory.events` (v2) or `memory.oom_control` (v1) of the container's cgroup.
    pub counter_file: PathBuf,
}

impl MemoryCgroup {
    /// The memory cgroup of process `pid` (from `/proc/PID/cgroup`), if it has one.
    pub fn of(pid: i32) -> Option<MemoryCgroup> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let unified = Path::new(CGROUP_ROOT).join("cgroup.controllers").exists();
        Self::parse(&text, Path::new(CGROUP_ROOT), unified)
    }

    /// The memory cgroup named by a `/proc/PID/cgroup` text, the hierarchy under `root`.
    /// A v1 `memory` line wins (hybrid hosts have both); otherwise the v2 `0::` line counts
    /// only when `root` is a cgroup2 mount (`unified`).
    pub fn parse(proc_cgroup: &str, root: &Path, unified: bool) -> Option<MemoryCgroup> {
        let mut v2 = None;
        for line in proc_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let rel = path.trim_start_matches('/');
            if controllers.split(',').any(|c| c == "memory") {
                let counter_file = root.join("memory").join(rel).join("memory.oom_control");
                return Some(MemoryCgroup { counter_file });
            }
            if controllers.is_empty() && unified {
                v2 = Some(MemoryCgroup { counter_file: root.join(rel).join("memory.events") });
            }
        }
        v2
    }

    /// OOM kills counted in the cgroup so far; `None` when the counter cannot be read
    /// (the cgroup is gone, or the kernel predates the counter).
    pub fn oom_kills(&self) -> Option<u64> {
        let text = std::fs::read_to_string(&self.counter_file).ok()?;
        parse_oom_kills(&text)
    }
}

/// The `oom_kill N` line of `memory.events` or `memory.oom_control`.
pub fn parse_oom_kills(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
}

/// Writes (or clears) the marker in `run_dir` for a run whose memory cgroup was `cgroup`.
/// Best effort: a cgroup that cannot be read counts as no OOM kill.
pub fn record(run_dir: &Path, cgroup: Option<&MemoryCgroup>) {
    let marker = run_dir.join(MARKER);
    if cgroup.and_then(MemoryCgroup::oom_kills).unwrap_or(0) > 0 {
        let _ = std::fs::write(&marker, b"");
    } else {
        let _ = std::fs::remove_file(&marker);
    }
}

/// Whether the last run recorded in `run_dir` was OOM-killed.
pub fn was_killed(run_dir: &Path) -> bool {
    run_dir.join(MARKER).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_memory_line_wins_on_a_hybrid_host() {
        let text = "9:name=systemd:/\n4:memory:/berth/berth-abc\n1:cpu,cpuacct:/\n0::/\n";
        let cg = MemoryCgroup::parse(text, Path::new("/cg"), false).unwrap();
        assert_eq!(cg.counter_file, Path::new("/cg/memory/berth/berth-abc/memory.oom_control"));
    }

    #[test]
    fn v2_uses_memory_events() {
        let cg = MemoryCgroup::parse("0::/user.slice/berth-abc\n", Path::new("/cg"), true);
        let file = Path::new("/cg/user.slice/berth-abc/memory.events");
        assert_eq!(cg.unwrap().counter_file, file);
        assert_eq!(MemoryCgroup::parse("0::/x\n", Path::new("/cg"), false), None);
    }

    #[test]
    fn counters_of_both_versions() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_oom_kills(v1), Some(2));
        assert_eq!(parse_oom_kills(v2), Some(1));
        assert_eq!(parse_oom_kills("oom_kill_disable 0\n"), None);
    }

    #[test]
    fn marker_follows_the_counter() {
        let tmp = tempfile::tempdir().unwrap();
        let counter_file = tmp.path().join("memory.events");
        let cg = MemoryCgroup { counter_file: counter_file.clone() };
        std::fs::write(&counter_file, "oom 1\noom_kill 1\n").unwrap();
        record(tmp.path(), Some(&cg));
        assert!(was_killed(tmp.path()));
        std::fs::write(&counter_file, "oom 0\noom_kill 0\n").unwrap();
        record(tmp.path(), Some(&cg));
        assert!(!was_killed(tmp.path()), "a restart that was not killed clears it");
        record(tmp.path(), None);
        assert!(!was_killed(tmp.path()));
    }
}
