//! `SeccompAgent`: the receiving end of `linux.seccomp.listenerPath`. The runtime connects to
//! a listening unix socket and sends the `containerProcessState` JSON with the seccomp
//! listener fd (`SCM_RIGHTS`); the agent then answers the container's notified syscalls.
//!
//! The notification ioctls are `berth_sys::seccomp::notif_recv`/`notif_send`; the rest is
//! rustix's safe API.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use serde_json::Value;
use tempfile::TempDir;

/// A listening unix socket in its own tempdir.
#[derive(Debug)]
pub struct SeccompAgent {
    _dir: TempDir,
    path: PathBuf,
    listener: UnixListener,
}

fn wait(fd: impl AsFd, timeout: Duration) -> PollFlags {
    let ts = Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    match poll(&mut fds, Some(&ts)) {
        Ok(n) if n > 0 => fds[0].revents(),
        _ => PollFlags::empty(),
    }
}

impl SeccompAgent {
    /// Binds `agent.sock` in a fresh tempdir.
    pub fn new() -> SeccompAgent {
        let dir = tempfile::Builder::new().prefix("berth-agent-").tempdir().expect("tempdir");
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).expect("bind agent socket");
        SeccompAgent { _dir: dir, path, listener }
    }

    /// The path for `listenerPath`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the runtime's connection and receives the state JSON and the listener fd.
    pub fn accept(&self, timeout: Duration) -> Result<(Value, OwnedFd), String> {
        if wait(&self.listener, timeout).is_empty() {
            return Err(format!("no connection on {} within {timeout:?}", self.path.display()));
        }
        let (conn, _) = self.listener.accept().map_err(|e| format!("accept: {e}"))?;
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut payload = vec![0u8; 1 << 16];
        let mut fd = None;
        let mut len = 0;
        // The JSON may come in pieces; the fd rides on the first. Read to end-of-file.
        let start = Instant::now();
        while start.elapsed() < timeout {
            if wait(&conn, timeout.saturating_sub(start.elapsed())).is_empty() {
                return Err("the runtime connected but sent nothing".into());
            }
            let mut iov = [std::io::IoSliceMut::new(&mut payload[len..])];
            let got = recvmsg(&conn, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)
                .map_err(|e| format!("recvmsg: {e}"))?;
            for msg in control.drain() {
                if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
                    fd = fd.or_else(|| fds.next());
                }
            }
            len += got.bytes;
            if got.bytes == 0 || serde_json::from_slice::<Value>(&payload[..len]).is_ok() {
                break;
            }
        }
        let state = serde_json::from_slice(&payload[..len])
            .map_err(|e| format!("state JSON: {e}: {:?}", String::from_utf8_lossy(&payload)))?;
        Ok((state, fd.ok_or("the message carried no SCM_RIGHTS fd")?))
    }
}

impl Default for SeccompAgent {
    fn default() -> Self {
        SeccompAgent::new()
    }
}

/// Answers notifications on `listener` until every filtered process is gone (the listener
/// hangs up) or `timeout` passes: `reply(nr, args)` gives the `(val, errno)` to return
/// (errno 0: the call "succeeds" with `val`, else fails with `errno`). Returns the syscall
/// numbers seen.
pub fn serve(
    listener: &OwnedFd,
    timeout: Duration,
    reply: impl Fn(i32, [u64; 6]) -> (i64, i32),
) -> Vec<i32> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while let Some(left) = timeout.checked_sub(start.elapsed()) {
        let ev = wait(listener, left);
        if ev.contains(PollFlags::IN) {
            if let Ok(nr) = answer_one(listener, &reply) {
                seen.push(nr);
            }
        } else if ev.intersects(PollFlags::HUP | PollFlags::ERR) || ev.is_empty() {
            break;
        }
    }
    seen
}

/// Receives one notification and sends `reply(nr, args)` = `(val, errno)` for it.
pub fn answer_one(
    listener: &OwnedFd,
    reply: impl Fn(i32, [u64; 6]) -> (i64, i32),
) -> Result<i32, berth_sys::Error> {
    let n = berth_sys::seccomp::notif_recv(listener)?;
    let (val, errno) = reply(n.nr, n.args);
    berth_sys::seccomp::notif_send(listener, n.id, val, errno)?;
    Ok(n.nr)
}
