//! `ConsoleSocket`: the receiving end of runc's `--console-socket` protocol. The runtime
//! connects to a listening unix socket and sends the pty master as one `SCM_RIGHTS` fd; the
//! test then reads what the container writes to its terminal from that master.
//!
//! Built on rustix's safe wrappers (`recvmsg`, `poll`, `read`), so the harness needs no
//! `unsafe`.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use tempfile::TempDir;

/// A listening unix socket in its own tempdir.
#[derive(Debug)]
pub struct ConsoleSocket {
    _dir: TempDir,
    path: PathBuf,
    listener: UnixListener,
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// Waits until `fd` is readable (or hung up); `false` on timeout.
fn wait_readable(fd: impl AsFd, timeout: Duration) -> bool {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    matches!(poll(&mut fds, Some(&timespec(timeout))), Ok(n) if n > 0)
}

impl ConsoleSocket {
    /// Binds `console.sock` in a fresh tempdir.
    pub fn new() -> ConsoleSocket {
        let dir = tempfile::Builder::new()
            .prefix("berth-console-")
            .tempdir()
            .expect("console socket tempdir");
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path).expect("bind console socket");
        ConsoleSocket { _dir: dir, path, listener }
    }

    /// The socket path to pass as `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one connection and receives the fd it sends. The connection may already sit
    /// in the backlog (the runtime's `create` returned), so this can run after `create`.
    pub fn recv_master(&self, timeout: Duration) -> Result<OwnedFd, String> {
        if !wait_readable(&self.listener, timeout) {
            return Err(format!("no connection on {} within {timeout:?}", self.path.display()));
        }
        let (conn, _) = self.listener.accept().map_err(|e| format!("accept: {e}"))?;
        if !wait_readable(&conn, timeout) {
            return Err("the runtime connected but sent nothing".into());
        }
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        // runc sends the pty's name as the payload; only the fd matters here.
        let mut payload = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut payload)];
        recvmsg(&conn, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)
            .map_err(|e| format!("recvmsg: {e}"))?;
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
                if let Some(fd) = fds.next() {
                    return Ok(fd);
                }
            }
        }
        Err("the message carried no SCM_RIGHTS fd".into())
    }
}

impl Default for ConsoleSocket {
    fn default() -> Self {
        ConsoleSocket::new()
    }
}

/// Reads from a pty master until the other side is closed (`EIO`/hang-up once every slave fd
/// is gone) or `timeout` passes; returns the text with `\r` removed.
pub fn read_until_closed(master: &OwnedFd, timeout: Duration) -> String {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = timeout.checked_sub(start.elapsed()) {
        if !wait_readable(master, left) {
            break;
        }
        match rustix::io::read(master, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).replace('\r', "")
}
