//! `berth container prune`: removes every container that is not running (exited or only
//! created), as Docker does.

use super::Engine;
use crate::error::Result;

/// Removes the stopped containers; returns their ids.
pub fn prune(e: &Engine) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for r in super::ps::ps(e, true)? {
        if r.state == "running" || r.state == "paused" {
            continue;
        }
        super::rm::remove(e, &r, false)?;
        removed.push(r.id);
    }
    Ok(removed)
}

/// Container directories with no record (a `berth` killed between making them and
/// recording the container): their overlay is unmounted, never deleted through, their
/// image hold and addresses released, then the directory goes. Returns their ids.
pub fn orphans(e: &Engine) -> Result<Vec<String>> {
    let _alone = lock(e, rustix::fs::FlockOperation::LockExclusive)?;
    let root = e.paths.data.join("containers");
    let Ok(dirs) = std::fs::read_dir(&root) else { return Ok(Vec::new()) };
    let known: std::collections::HashSet<String> = e.db.list()?.into_iter().map(|r| r.id).collect();
    let mut removed = Vec::new();
    for d in dirs.filter_map(|d| d.ok()) {
        let id = d.file_name().to_string_lossy().into_owned();
        if known.contains(&id) || id.len() != 64 {
            continue;
        }
        let dir = d.path();
        super::rootfs::release(&dir)?;
        if let Ok(store) = super::pull::store(e) {
            let _ = store.release(&id);
        }
        crate::network::plan::release(e, &id, &dir, false)?;
        let _ = std::fs::remove_dir_all(e.paths.container_run(&id));
        std::fs::remove_dir_all(&dir).map_err(crate::Error::io("remove", &dir))?;
        removed.push(id);
    }
    Ok(removed)
}

/// A shared hold on the container directories, kept by `create` until its record exists.
pub(crate) fn creating(e: &Engine) -> Result<std::fs::File> {
    lock(e, rustix::fs::FlockOperation::LockShared)
}

fn lock(e: &Engine, how: rustix::fs::FlockOperation) -> Result<std::fs::File> {
    crate::paths::mkdir(&e.paths.data)?;
    let path = e.paths.data.join("containers.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(crate::Error::io("open", &path))?;
    rustix::fs::flock(&f, how).map_err(|err| crate::Error::Io {
        op: "lock",
        path,
        source: err.into(),
    })?;
    Ok(f)
}
