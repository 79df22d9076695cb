//! `berth top`: the container's processes, through the runtime's `ps` (ps(1) on the host,
//! filtered to the pids of the container's cgroup).

use super::Engine;
use crate::error::{Error, Result};

/// ps(1)'s output for `key`, with `ps_args` (default `-ef`).
pub fn top(e: &Engine, key: &str, ps_args: &[String]) -> Result<String> {
    let r = e.get(key)?;
    if r.state != "running" {
        return Err(Error::WrongState { op: "top", id: r.id, reason: "it is not running".into() });
    }
    let mut args: Vec<&str> = vec!["ps", &r.id];
    if !ps_args.is_empty() {
        args.push("--");
        args.extend(ps_args.iter().map(String::as_str));
    }
    let out = e.runtime_of(&r).call(&args)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
