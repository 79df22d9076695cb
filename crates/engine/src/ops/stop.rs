//! `berth stop` and `berth kill`.

use std::time::Duration;

use super::Engine;
use crate::error::{Error, Result};

/// Sends SIGTERM (or the stop signal), waits `timeout`, then SIGKILL; waits for the exit.
pub fn stop(e: &Engine, key: &str, timeout: Duration) -> Result<String> {
    let r = e.get(key)?;
    if r.state != "running" {
        return Ok(r.id);
    }
    // Before the signal: the monitor must not undo the stop with a restart policy.
    super::restart::mark_stopped_by_user(&e.paths.container_run(&r.id));
    super::pause::thaw(e, &r);
    let rt = e.runtime_of(&r);
    let _ = rt.call(&["kill", &r.id, "TERM"]);
    if super::wait_exit(e, &r.id, Some(timeout))?.is_none() {
        let _ = rt.call(&["kill", "--all", &r.id, "KILL"]);
        super::wait_exit(e, &r.id, Some(Duration::from_secs(10)))?;
    }
    Ok(r.id)
}

/// Sends `signal` to the container's init.
pub fn kill(e: &Engine, key: &str, signal: &str) -> Result<String> {
    let r = e.get(key)?;
    if r.state != "running" {
        return Err(Error::WrongState { op: "kill", id: r.id, reason: "it is not running".into() });
    }
    // As Docker: a killed container counts as stopped by the user, whatever the policy.
    super::restart::mark_stopped_by_user(&e.paths.container_run(&r.id));
    e.runtime_of(&r).call(&["kill", &r.id, signal])?;
    Ok(r.id)
}
