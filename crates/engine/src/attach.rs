//! The attach protocol between `berth` (client) and the container's monitor (server), on the
//! unix socket `attach` in the container's run directory, plus what both sides share: the
//! socket path check, receiving a pty master over a console socket, and detach keys.
//!
//! Client → monitor, frames of `[kind: u8][len: u32 big-endian][payload: len bytes]`:
//! - [`STDIN`] (1): bytes for the container's stdin (its pty or its stdin pipe);
//! - [`RESIZE`] (2): 4 bytes, rows then columns as big-endian `u16`: the window size;
//! - [`STDIN_EOF`] (3): no payload; closes the container's stdin pipe (ignored with a tty,
//!   where the end of input is the terminal's own EOF character).
//!
//! Monitor → client: the container's raw terminal output, unframed, for tty containers;
//! nothing for others (their output is read from the log). The monitor closes the
//! connection when the container exits. See [`crate::monitor`] for why.

use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use crate::error::{Error, Result};

/// Frame kind: stdin data.
pub const STDIN: u8 = 1;
/// Frame kind: window size.
pub const RESIZE: u8 = 2;
/// Frame kind: end of stdin.
pub const STDIN_EOF: u8 = 3;
/// The largest payload a frame may carry; the client sends stdin in smaller pieces.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// The attach socket's name in the container's run directory.
pub const SOCKET: &str = "attach";
/// The console socket's name (the runtime sends the pty master to it at `create`).
pub const CONSOLE_SOCKET: &str = "console";

/// `sun_path` is 108 bytes with its terminating NUL (unix(7)).
const SUN_PATH_MAX: usize = 107;

/// One frame, encoded.
pub fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut v = Vec::with_capacity(5 + payload.len());
    v.push(kind);
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A window-size frame.
pub fn resize_frame(rows: u16, cols: u16) -> Vec<u8> {
    let mut p = [0u8; 4];
    p[..2].copy_from_slice(&rows.to_be_bytes());
    p[2..].copy_from_slice(&cols.to_be_bytes());
    frame(RESIZE, &p)
}

/// A decoded client frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// Bytes for stdin.
    Stdin(Vec<u8>),
    /// Rows, columns.
    Resize(u16, u16),
    /// End of stdin.
    Eof,
}

/// Takes the complete frames off the front of `buf`; `Err` on a frame that breaks the
/// protocol (unknown kind, oversized payload, bad resize length), which ends the connection.
pub fn decode(buf: &mut Vec<u8>) -> std::result::Result<Vec<Frame>, String> {
    let mut frames = Vec::new();
    loop {
        if buf.len() < 5 {
            return Ok(frames);
        }
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(format!("frame of {len} bytes, over {MAX_PAYLOAD}"));
        }
        if buf.len() < 5 + len {
            return Ok(frames);
        }
        let payload: Vec<u8> = buf[5..5 + len].to_vec();
        let kind = buf[0];
        buf.drain(..5 + len);
        frames.push(match (kind, payload.len()) {
            (STDIN, _) => Frame::Stdin(payload),
            (RESIZE, 4) => Frame::Resize(
                u16::from_be_bytes([payload[0], payload[1]]),
                u16::from_be_bytes([payload[2], payload[3]]),
            ),
            (STDIN_EOF, 0) => Frame::Eof,
            (k, n) => return Err(format!("bad frame kind {k} with {n} bytes")),
        });
    }
}

/// Refuses a socket path the kernel cannot take: a longer one would be cut short by
/// `bind`/`connect` (std reports it as `InvalidInput` without saying the limit).
pub fn check_socket_path(path: &Path) -> Result<()> {
    let len = path.as_os_str().len();
    if len > SUN_PATH_MAX {
        return Err(Error::SocketPathTooLong { path: path.to_path_buf(), len });
    }
    Ok(())
}

/// Binds a listening socket at `path` (a stale one is replaced).
pub fn listen(path: &Path) -> Result<UnixListener> {
    check_socket_path(path)?;
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path).map_err(Error::io("bind unix socket", path))
}

/// Connects to the attach socket of the container whose run directory is `run_dir`.
pub fn connect(run_dir: &Path) -> Result<UnixStream> {
    let path = run_dir.join(SOCKET);
    check_socket_path(&path)?;
    UnixStream::connect(&path).map_err(Error::io("connect to attach socket", path))
}

/// Waits until `fd` is readable; false on timeout.
pub fn wait_readable(fd: impl std::os::fd::AsFd, timeout: Duration) -> bool {
    let ts = Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    matches!(poll(&mut fds, Some(&ts)), Ok(n) if n > 0)
}

