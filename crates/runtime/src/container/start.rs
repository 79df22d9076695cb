//! `start`: let the waiting init exec the program (runtime.md, "Start").

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use berth_sys::Context;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::{Mode, OFlags};
use tracing::{instrument, warn};

use crate::error::{Error, Result};
use crate::state::{self, StateDir, Status};

/// Starts a created container.
#[instrument(skip_all, fields(id = %id))]
pub fn start(root: &Path, id: &str) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let rec = dir.read()?.ok_or_else(|| Error::NotFound { id: id.to_string() })?;
    let status = state::status(&dir, &rec);
    if status != Status::Created {
        return Err(Error::WrongState {
            op: "start",
            id: id.to_string(),
            status: status.to_string(),
        });
    }
    release_init(&dir, rec.pid, rec.pid_start)?;
    if let Some(hooks) = rec.hooks.as_ref().and_then(|h| h.poststart().clone()) {
        let st = serde_json::json!({
            "ociVersion": rec.oci_version, "id": rec.id, "status": "running", "pid": rec.pid,
            "bundle": rec.bundle, "annotations": rec.annotations,
        })
        .to_string();
        for e in crate::hooks::run_all_best_effort("poststart", &hooks, &st) {
            warn!(error = %crate::error::chain(&e), "poststart hook failed");
        }
    }
    Ok(())
}

/// Opens the exec fifo for reading, which unblocks the init's open for writing, and reads its
/// byte. Non-blocking open plus poll, so a dead init is noticed instead of waited for forever.
fn release_init(dir: &StateDir, pid: i32, pid_start: u64) -> Result<()> {
    let path = dir.fifo();
    let err = Error::sys("open exec fifo");
    let fd =
        rustix::fs::open(&path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
            .op_path("open", &path)
            .map_err(err)?;
    let ts = Timespec::try_from(Duration::from_millis(50))
        .unwrap_or(Timespec { tv_sec: 0, tv_nsec: 50_000_000 });
    loop {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(n) if n > 0 => break,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                return Err(Error::sys("poll exec fifo")(berth_sys::Error::new(
                    "poll",
                    Some(&path),
                    e,
                )))
            }
        }
        if !state::process_alive(pid, pid_start) {
            return Err(Error::Sync("the container's init exited before start".into()));
        }
    }
    let mut byte = [0u8; 1];
    let n = std::fs::File::from(fd)
        .read(&mut byte)
        .op_path("read", &path)
        .map_err(Error::sys("read exec fifo"))?;
    if n != 1 {
        return Err(Error::Sync("the container's init exited before start".into()));
    }
    std::fs::remove_file(&path).op_path("remove", &path).map_err(Error::sys("remove exec fifo"))
}
