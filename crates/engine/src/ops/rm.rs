//! `berth rm`: remove a container's record, directories and runtime state.

use super::Engine;
use crate::db::Record;
use crate::error::{Error, Result};
use crate::watch::MonitorPipe;

/// Removes `key`; a running container needs `force` (it is then killed first).
pub fn rm(e: &Engine, key: &str, force: bool) -> Result<String> {
    rm_on(e, key, force, None)
}

/// [`rm`] by the `berth` that started the container's monitor and kept its pipe (`run
/// --rm`): the end of the pipe says the monitor's `runtime delete` is done.
pub fn rm_on(e: &Engine, key: &str, force: bool, monitor: Option<&MonitorPipe>) -> Result<String> {
    let r = e.get(key)?;
    if r.state == "running" && !force {
        return Err(Error::WrongState {
            op: "remove",
            id: r.id,
            reason: "it is running: stop it first or use rm -f".into(),
        });
    }
    remove_on(e, &r, force, monitor)?;
    Ok(r.id)
}

/// Kills (with `force`) and removes everything of `r`, best effort, record last.
pub(crate) fn remove(e: &Engine, r: &Record, force: bool) -> Result<()> {
    remove_on(e, r, force, None)
}

fn remove_on(e: &Engine, r: &Record, force: bool, monitor: Option<&MonitorPipe>) -> Result<()> {
    let rt = e.runtime_of(r);
    let run_dir = e.paths.container_run(&r.id);
    let exited = r.state == "exited";
    // An exited container's monitor has withdrawn its network and written the exit file;
    // it may still be running `runtime delete`, which reads none of the container's files
    // (berth gives the runtime no hooks, so no poststop hook reads the bundle either):
    // they go meanwhile (on a busy disk their removal is the slowest part of `rm`), then
    // the monitor is waited for rather than raced, and what it did is skipped. A monitor
    // removing its own `-d --rm` container deletes its `monitor.pid` first, so it is not
    // waited for. With its pipe, only until the pipe ends (after its `runtime delete`):
    // the veths it may still be deleting are its own (`remove_files`).
    if exited {
        remove_files(e, r, &run_dir)?;
        let wait = std::time::Duration::from_secs(10);
        match monitor {
            Some(m) => {
                m.wait_end(wait);
            }
            None => {
                super::wait_monitor(&run_dir, wait);
            }
        }
    }
    let runtime_done = crate::monitor::runtime_deleted(&run_dir);
    if force && !runtime_done {
        super::restart::mark_stopped_by_user(&e.paths.container_run(&r.id));
        super::pause::thaw(e, r);
        let _ = rt.call(&["kill", &r.id, "KILL"]);
        match r.state.as_str() {
            "running" => {
                let _ = super::wait_exit(e, &r.id, Some(std::time::Duration::from_secs(10)));
            }
            // A record that never learnt it runs (its `berth` died after the monitor
            // started it): wait for the monitor to finish instead.
            "created" => {
                super::wait_monitor(&run_dir, std::time::Duration::from_secs(10));
            }
            _ => {}
        }
    }
    // Waiting above may have let the monitor finish its delete.
    if !crate::monitor::runtime_deleted(&run_dir) {
        let _ = rt.call(&["delete", "--force", &r.id]);
    }
    if !exited {
        remove_files(e, r, &run_dir)?;
    }
    let _ = std::fs::remove_dir_all(&run_dir);
    e.db.delete(&r.id)
}

/// The container's network, overlay, image hold and directory (not its run directory,
/// which its monitor may still be writing, nor its record).
fn remove_files(e: &Engine, r: &Record, run_dir: &std::path::Path) -> Result<()> {
    // An exited container's monitor withdrew its ports before the exit file and deletes
    // its veths after it (`monitor::exit::finish`): while it runs they are its to delete, and
    // deleting them here too would only wait for the same kernel work.
    let detached = run_dir.join(crate::network::setup::DETACHED).exists()
        || (r.state == "exited" && super::monitor_alive(run_dir));
    let dir = e.paths.container(&r.id);
    crate::network::plan::release(e, &r.id, &dir, detached)?;
    // Never remove a directory through the overlay mounted in it.
    super::rootfs::release(&dir)?;
    if let Ok(store) = super::pull::store(e) {
        let _ = store.release(&r.id);
    }
    std::fs::remove_dir_all(&dir).or_else(|err| match err.kind() {
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(Error::Io { op: "remove", path: dir, source: err }),
    })
}
