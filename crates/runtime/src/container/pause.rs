//! `pause` and `resume`: freeze and thaw every process of the container through its cgroup
//! (v1 `freezer.state`, v2 `cgroup.freeze`). A paused container's status is `paused`.

use std::path::Path;

use tracing::instrument;

use crate::error::{Error, Result};
use crate::state::{self, StateDir, Status};

/// Freezes a running (or created) container, as runc allows.
#[instrument(skip_all, fields(id = %id))]
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let rec = dir.read()?.ok_or_else(|| Error::NotFound { id: id.to_string() })?;
    match state::status(&dir, &rec) {
        Status::Running | Status::Created => {}
        status => {
            return Err(Error::WrongState {
                op: "pause",
                id: id.to_string(),
                status: status.to_string(),
            })
        }
    }
    crate::container::require_cgroup(&rec, "pause")?;
    rec.cgroup.freeze().map_err(|source| Error::Cgroup { id: id.to_string(), source })
}

/// Thaws a paused container.
#[instrument(skip_all, fields(id = %id))]
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let rec = dir.read()?.ok_or_else(|| Error::NotFound { id: id.to_string() })?;
    match state::status(&dir, &rec) {
        Status::Paused => {}
        status => {
            return Err(Error::WrongState {
                op: "resume",
                id: id.to_string(),
                status: status.to_string(),
            })
        }
    }
    crate::container::require_cgroup(&rec, "resume")?;
    rec.cgroup.thaw().map_err(|source| Error::Cgroup { id: id.to_string(), source })
}
