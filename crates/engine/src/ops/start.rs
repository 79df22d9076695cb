//! `berth start` and `berth restart`: a created or exited container runs again under a new
//! monitor, with the same id, name, bundle and log (appended to).

use std::time::Duration;

use super::Engine;
use crate::error::{Error, Result};

/// Starts `key` if it is not running; returns its id and the byte length its log had before
/// the start (where `start -a` begins to show output).
pub fn start(e: &Engine, key: &str) -> Result<(String, u64)> {
    start_with(e, key, false)
}

/// [`start`]; `attaching`: the caller attaches to the container's terminal next
/// (`start -ai`), so the monitor keeps the terminal's output until it connects.
pub fn start_with(e: &Engine, key: &str, attaching: bool) -> Result<(String, u64)> {
    start_monitored(e, key, attaching).map(|(id, len, _)| (id, len))
}

/// [`start_with`], also returning the new monitor's pipe (`None` if the container was
/// already running), which `start -a` follows the log and waits for the exit on
/// ([`crate::watch::MonitorPipe`]).
pub fn start_monitored(
    e: &Engine,
    key: &str,
    attaching: bool,
) -> Result<(String, u64, Option<crate::watch::MonitorPipe>)> {
    let r = e.get(key)?;
    let log = e.paths.container(&r.id).join("container.log");
    let log_len = std::fs::metadata(&log).map_or(0, |m| m.len());
    if r.state == "running" {
        if super::pause::is_paused(e, &r) {
            return Err(Error::WrongState {
                op: "start",
                id: r.id,
                reason: "it is paused: unpause it instead".into(),
            });
        }
        return Ok((r.id, log_len, None));
    }
    let run_dir = e.paths.container_run(&r.id);
    // The last run's monitor may still be deleting the runtime's container and the host
    // ends of its veths, whose names the new run takes again: let it finish.
    super::wait_monitor(&run_dir, Duration::from_secs(10));
    // The monitor deletes the runtime's container when it exits; a crash may not have.
    let runtime_done = crate::monitor::runtime_deleted(&run_dir);
    // What the last run left: its exit status and OOM kill, a stop request, a pause, the
    // restart count, the network's withdrawal.
    for f in [
        "exit",
        crate::oom::MARKER,
        super::restart::STOPPED_BY_USER,
        "paused",
        "pid",
        "monitor.pid",
        crate::network::setup::DETACHED,
        crate::monitor::RUNTIME_DELETED,
        super::update::POLICY_FILE,
        super::restart::RESTARTING,
    ] {
        let _ = std::fs::remove_file(run_dir.join(f));
    }
    let dir = e.paths.container(&r.id);
    let _ = std::fs::remove_file(dir.join("restarts"));
    super::rootfs::remount(&dir)?;
    crate::network::plan::ensure_bridges(e, &dir)?;
    let rt = e.runtime_of(&r);
    if !runtime_done {
        let _ = rt.call(&["delete", "--force", &r.id]);
    }
    // A caller that drops the pipe (`start` without `-a`) closes it: the monitor's next
    // write fails with EPIPE and it stops writing.
    let (pid, monitor) = super::run::launch(e, &r, &rt, attaching)?;
    e.db.set_running(&r.id, pid, &crate::now())?;
    Ok((r.id, log_len, monitor))
}

/// Stops `key` (as `stop -t`; `None`: the container's stop timeout) and starts it again.
pub fn restart(e: &Engine, key: &str, timeout: Option<Duration>) -> Result<String> {
    let id = super::stop::stop(e, key, timeout)?;
    start(e, &id).map(|(id, _)| id)
}
