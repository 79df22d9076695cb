//! Bringing the container up: `runtime create` with its stdio on the monitor's pipes (or
//! a pty received on the console socket), the network attached to the new init, then
//! `runtime start`. Used for the first start and for every restart.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use super::{run_dir, runtime, Args};
use crate::tty_relay::ContainerIo;

/// `create` with the container's stdio on our pipes (or its pty), the network, then `start`.
pub(super) fn start(
    args: &Args,
    plan: &crate::network::plan::Plan,
) -> Result<(i32, ContainerIo), String> {
    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| format!("pipe: {e}"))
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (stdin_r, stdin_w) = match args.interactive && !args.tty {
        true => pipe().map(|(r, w)| (Some(r), Some(w)))?,
        false => (None, None),
    };
    let console_path = run_dir(args).join(crate::attach::CONSOLE_SOCKET);
    let console = match args.tty {
        true => Some(crate::attach::listen(&console_path).map_err(|e| crate::error::chain(&e))?),
        false => None,
    };
    let bundle = args.bundle.display().to_string();
    let pid_file = args.pid_file.display().to_string();
    let mut create = runtime(args);
    create.args(["create", "--bundle", &bundle, "--pid-file", &pid_file]);
    if console.is_some() {
        create.arg("--console-socket").arg(&console_path);
    }
    create.arg(&args.id).stdin(stdin_r.map_or_else(Stdio::null, Stdio::from));
    let status = create
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w))
        .status()
        .map_err(|e| format!("run {}: {e}", args.runtime.display()));
    // The Command holds our copies of the pipes' other ends: the container's EOF needs
    // them closed.
    drop(create);
    if !status?.success() {
        let _ = std::fs::remove_file(&console_path);
        // The runtime's error went to the container's stderr pipe: it never ran.
        let mut text = Vec::new();
        let _ = std::fs::File::from(err_r).read_to_end(&mut text);
        return Err(format!("{RUNTIME_FAILED}create {}", crate::runtime::message_of(&text)));
    }
    let io = match console {
        Some(listener) => {
            let master =
                crate::attach::receive_console(&listener, &console_path, Duration::from_secs(10));
            let _ = std::fs::remove_file(&console_path);
            ContainerIo::tty(master.map_err(|e| crate::error::chain(&e))?)?
        }
        None => ContainerIo { out: Some(out_r), err: Some(err_r), stdin: stdin_w, tty: false },
    };
    let pid: i32 = std::fs::read_to_string(&args.pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("no pid in {}", args.pid_file.display()))?;
    crate::network::setup::attach_all(plan, pid)?;
    let out = runtime(args).args(["start", &args.id]).stdin(Stdio::null()).output();
    match out {
        Ok(o) if o.status.success() => Ok((pid, io)),
        Ok(o) => Err(format!("{RUNTIME_FAILED}start {}", crate::runtime::message_of(&o.stderr))),
        Err(e) => Err(format!("run {}: {e}", args.runtime.display())),
    }
}

/// Begins an `error` report whose cause is the runtime's `create` or `start` (the word
/// follows), not the monitor's own work (ports, networks, the console): `berth` says which
/// failed, and only the runtime's failures map to Docker's 126/127.
pub(crate) const RUNTIME_FAILED: &str = "runtime-failed ";
