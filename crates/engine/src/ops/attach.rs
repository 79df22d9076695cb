//! `berth attach`, and the attaching half of `run -i/-t` and `start -ai`: a connection to
//! the container's monitor on its attach socket (protocol in [`crate::attach`]). The
//! terminal side (raw mode, window size, detach keys) is the caller's.

use std::os::unix::net::UnixStream;

use super::Engine;
use crate::error::{Error, Result};
use crate::spec::RunOptions;

/// A running container to attach to.
#[derive(Debug)]
pub struct Attached {
    /// Its id.
    pub id: String,
    /// `-t`: its output comes on `stream` as raw terminal bytes.
    pub tty: bool,
    /// `-i`: its stdin is open for `stream`'s stdin frames.
    pub interactive: bool,
    /// The connection to its monitor; `None` for a container made without `-i` or `-t`,
    /// whose output is only in its log.
    pub stream: Option<UnixStream>,
}

/// Connects to `key`'s monitor; the container must be running.
pub fn attach(e: &Engine, key: &str) -> Result<Attached> {
    let r = e.get(key)?;
    if r.state != "running" {
        return Err(Error::WrongState {
            op: "attach to",
            id: r.id,
            reason: "it is not running: start it first".into(),
        });
    }
    let opts: RunOptions = serde_json::from_str(&r.config).unwrap_or_default();
    let stream = match opts.tty || opts.interactive {
        true => Some(crate::attach::connect(&e.paths.container_run(&r.id))?),
        false => None,
    };
    Ok(Attached { id: r.id, tty: opts.tty, interactive: opts.interactive, stream })
}
