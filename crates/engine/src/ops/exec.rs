//! `berth exec`: a process in a running container, through the runtime's `exec`, with this
//! command's stdio, or (`-t`) with a pty whose master comes back to the caller.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::Engine;
use crate::db::Record;
use crate::error::{Error, Result};

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// `-e K=V`.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u uid[:gid]`.
    pub user: Option<String>,
    /// `-d`.
    pub detach: bool,
}

/// Runs `cmd` in `key`; returns its exit status (0 when detached).
pub fn exec(e: &Engine, key: &str, cmd: &[String], o: &ExecOptions) -> Result<i32> {
    let r = running(e, key)?;
    let (rt, mut c) = exec_command(e, &r, cmd, o, None)?;
    let status = c.stdin(Stdio::inherit()).status().map_err(Error::io("run", &rt.path))?;
    Ok(status.code().unwrap_or(255))
}

/// `exec -t`: the runtime's `exec --tty` running `cmd` (wait for it for the status) and the
/// master of the pty it made, received on a console socket in the run root. The caller
/// relays the terminal.
pub fn exec_tty(
    e: &Engine,
    key: &str,
    cmd: &[String],
    o: &ExecOptions,
) -> Result<(std::process::Child, OwnedFd)> {
    let r = running(e, key)?;
    // In the run root, not the container's run directory: a 64-character id leaves too
    // little of a socket address's 107 bytes.
    let path = e.paths.run.join(format!("exec-{}", &crate::ids::new_id()[..12]));
    let listener = crate::attach::listen(&path)?;
    let made = exec_command(e, &r, cmd, o, Some(&path)).and_then(|(rt, mut c)| {
        let mut child = c.stdin(Stdio::null()).spawn().map_err(Error::io("run", &rt.path))?;
        match crate::attach::receive_console(&listener, &path, Duration::from_secs(10)) {
            Ok(master) => Ok((child, master)),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(err)
            }
        }
    });
    let _ = std::fs::remove_file(&path);
    made
}

fn running(e: &Engine, key: &str) -> Result<Record> {
    let r = e.get(key)?;
    if r.state != "running" {
        return Err(Error::WrongState {
            op: "exec in",
            id: r.id,
            reason: "it is not running".into(),
        });
    }
    Ok(r)
}

/// The runtime's `exec` command line; `console`: with a pty sent to that socket.
fn exec_command(
    e: &Engine,
    r: &Record,
    cmd: &[String],
    o: &ExecOptions,
    console: Option<&Path>,
) -> Result<(crate::runtime::Runtime, Command)> {
    let rt = e.runtime_of(r);
    let mut c = rt.command();
    c.arg("exec");
    if let Some(socket) = console {
        c.arg("--tty").arg("--console-socket").arg(socket);
        // Docker's exec -t sets TERM as run -t does.
        c.args(["-e", "TERM=xterm"]);
    }
    for kv in &o.env {
        c.args(["-e", kv]);
    }
    if let Some(w) = &o.workdir {
        c.args(["--cwd", w]);
    }
    if let Some(u) = &o.user {
        let rootfs = container_rootfs(e, &r.id);
        let (uid, gid, _) = crate::user::resolve(&rootfs, Some(u))?;
        c.args(["-u", &format!("{uid}:{gid}")]);
    }
    if o.detach {
        c.arg("-d");
    }
    c.arg(&r.id).args(cmd);
    Ok((rt, c))
}

fn container_rootfs(e: &Engine, id: &str) -> std::path::PathBuf {
    let cfg = e.paths.container(id).join("bundle/config.json");
    std::fs::read(&cfg)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["root"]["path"].as_str().map(std::path::PathBuf::from))
        .unwrap_or_default()
}
