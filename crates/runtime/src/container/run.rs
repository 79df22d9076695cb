//! `run`: create + start; in the foreground, wait for the program, forwarding signals to it,
//! then delete the container and return the exit status the shell would see.

use std::time::Duration;

use berth_sys::signal::{self, SigSet};
use rustix::process::{Pid, WaitOptions};
use tracing::{debug, warn};

use crate::container::create::{create, CreateOptions};
use crate::container::{delete::delete, start::start};
use crate::error::{Error, Result};

/// Runs the container; returns its exit code (128 + signal if killed), 0 when detached.
pub fn run(opts: &CreateOptions, detach: bool) -> Result<i32> {
    if detach {
        create(opts)?;
        return start(&opts.root, &opts.id).map(|()| 0).inspect_err(|_| {
            let _ = delete(&opts.root, &opts.id, true);
        });
    }
    // Block every signal before the init exists, so none sent to us is lost: they are taken
    // one by one below and forwarded. The init unblocks them before exec.
    let all = SigSet::full();
    let old = signal::set_mask(&all).map_err(Error::sys("block signals"))?;
    let result = create(opts).and_then(|c| {
        start(&opts.root, &opts.id)?;
        wait_forwarding(c.pid, &c.pidfd, &all)
    });
    let _ = signal::set_mask(&old);
    if let Err(e) = delete(&opts.root, &opts.id, true) {
        if !matches!(e, Error::NotFound { .. }) {
            warn!(error = %crate::error::chain(&e), "delete after run failed");
        }
    }
    result
}

pub(crate) fn wait_forwarding(pid: i32, pidfd: &std::os::fd::OwnedFd, set: &SigSet) -> Result<i32> {
    let child = Pid::from_raw(pid).ok_or_else(|| Error::Sync(format!("bad pid {pid}")))?;
    loop {
        match rustix::process::waitpid(Some(child), WaitOptions::NOHANG) {
            Ok(Some((_, st))) => {
                if let Some(code) = st.exit_status() {
                    return Ok(code);
                }
                if let Some(sig) = st.terminating_signal() {
                    return Ok(128 + sig);
                }
            }
            Ok(None) => {}
            Err(e) => {
                return Err(Error::sys("wait for container")(berth_sys::Error::new(
                    "waitpid", None, e,
                )))
            }
        }
        match signal::wait(set, Duration::from_millis(100)) {
            Ok(Some(s)) if s == libc_sigchld() => {}
            Ok(Some(s)) => {
                debug!(signal = s, "forwarding");
                let _ = berth_sys::process::pidfd_send_signal(pidfd, s);
            }
            Ok(None) => {}
            Err(e) => return Err(Error::sys("wait for signals")(e)),
        }
    }
}

const fn libc_sigchld() -> i32 {
    17
}
