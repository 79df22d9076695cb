//! The channel between the runtime and the container's init while `create` runs.
//!
//! A `SOCK_SEQPACKET` socketpair: one datagram is one JSON message, so framing is the
//! kernel's, and a closed peer reads as end-of-file at once. Every wait has a timeout.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use serde::{Deserialize, Serialize};

use crate::child::Step;

/// Bumped whenever a message changes shape; both ends are always the same binary today, but a
/// version in every message turns a mismatch into a clear error rather than a parse failure.
const VERSION: u32 = 1;

/// One message between the runtime (parent) and the init (child).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// parent → child: the init is recorded (or about to be), its id maps are written and
    /// its devices moved; go on.
    Go {
        /// The child's pid as the host sees it, for the state given to hooks.
        pid: i32,
    },
    /// child → parent: namespaces and mounts are ready, pivot_root has not happened: run the
    /// prestart and createRuntime hooks now.
    RunRuntimeHooks,
    /// parent → child: those hooks ran (sent only when there were any, or the parent moved
    /// the init into its cgroups meanwhile).
    HooksDone,
    /// child → parent: the container is created; the init will wait for `start`.
    Created,
    /// parent → child: the state is recorded; stop watching the parent and wait for start.
    Detach,
    /// child → parent: a step failed.
    Failed {
        /// The step.
        step: Step,
        /// The message (operation, path, errno).
        msg: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Frame {
    v: u32,
    msg: Msg,
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel(OwnedFd);

impl Channel {
    /// A connected pair: (parent end, child end). Both are close-on-exec.
    pub fn pair() -> rustix::io::Result<(Channel, Channel)> {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok((Channel(a), Channel(b)))
    }

    /// Sends one message.
    pub fn send(&self, msg: Msg) -> Result<(), String> {
        let bytes = serde_json::to_vec(&Frame { v: VERSION, msg }).map_err(|e| e.to_string())?;
        rustix::net::send(&self.0, &bytes, SendFlags::NOSIGNAL)
            .map(|_| ())
            .map_err(|e| format!("send: {e}"))
    }

    /// Receives one message, waiting at most `timeout`.
    pub fn recv(&self, timeout: Duration) -> Result<Msg, String> {
        let ts = Timespec::try_from(timeout).map_err(|e| e.to_string())?;
        let mut fds = [PollFd::new(&self.0, PollFlags::IN)];
        loop {
            match poll(&mut fds, Some(&ts)) {
                Ok(0) => return Err(format!("no answer within {}s", timeout.as_secs())),
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(format!("poll: {e}")),
            }
        }
        let mut buf = vec![0u8; 64 * 1024];
        let n = match rustix::net::recv(&self.0, &mut buf[..], RecvFlags::empty()) {
            // The peer exited with a message of ours unread (the init failed before it read
            // `Go`): the kernel reports that once, before the messages the peer sent first,
            // which are still queued. Read on: its `Failed` is the error worth reporting.
            Err(rustix::io::Errno::CONNRESET) => {
                match rustix::net::recv(&self.0, &mut buf[..], RecvFlags::DONTWAIT) {
                    Ok((n, _)) => n,
                    Err(rustix::io::Errno::AGAIN) => 0, // it sent nothing: plain exit
                    Err(e) => return Err(format!("recv: {e}")),
                }
            }
            r => r.map_err(|e| format!("recv: {e}"))?.0,
        };
        if n == 0 {
            return Err("the other side exited".into());
        }
        let frame: Frame =
            serde_json::from_slice(&buf[..n]).map_err(|e| format!("bad message: {e}"))?;
        if frame.v != VERSION {
            return Err(format!("protocol version {} (expected {VERSION})", frame.v));
        }
        Ok(frame.msg)
    }

    /// Receives and checks that the message is `want`; a `Failed` becomes `Err`.
    pub fn expect(&self, want: &Msg, timeout: Duration) -> Result<(), Msg> {
        match self.recv(timeout) {
            Ok(m) if &m == want => Ok(()),
            Ok(m) => Err(m),
            Err(e) => Err(Msg::Failed { step: Step::Sync, msg: e }),
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_eof() {
        let (a, b) = Channel::pair().unwrap();
        a.send(Msg::Failed { step: Step::PivotRoot, msg: "x".into() }).unwrap();
        let got = b.recv(Duration::from_secs(1)).unwrap();
        assert_eq!(got, Msg::Failed { step: Step::PivotRoot, msg: "x".into() });
        drop(a);
        assert!(b.recv(Duration::from_secs(1)).unwrap_err().contains("exited"));
    }

    #[test]
    fn a_message_sent_before_the_peer_left_is_read_past_the_reset() {
        let (a, b) = Channel::pair().unwrap();
        a.send(Msg::Go { pid: 1 }).unwrap();
        b.send(Msg::Failed { step: Step::PivotRoot, msg: "x".into() }).unwrap();
        // b goes with `Go` unread: the kernel reports ECONNRESET once on a's next receive.
        drop(b);
        let got = a.recv(Duration::from_secs(1)).unwrap();
        assert_eq!(got, Msg::Failed { step: Step::PivotRoot, msg: "x".into() });
        assert!(a.recv(Duration::from_secs(1)).is_err(), "then end-of-file");
    }

    #[test]
    fn a_peer_that_left_without_a_word_reads_as_exited() {
        let (a, b) = Channel::pair().unwrap();
        a.send(Msg::Go { pid: 1 }).unwrap();
        drop(b);
        assert_eq!(a.recv(Duration::from_secs(1)).unwrap_err(), "the other side exited");
    }

    #[test]
    fn timeout_is_reported() {
        let (_a, b) = Channel::pair().unwrap();
        assert!(b.recv(Duration::from_millis(10)).unwrap_err().contains("no answer"));
    }
}
