//! `berth pause` and `berth unpause`: the runtime's `pause`/`resume` (the cgroup freezer);
//! a `paused` marker in the run directory lets `ps` and `inspect` say so without asking
//! the runtime.

use super::Engine;
use crate::error::{Error, Result};

/// Freezes every process of `key`.
pub fn pause(e: &Engine, key: &str) -> Result<String> {
    let r = e.get(key)?;
    if r.state != "running" {
        return Err(Error::WrongState {
            op: "pause",
            id: r.id,
            reason: "it is not running".into(),
        });
    }
    if is_paused(e, &r.id) {
        return Err(Error::WrongState {
            op: "pause",
            id: r.id,
            reason: "it is already paused".into(),
        });
    }
    e.runtime_of(&r).call(&["pause", &r.id])?;
    let marker = e.paths.container_run(&r.id).join("paused");
    std::fs::write(&marker, b"").map_err(Error::io("write", &marker))?;
    Ok(r.id)
}

/// Thaws `key`.
pub fn unpause(e: &Engine, key: &str) -> Result<String> {
    let r = e.get(key)?;
    if r.state != "running" || !is_paused(e, &r.id) {
        return Err(Error::WrongState {
            op: "unpause",
            id: r.id,
            reason: "it is not paused".into(),
        });
    }
    e.runtime_of(&r).call(&["resume", &r.id])?;
    let _ = std::fs::remove_file(e.paths.container_run(&r.id).join("paused"));
    Ok(r.id)
}

/// Whether `id` was paused (and not unpaused since).
pub fn is_paused(e: &Engine, id: &str) -> bool {
    e.paths.container_run(id).join("paused").exists()
}

/// Thaws `id` if it is paused, so that a signal can end it (`stop`, `kill`, `rm -f`).
pub(crate) fn thaw(e: &Engine, r: &crate::db::Record) {
    if is_paused(e, &r.id) {
        let _ = e.runtime_of(r).call(&["resume", &r.id]);
        let _ = std::fs::remove_file(e.paths.container_run(&r.id).join("paused"));
    }
}