/// Accepts the runtime's connection on a console socket and receives the pty master it
/// sends as one `SCM_RIGHTS` fd (runc's `--console-socket` protocol).
pub fn receive_console(listener: &UnixListener, path: &Path, timeout: Duration) -> Result<OwnedFd> {
    let fail = |what: &str, errno: rustix::io::Errno| Error::Io {
        op: "receive the pty master on",
        path: PathBuf::from(format!("{} ({what})", path.display())),
        source: errno.into(),
    };
    if !wait_readable(listener, timeout) {
        return Err(fail("no connection", rustix::io::Errno::TIMEDOUT));
    }
    let (conn, _) = listener.accept().map_err(Error::io("accept on console socket", path))?;
    if !wait_readable(&conn, timeout) {
        return Err(fail("nothing sent", rustix::io::Errno::TIMEDOUT));
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    // runc sends the pty's name as the payload; only the fd matters.
    let mut payload = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut payload)];
    recvmsg(&conn, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)
        .map_err(|e| fail("recvmsg", e))?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(fail("no SCM_RIGHTS fd in the message", rustix::io::Errno::PROTO))
}

/// Docker's default detach keys, `ctrl-p,ctrl-q`.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Parses Docker's `--detach-keys` format: comma-separated keys, each one character or
/// `ctrl-X` with X in `a`–`z`, `@`, `[`, `\`, `]`, `^`, `_` (Docker's `term.ToBytes`).
pub fn parse_detach_keys(keys: &str) -> Result<Vec<u8>> {
    let bad = |reason: &str| Error::InvalidFlag {
        flag: "--detach-keys",
        value: keys.to_string(),
        reason: reason.to_string(),
    };
    let mut codes = Vec::new();
    for key in keys.split(',') {
        let lower = key.to_ascii_lowercase();
        match (key.len(), lower.strip_prefix("ctrl-")) {
            (1, _) => codes.push(key.as_bytes()[0]),
            (6, Some(c)) => codes.push(match c.as_bytes()[0] {
                c @ b'a'..=b'z' => c - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return Err(bad("unknown ctrl- key")),
            }),
            _ => return Err(bad("keys are one character or ctrl-<key>, comma-separated")),
        }
    }
    Ok(codes)
}

/// Watches stdin for the detach sequence. Bytes that may start it are held back until the
/// sequence completes (detach: they are never sent) or breaks (they are sent after all).
#[derive(Debug)]
pub struct DetachWatch {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachWatch {
    /// Watches for `keys` (empty: never detaches).
    pub fn new(keys: Vec<u8>) -> DetachWatch {
        DetachWatch { keys, matched: 0 }
    }

    /// What to send of `input`, and whether the sequence is complete.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = frame(STDIN, b"ls\r");
        buf.extend(resize_frame(24, 80));
        buf.extend(frame(STDIN_EOF, b""));
        let whole = buf.clone();
        // split anywhere: the decoder keeps the incomplete rest
        let (a, b) = whole.split_at(7);
        let mut buf = a.to_vec();
        let mut got = decode(&mut buf).unwrap();
        buf.extend_from_slice(b);
        got.extend(decode(&mut buf).unwrap());
        assert_eq!(got, [Frame::Stdin(b"ls\r".to_vec()), Frame::Resize(24, 80), Frame::Eof]);
        assert!(buf.is_empty());
    }

    #[test]
    fn bad_frames_are_refused() {
        assert!(decode(&mut frame(9, b"x")).is_err());
        assert!(decode(&mut frame(RESIZE, b"xyz")).is_err());
        let mut huge = vec![STDIN];
        huge.extend_from_slice(&(u32::try_from(MAX_PAYLOAD).unwrap() + 1).to_be_bytes());
        assert!(decode(&mut huge).is_err());
    }

    #[test]
    fn detach_keys_parse_as_docker() {
        assert_eq!(parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap(), [16, 17]);
        assert_eq!(parse_detach_keys("ctrl-@,ctrl-[,a,ctrl-_").unwrap(), [0, 27, b'a', 31]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }

    #[test]
    fn detach_watch_holds_and_releases() {
        let mut w = DetachWatch::new(vec![16, 17]);
        assert_eq!(w.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(w.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(w.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(w.feed(b"\x11rest"), (Vec::new(), true));
    }

    #[test]
    fn long_socket_paths_are_refused() {
        let long = PathBuf::from(format!("/{}/attach", "x".repeat(120)));
        let err = check_socket_path(&long).unwrap_err().to_string();
        assert!(err.contains("107"), "{err}");
        assert!(check_socket_path(Path::new("/run/berth/attach")).is_ok());
    }
}
