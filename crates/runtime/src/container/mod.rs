//! The lifecycle operations, one file each, plus the read-only ones (`state`, `list`).

mod cgroup_entry;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod pause;
pub mod ps;
pub mod run;
pub mod start;
pub mod update;
pub mod wait;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::state::{self, StateDir, Status};

/// The state of a container as `state` and `list` print it (runtime.md "State", plus runc's
/// `rootfs`, `created` and `owner`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// runtime-spec version of the config.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the init; 0 once stopped.
    pub pid: i32,
    /// Lifecycle status.
    pub status: Status,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Root filesystem directory.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Owner of the container (runc prints the user name; empty for root's containers).
    pub owner: String,
    /// Annotations of the config.
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: std::collections::HashMap<String, String>,
}

/// Refuses `op` on a container that runs without a cgroup (rootless).
pub(crate) fn require_cgroup(rec: &crate::state::Record, op: &'static str) -> Result<()> {
    if rec.cgroup.is_detached() {
        return Err(Error::NoCgroup { op, id: rec.id.clone() });
    }
    Ok(())
}

/// The state of one container.
pub fn state(root: &Path, id: &str) -> Result<ContainerState> {
    let dir = StateDir::open(root, id)?;
    let rec = dir.read()?.ok_or_else(|| Error::NotFound { id: id.to_string() })?;
    let status = state::status(&dir, &rec);
    let rootfs = rootfs_of(&rec.bundle);
    Ok(ContainerState {
        oci_version: rec.oci_version,
        id: rec.id,
        pid: if status == Status::Stopped { 0 } else { rec.pid },
        status,
        bundle: rec.bundle,
        rootfs,
        created: rec.created,
        owner: String::new(),
        annotations: rec.annotations,
    })
}

fn rootfs_of(bundle: &Path) -> PathBuf {
    let cfg = bundle.join("config.json");
    let root = crate::config::read_spec(&cfg)
        .ok()
        .and_then(|s| s.root().as_ref().map(|r| r.path().clone()))
        .unwrap_or_else(|| PathBuf::from("rootfs"));
    bundle.join(root)
}

/// Every container under `root`, sorted by id. Unreadable entries are skipped.
pub fn list(root: &Path) -> Result<Vec<ContainerState>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::State { op: "list", path: root.to_path_buf(), source: e }),
    };
    let mut out: Vec<ContainerState> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|id| state(root, &id).ok())
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}
