//! The engine's commands, one file each, and what they share.

pub mod attach;
pub mod commit;
pub mod cp;
pub mod diff;
pub mod exec;
pub mod export;
pub mod history;
pub(crate) mod image_changes;
pub(crate) mod image_config;
pub mod images;
pub mod images_filter;
pub mod info;
pub mod inspect;
pub mod load;
pub mod logs;
pub mod network;
pub mod pause;
pub mod prune;
pub mod ps;
pub mod ps_filter;
pub mod pull;
pub mod push;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod rootfs;
pub mod run;
pub mod save;
pub(crate) mod shared_namespaces;
pub mod start;
pub mod stats;
pub mod stop;
pub mod top;
pub mod update;
pub mod volume;
pub mod volume_mounts;

use std::path::Path;

use crate::db::{Db, Record};
use crate::error::Result;
use crate::paths::Paths;

/// The engine's context for one command.
#[derive(Debug)]
pub struct Engine {
    /// Directories.
    pub paths: Paths,
    /// Records.
    pub db: Db,
}

impl Engine {
    /// The context for `paths`; the records database is opened at its first use.
    pub fn open(paths: Paths) -> Result<Engine> {
        let db = Db::open(&paths)?;
        Ok(Engine { paths, db })
    }

    /// The record of `key` (name, id or id prefix), brought up to date.
    pub fn get(&self, key: &str) -> Result<Record> {
        let r = self.db.get(key)?;
        reconcile(self, r)
    }

    /// The runtime of a recorded container.
    pub fn runtime_of(&self, r: &Record) -> crate::runtime::Runtime {
        crate::runtime::Runtime::new(Some(Path::new(&r.runtime)), self.paths.runtime_root())
    }
}

/// Brings a running record up to date: the monitor's exit file says it exited; a missing
/// init with no exit file (a crash, or a reboot that wiped the run directory) is exited
/// with status 255, as Docker shows a container whose daemon vanished.
pub fn reconcile(e: &Engine, mut r: Record) -> Result<Record> {
    if r.state != "running" {
        return Ok(r);
    }
    let exit = e.paths.container_run(&r.id).join("exit");
    if !exit.exists() {
        follow_restart(e, &mut r)?;
    }
    let (code, when) = match std::fs::read_to_string(&exit) {
        Ok(text) => {
            let mut lines = text.lines();
            let code = lines.next().and_then(|c| c.trim().parse().ok()).unwrap_or(255);
            (code, lines.next().map(str::to_string).unwrap_or_else(crate::now))
        }
        Err(_) if r.pid > 0 && Path::new(&format!("/proc/{}", r.pid)).exists() => return Ok(r),
        // The init is gone but its monitor is still writing the log and the exit file.
        Err(_) if monitor_alive(&e.paths.container_run(&r.id)) => return Ok(r),
        Err(_) => (255, crate::now()),
    };
    let oom_killed = crate::oom::was_killed(&e.paths.container_run(&r.id));
    e.db.set_exited(&r.id, code, &when, oom_killed)?;
    r.oom_killed = oom_killed;
    r.state = "exited".into();
    r.exit_code = Some(code);
    r.finished_at = Some(when);
    r.pid = 0;
    Ok(r)
}

/// After the monitor restarted the container (restart policy) its init has a new pid, in
/// the runtime's pid file: the record takes it, and the restart's time as StartedAt.
fn follow_restart(e: &Engine, r: &mut Record) -> Result<()> {
    let pid_file = e.paths.container_run(&r.id).join("pid");
    let Some(pid) =
        std::fs::read_to_string(pid_file).ok().and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return Ok(());
    };
    if pid == r.pid || pid <= 0 || !Path::new(&format!("/proc/{pid}")).exists() {
        return Ok(());
    }
    let Some((_, when)) = restart::read(&e.paths.container(&r.id)) else { return Ok(()) };
    e.db.set_running(&r.id, pid, &when)?;
    r.pid = pid;
    r.started_at = Some(when);
    Ok(())
}

/// Whether the monitor recorded in `run_dir` is still running.
pub(crate) fn monitor_alive(run_dir: &Path) -> bool {
    let Some(pid) = std::fs::read_to_string(run_dir.join("monitor.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return false;
    };
    // `/proc/PID/stat`: "PID (COMM) STATE …". A recycled pid runs something else; a zombie
    // (the `berth` that started the monitor has not reaped it yet) has finished.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((comm, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(") ")) else {
        return false;
    };
    comm == "berth-monitor" && !rest.starts_with('Z') && !rest.starts_with('X')
}

/// Waits until the container has exited (its exit file exists); returns its status.
pub fn wait_exit(
    e: &Engine,
    id: &str,
    timeout: Option<std::time::Duration>,
) -> Result<Option<i32>> {
    wait_exit_on(e, id, timeout, None)
}

/// [`wait_exit`], woken by the container's monitor's pipe when the caller started the
/// monitor (`run`), else by inotify.
pub fn wait_exit_on(
    e: &Engine,
    id: &str,
    timeout: Option<std::time::Duration>,
    monitor: Option<&crate::watch::MonitorPipe>,
) -> Result<Option<i32>> {
    let start = std::time::Instant::now();
    // Before the first look: the exit file renamed into the run directory wakes us.
    let full = e.get(id)?.id;
    let watch = crate::watch::Watch::monitor_or(monitor, &[], &[&e.paths.container_run(&full)]);
    loop {
        let r = e.get(id)?;
        if r.state == "exited" {
            return Ok(r.exit_code);
        }
        let left = match timeout {
            Some(t) if start.elapsed() >= t => return Ok(None),
            Some(t) => t - start.elapsed(),
            None => std::time::Duration::MAX,
        };
        // A crashed monitor leaves no exit file: look again now and then (`reconcile`).
        watch.wait(left.min(std::time::Duration::from_millis(250)));
    }
}

/// Waits (at most `timeout`) until the monitor recorded in `run_dir` has exited; false if it
/// still runs. Polls its pidfd: no timer between looks.
pub(crate) fn wait_monitor(run_dir: &Path, timeout: std::time::Duration) -> bool {
    let Some(pid) = monitor_pid(run_dir) else { return true };
    let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
        return true; // gone (ESRCH)
    };
    // The pid may have been recycled between the read and the open: check it is still a
    // monitor (a zombie monitor, not yet reaped by the `berth` that started it, has exited).
    if !monitor_alive(run_dir) {
        return true;
    }
    let ts = rustix::event::Timespec::try_from(timeout)
        .unwrap_or(rustix::event::Timespec { tv_sec: 10, tv_nsec: 0 });
    let mut fds = [rustix::event::PollFd::new(&pidfd, rustix::event::PollFlags::IN)];
    loop {
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Err(rustix::io::Errno::INTR) => continue,
            Ok(n) => return n > 0,
            Err(_) => return !monitor_alive(run_dir),
        }
    }
}

fn monitor_pid(run_dir: &Path) -> Option<rustix::process::Pid> {
    std::fs::read_to_string(run_dir.join("monitor.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw)
}
