//! Unix stream sockets `create` and `exec` connect to on the host before `clone3`:
//! `--console-socket` and `linux.seccomp.listenerPath`.

use std::os::fd::OwnedFd;
use std::path::Path;

use berth_sys::Context;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::error::{Error, Result};

/// Connects a close-on-exec stream socket to `path`; `context` names what it is for
/// ("connect console socket"), the error adds the syscall, path and errno.
pub(crate) fn connect(path: &Path, context: &'static str) -> Result<OwnedFd> {
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .op("socket")
    .map_err(Error::sys(context))?;
    let addr = SocketAddrUnix::new(path).op_path("connect", path).map_err(Error::sys(context))?;
    rustix::net::connect(&sock, &addr).op_path("connect", path).map_err(Error::sys(context))?;
    Ok(sock)
}
