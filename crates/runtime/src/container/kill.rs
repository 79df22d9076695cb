//! `kill`: send a signal to the init, or with `all` to every process of the cgroup.

use std::path::Path;

use berth_sys::Context;
use rustix::process::{Pid, PidfdFlags};
use tracing::instrument;

use crate::error::{Error, Result};
use crate::state::{self, Record, StateDir, Status};

/// Sends `signo` to the container's init (or to all its processes).
#[instrument(skip_all, fields(id = %id, signo))]
pub fn kill(root: &Path, id: &str, signo: i32, all: bool) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let rec = dir.read()?.ok_or_else(|| Error::NotFound { id: id.to_string() })?;
    let status = state::status(&dir, &rec);
    if status == Status::Stopped && !all {
        return Err(Error::WrongState {
            op: "kill",
            id: id.to_string(),
            status: status.to_string(),
        });
    }
    if all {
        return signal_all(&rec, signo);
    }
    signal_init(&rec, signo)
}

/// Signals the init through a pidfd, after checking the pid still names our init (pid reuse).
pub(crate) fn signal_init(rec: &Record, signo: i32) -> Result<()> {
    let err = || Error::sys(format!("signal container {}", rec.id));
    let pid = Pid::from_raw(rec.pid).ok_or_else(|| Error::Sync(format!("bad pid {}", rec.pid)))?;
    let fd = rustix::process::pidfd_open(pid, PidfdFlags::empty())
        .op(&format!("pidfd_open {}", rec.pid))
        .map_err(err())?;
    if !state::process_alive(rec.pid, rec.pid_start) {
        return Err(Error::WrongState { op: "kill", id: rec.id.clone(), status: "stopped".into() });
    }
    berth_sys::process::pidfd_send_signal(&fd, signo).map_err(err())
}

/// Signals every process of the container's cgroup; SIGKILL on cgroup v2 goes through
/// `cgroup.kill`, which also catches processes forked while we would iterate.
pub(crate) fn signal_all(rec: &Record, signo: i32) -> Result<()> {
    let cgroup_err = |source| Error::Cgroup { id: rec.id.clone(), source };
    if signo == 9 && rec.cgroup.kill_all().map_err(cgroup_err)? {
        return Ok(());
    }
    let pids = rec.cgroup.pids().map_err(|source| Error::Cgroup { id: rec.id.clone(), source })?;
    for pid in pids {
        match berth_sys::process::kill(pid, signo) {
            Ok(()) => {}
            Err(e) if e.errno == rustix::io::Errno::SRCH => {}
            Err(e) => return Err(Error::sys(format!("signal container {}", rec.id))(e)),
        }
    }
    Ok(())
}
