//! `delete`: remove a stopped container's cgroup and record, and run poststop hooks
//! (runtime.md, "Delete"). With `force` a running container is killed first.

use std::path::Path;
use std::time::{Duration, Instant};

use tracing::{instrument, warn};

use crate::error::{Error, Result};
use crate::state::{self, Record, StateDir, Status};

/// Deletes the container `id`.
#[instrument(skip_all, fields(id = %id))]
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let Some(rec) = dir.read()? else {
        // create was killed before it recorded anything: only the directory is left.
        return dir.remove();
    };
    match state::status(&dir, &rec) {
        Status::Stopped => {}
        // runc deletes a container that was created but never started without --force.
        Status::Created | Status::Creating => kill_and_wait(&rec)?,
        _ if force => kill_and_wait(&rec)?,
        s => {
            return Err(Error::WrongState {
                op: "delete",
                id: id.to_string(),
                status: s.to_string(),
            })
        }
    }
    crate::fault::point("delete-after-kill");
    let mut errors = Vec::new();
    if let Err(e) = destroy_cgroup(&rec) {
        errors.push(e);
    }
    crate::fault::point("delete-after-cgroup");
    if let Some(hooks) = rec.hooks.as_ref().and_then(|h| h.poststop().clone()) {
        let st = serde_json::json!({
            "ociVersion": rec.oci_version, "id": rec.id, "status": "stopped",
            "bundle": rec.bundle, "annotations": rec.annotations,
        })
        .to_string();
        for e in crate::hooks::run_all_best_effort("poststop", &hooks, &st) {
            warn!(error = %crate::error::chain(&e), "poststop hook failed");
        }
    }
    if let Err(e) = dir.remove() {
        errors.push(e);
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(Error::Many { list: errors }),
    }
}

/// SIGKILL to every process of the cgroup (the init first), then wait until they are gone.
fn kill_and_wait(rec: &Record) -> Result<()> {
    let _ = crate::container::kill::signal_init(rec, 9);
    let _ = crate::container::kill::signal_all(rec, 9);
    // A frozen process cannot act on SIGKILL (v1 freezer): thaw a paused container so the
    // pending signals are delivered.
    if rec.cgroup.is_frozen() {
        let _ = rec.cgroup.thaw();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while state::process_alive(rec.pid, rec.pid_start) || !rec.cgroup.is_empty().unwrap_or(true) {
        if Instant::now() > deadline {
            return Err(Error::Sync(format!(
                "container {} did not die within 10s of SIGKILL",
                rec.id
            )));
        }
        let _ = crate::container::kill::signal_all(rec, 9);
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn destroy_cgroup(rec: &Record) -> Result<()> {
    // Processes of a stopped container (forked by the program) may outlive the init.
    if !rec.cgroup.is_empty().unwrap_or(true) {
        kill_and_wait(rec)?;
    }
    rec.cgroup.destroy().map_err(|source| Error::Cgroup { id: rec.id.clone(), source })?;
    remove_default_parent(rec);
    Ok(())
}

/// The default parent `berth/` is shared by every container without a `cgroupsPath`: only
/// the container that made it recorded it as its own, so when that one went first the last
/// one out leaves it behind. Remove it once empty (rmdir refuses a non-empty cgroup, so a
/// container still using it is never affected).
fn remove_default_parent(rec: &Record) {
    for dir in rec.cgroup.dirs() {
        if let Some(parent) =
            dir.path.parent().filter(|p| p.file_name().is_some_and(|n| n == "berth"))
        {
            let _ = std::fs::remove_dir(parent);
        }
    }
}
