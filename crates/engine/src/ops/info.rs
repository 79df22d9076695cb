//! `berth version` and `berth info`: what this berth is and what it manages.

use std::path::Path;

use serde::Serialize;

use super::Engine;
use crate::error::Result;

/// `berth info`'s facts.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    /// Containers in total.
    pub containers: usize,
    /// Running (not paused).
    pub running: usize,
    /// Paused.
    pub paused: usize,
    /// Exited or created.
    pub stopped: usize,
    /// Stored images.
    pub images: usize,
    /// The default runtime binary.
    pub runtime: String,
    /// Its version line.
    pub runtime_version: String,
    /// `1` or `2` (a hybrid v1 host is `1`).
    pub cgroup_version: &'static str,
    /// The cgroup driver (berth writes the cgroup filesystem itself).
    pub cgroup_driver: &'static str,
    /// The storage driver.
    pub storage_driver: &'static str,
    /// The data root.
    pub root_dir: String,
    /// The run root.
    pub run_dir: String,
}

/// Counts and settings.
pub fn info(e: &Engine) -> Result<Info> {
    let list = super::ps::ps(e, true)?;
    // `ps` says `paused` for a paused container.
    let paused = list.iter().filter(|r| r.state == "paused").count();
    let running = list.iter().filter(|r| r.state == "running").count();
    let images = super::images::list(e).map_or(0, |l| l.len());
    let rt = crate::runtime::Runtime::new(None, e.paths.runtime_root());
    Ok(Info {
        containers: list.len(),
        running,
        paused,
        stopped: list.len() - running - paused,
        images,
        runtime_version: runtime_version(&rt.path),
        runtime: rt.path.display().to_string(),
        cgroup_version: cgroup_version(),
        cgroup_driver: "cgroupfs",
        storage_driver: "overlay",
        root_dir: e.paths.data.display().to_string(),
        run_dir: e.paths.run.display().to_string(),
    })
}

/// The first line of `RUNTIME --version` (runc's, crun's and berth-runtime's all lead with
/// `NAME version X` or `NAME X`).
pub fn runtime_version(runtime: &Path) -> String {
    std::process::Command::new(runtime)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// `2` on a unified hierarchy, else `1`.
pub fn cgroup_version() -> &'static str {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}
