//! Host process helpers, through procfs and kill(1) so the harness needs no `unsafe`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Sends `signal` (a name without `SIG`, e.g. `KILL`) to `pid`; errors are ignored because
/// cleanup races with processes exiting on their own.
pub fn kill(pid: u32, signal: &str) {
    if pid <= 1 {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Field 3 follows the parenthesised comm, which may itself contain spaces.
    stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
}

/// Waits up to `timeout` for `pid` to be gone; returns whether it is.
pub fn wait_gone(pid: u32, timeout: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    !alive(pid)
}

/// Live processes whose root or cwd lies under `dir`: a container (or a half-created one)
/// using a bundle that lives in `dir`.
pub fn processes_under(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        for link in ["root", "cwd"] {
            if let Ok(t) = std::fs::read_link(format!("/proc/{pid}/{link}")) {
                if t.starts_with(dir) && alive(pid) {
                    found.push((pid, t));
                    break;
                }
            }
        }
    }
    found
}

/// Host mounts whose mount point or source path mentions `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(String::from)
        .collect()
}
