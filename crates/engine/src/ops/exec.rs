//! `berth exec`: a process in a running container, through the runtime's `exec`, with this
//! command's stdio.

use std::process::Stdio;

use super::Engine;
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
    let r = e.get(key)?;
    if r.state != "running" {
        return Err(Error::WrongState {
            op: "exec in",
            id: r.id,
            reason: "it is not running".into(),
        });
    }
    let rt = e.runtime_of(&r);
    let mut c = rt.command();
    c.arg("exec");
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
    let status = c.stdin(Stdio::inherit()).status().map_err(Error::io("run", &rt.path))?;
    Ok(status.code().unwrap_or(255))
}

fn container_rootfs(e: &Engine, id: &str) -> std::path::PathBuf {
    let cfg = e.paths.container(id).join("bundle/config.json");
    std::fs::read(&cfg)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["root"]["path"].as_str().map(std::path::PathBuf::from))
        .unwrap_or_default()
}
