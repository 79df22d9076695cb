//! OCI hooks: a program run with the container's state JSON on its stdin.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// The state JSON handed to hooks on stdin (runtime.md, "State").
pub fn state_json(bundle: &crate::config::Bundle, pid: i32, status: &str) -> String {
    serde_json::json!({
        "ociVersion": bundle.spec.version(),
        "id": bundle.id,
        "status": status,
        "pid": pid,
        "bundle": bundle.dir,
        "annotations": bundle.spec.annotations().clone().unwrap_or_default(),
    })
    .to_string()
}

/// Whether `create` runs any hooks itself (prestart, createRuntime) while the init waits.
pub fn has_runtime_hooks(hooks: Option<&oci_spec::runtime::Hooks>) -> bool {
    let Some(h) = hooks else { return false };
    #[allow(deprecated)]
    let prestart = h.prestart().as_ref().is_some_and(|v| !v.is_empty());
    prestart || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
}

/// Runs `hooks` in order; the first failure stops the list (runtime-spec: a failing
/// prestart/createRuntime/createContainer/startContainer hook fails the operation).
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &str) -> Result<()> {
    hooks.iter().try_for_each(|h| run_one(kind, h, state))
}

/// Runs every hook even when one fails, and returns the failures (poststart, poststop: the
/// spec says a failure there is only logged).
pub fn run_all_best_effort(kind: &'static str, hooks: &[Hook], state: &str) -> Vec<Error> {
    hooks.iter().filter_map(|h| run_one(kind, h, state).err()).collect()
}

fn run_one(kind: &'static str, hook: &Hook, state: &str) -> Result<()> {
    let path = hook.path().clone();
    let fail = |reason: String| Error::Hook { kind, path: path.clone(), reason };
    let mut cmd = Command::new(&path);
    if let Some(args) = hook.args() {
        if let Some((arg0, rest)) = args.split_first() {
            cmd.arg0(arg0).args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(format!("cannot run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state.as_bytes());
    }
    let timeout = hook.timeout().and_then(|t| u64::try_from(t).ok()).map(Duration::from_secs);
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(fail(format!("exited with {status}"))),
            Ok(None) => {}
            Err(e) => return Err(fail(format!("wait: {e}"))),
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                timeout.unwrap_or_default().as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
