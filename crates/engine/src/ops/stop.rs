//! `berth stop` and `berth kill`.

use std::time::Duration;

use super::Engine;
use crate::error::{Error, Result};
use crate::spec::RunOptions;

/// Docker's wait before SIGKILL when neither `stop -t` nor `--stop-timeout` says.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends the stop signal (`--stop-signal`, the image's, or SIGTERM), waits `timeout` (or the
/// container's `--stop-timeout`, or 10 s; `None` from a timeout of -1 waits for ever), then
/// SIGKILL; waits for the exit.
pub fn stop(e: &Engine, key: &str, timeout: Option<Duration>) -> Result<String> {
    let r = e.get(key)?;
    if r.state != "running" {
        return Ok(r.id);
    }
    let opts: RunOptions = serde_json::from_str(&r.config).unwrap_or_default();
    let timeout = match (timeout, opts.stop_timeout) {
        (Some(t), _) => Some(t),
        (None, Some(-1)) => None,
        (None, Some(secs)) => Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0))),
        (None, None) => Some(DEFAULT_STOP_TIMEOUT),
    };
    // Before the signal: the monitor must not undo the stop with a restart policy.
    super::restart::mark_stopped_by_user(&e.paths.container_run(&r.id));
    super::pause::thaw(e, &r);
    let rt = e.runtime_of(&r);
    let _ = rt.call(&["kill", &r.id, opts.stop_signal.as_deref().unwrap_or("TERM")]);
    if super::wait_exit(e, &r.id, timeout)?.is_none() {
        let _ = rt.call(&["kill", "--all", &r.id, "KILL"]);
        super::wait_exit(e, &r.id, Some(Duration::from_secs(10)))?;
    }
    Ok(r.id)
}

/// Checks `--stop-signal` and `--stop-timeout` when the container is created.
pub(crate) fn check_options(opts: &RunOptions) -> Result<()> {
    if let Some(s) = &opts.stop_signal {
        crate::signal::number(s)?;
    }
    if let Some(t) = opts.stop_timeout.filter(|t| *t < -1) {
        return Err(Error::InvalidFlag {
            flag: "--stop-timeout",
            value: t.to_string(),
            reason: "seconds, or -1 to wait for ever".into(),
        });
    }
    Ok(())
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
