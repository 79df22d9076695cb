//! The monitor's side of a container's terminal and stdin: the attach socket its clients
//! (`berth run -it`, `attach`, `start -ai`) connect to, the frames they send (see
//! [`crate::attach`]), the container's stdin (the pty master, or the write end of a stdin
//! pipe for `-i` without `-t`), and the terminal output copied to every client.
//!
//! Everything here runs in the monitor's single poll loop (`monitor::supervise`), so
//! nothing may block for long: stdin is written without blocking (what the container does
//! not read yet waits in `pending`), and a client that does not read its output for
//! [`CLIENT_WRITE_TIMEOUT`] is dropped.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;

use crate::attach::{self, Frame};

/// How long a client may leave its output unread before it is dropped.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most output kept for a `run -it` client that has not connected yet.
const HOLD_MAX: usize = 1024 * 1024;
/// The most stdin kept for a container that does not read it; more is dropped.
const PENDING_MAX: usize = 1024 * 1024;
/// How long an exited container's held output waits for its first client.
const HOLD_WAIT: Duration = Duration::from_secs(5);

/// The container's stdio as the monitor holds it for one run.
#[derive(Debug)]
pub(crate) struct ContainerIo {
    /// The stdout pipe's read end, or the pty master.
    pub(crate) out: Option<OwnedFd>,
    /// The stderr pipe's read end (none with a tty: it is the same terminal).
    pub(crate) err: Option<OwnedFd>,
    /// Where stdin goes: the stdin pipe's write end (`-i`), a duplicate of the pty master
    /// (`-t`), or nothing (stdin is /dev/null).
    pub(crate) stdin: Option<OwnedFd>,
    /// Whether `out` is a pty master (its output also goes to the clients).
    pub(crate) tty: bool,
}

impl ContainerIo {
    /// The io of a terminal container, from the master the runtime sent.
    pub(crate) fn tty(master: OwnedFd) -> Result<ContainerIo, String> {
        let stdin = rustix::io::fcntl_dupfd_cloexec(&master, 3)
            .map_err(|e| format!("dup pty master: {e}"))?;
        Ok(ContainerIo { out: Some(master), err: None, stdin: Some(stdin), tty: true })
    }
}

/// One connected client.
#[derive(Debug)]
struct Client {
    stream: UnixStream,
    /// Bytes received that do not make a whole frame yet.
    partial: Vec<u8>,
}

/// The attach socket, its clients, and the container's stdin.
#[derive(Debug)]
pub(crate) struct Relay {
    /// Listening on `<run dir>/attach`; removed in `Drop`.
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
    /// Terminal output kept until the first client connects (`run -it` connects only after
    /// the monitor said the container runs, and the shell's prompt comes before that).
    held: Option<Vec<u8>>,
    /// The container's stdin for this run (see [`ContainerIo::stdin`]); non-blocking.
    stdin: Option<OwnedFd>,
    tty: bool,
    /// Stdin the container has not read yet.
    pending: Vec<u8>,
    /// A client sent end-of-stdin: close stdin once `pending` is written.
    eof_requested: bool,
}

impl Relay {
    /// Listens on the attach socket in `run_dir`; `hold` keeps terminal output for the first
    /// client.
    pub(crate) fn bind(run_dir: &Path, hold: bool) -> Result<Relay, String> {
        let path = run_dir.join(attach::SOCKET);
        let listener = attach::listen(&path).map_err(|e| crate::error::chain(&e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("set {} non-blocking: {e}", path.display()))?;
        Ok(Relay {
            listener,
            path,
            clients: Vec::new(),
            held: hold.then(Vec::new),
            stdin: None,
            tty: false,
            pending: Vec::new(),
            eof_requested: false,
        })
    }

    /// Takes the stdin of a new run of the container.
    pub(crate) fn begin(&mut self, stdin: Option<OwnedFd>, tty: bool) {
        self.stdin = stdin.filter(|fd| rustix::io::ioctl_fionbio(fd, true).is_ok());
        self.tty = tty;
        self.pending.clear();
        self.eof_requested = false;
    }

    /// The fds to poll, in the order [`Relay::handle`] reads their readiness: the listener,
    /// each client, and stdin while it has bytes waiting.
    pub(crate) fn poll_fds<'a>(&'a self, fds: &mut Vec<PollFd<'a>>) {
        fds.push(PollFd::new(&self.listener, PollFlags::IN));
        for c in &self.clients {
            fds.push(PollFd::new(&c.stream, PollFlags::IN));
        }
        if let (Some(fd), false) = (&self.stdin, self.pending.is_empty()) {
            fds.push(PollFd::new(fd, PollFlags::OUT));
        }
    }

    /// Acts on what `poll` found ready (`ready` is in [`Relay::poll_fds`]'s order).
    pub(crate) fn handle(&mut self, ready: &[bool]) {
        let mut gone = Vec::new();
        for (i, _) in ready.iter().skip(1).take(self.clients.len()).enumerate().filter(|r| *r.1) {
            if !self.read_client(i) {
                gone.push(i);
            }
        }
        for i in gone.into_iter().rev() {
            self.clients.remove(i);
        }
        self.flush_stdin();
        if ready.first().copied().unwrap_or(false) {
            self.accept();
        }
    }

    /// Terminal output for the clients (held for the first one if asked to).
    pub(crate) fn output(&mut self, data: &[u8]) {
        if let Some(held) = self.held.as_mut() {
            let room = HOLD_MAX.saturating_sub(held.len());
            held.extend_from_slice(&data[..data.len().min(room)]);
            return;
        }
        self.clients.retain_mut(|c| c.stream.write_all(data).is_ok());
    }

    /// The container exited: held output goes to a client that comes soon, then every
    /// client is disconnected (their `berth` then reads the exit status) and stdin closed.
    pub(crate) fn end(&mut self) {
        if self.held.as_ref().is_some_and(|h| !h.is_empty())
            && attach::wait_readable(&self.listener, HOLD_WAIT)
        {
            self.accept();
        }
        self.clients.clear();
        self.stdin = None;
        self.pending.clear();
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(false).is_err()
                || stream.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT)).is_err()
            {
                continue;
            }
            let mut client = Client { stream, partial: Vec::new() };
            if let Some(held) = self.held.take() {
                if client.stream.write_all(&held).is_err() {
                    continue;
                }
            }
            self.clients.push(client);
        }
    }

    /// Reads what a ready client sent and applies its frames; false when it is gone (it
    /// closed the connection, e.g. on detach, or broke the protocol).
    fn read_client(&mut self, i: usize) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let client = &mut self.clients[i];
        let n = match client.stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        client.partial.extend_from_slice(&buf[..n]);
        let Ok(frames) = attach::decode(&mut client.partial) else { return false };
        for f in frames {
            self.apply(f);
        }
        true
    }

    fn apply(&mut self, frame: Frame) {
        let Some(stdin) = &self.stdin else { return };
        match frame {
            Frame::Stdin(data) => {
                let room = PENDING_MAX.saturating_sub(self.pending.len());
                self.pending.extend_from_slice(&data[..data.len().min(room)]);
            }
            Frame::Resize(rows, cols) if self.tty => {
                let ws = rustix::termios::Winsize {
                    ws_row: rows,
                    ws_col: cols,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                // The kernel sends SIGWINCH to the terminal's foreground process group.
                let _ = rustix::termios::tcsetwinsize(stdin, ws);
            }
            Frame::Resize(..) => {}
            // A terminal has no end of input of its own: the shell reads ^D as EOF.
            Frame::Eof if self.tty => {}
            Frame::Eof => self.eof_requested = true,
        }
        self.flush_stdin();
    }

    /// Writes what the container will take now; closes stdin after an end-of-stdin frame.
    fn flush_stdin(&mut self) {
        let Some(stdin) = &self.stdin else { return };
        while !self.pending.is_empty() {
            match rustix::io::write(stdin.as_fd(), &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::AGAIN) => return,
                Err(Errno::INTR) => {}
                // The container closed its stdin (EPIPE) or the pty is gone (EIO).
                Err(_) => {
                    self.pending.clear();
                    self.stdin = None;
                    return;
                }
            }
        }
        if self.eof_requested {
            self.stdin = None;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One turn of the monitor's loop, for the relay alone.
    fn turn(relay: &mut Relay) {
        let mut fds = Vec::new();
        relay.poll_fds(&mut fds);
        let ts = rustix::event::Timespec { tv_sec: 0, tv_nsec: 100_000_000 };
        let _ = rustix::event::poll(&mut fds, Some(&ts));
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        relay.handle(&ready);
    }

    #[test]
    fn stdin_frames_reach_the_pipe_and_eof_closes_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut relay = Relay::bind(dir.path(), false).unwrap();
        let (r, w) = rustix::pipe::pipe().unwrap();
        relay.begin(Some(w), false);
        let mut client = UnixStream::connect(dir.path().join(attach::SOCKET)).unwrap();
        turn(&mut relay);
        client.write_all(&attach::frame(attach::STDIN, b"hi\n")).unwrap();
        client.write_all(&attach::resize_frame(1, 2)).unwrap();
        client.write_all(&attach::frame(attach::STDIN_EOF, b"")).unwrap();
        for _ in 0..20 {
            turn(&mut relay);
        }
        // read_to_string returns only once the relay closed the write end
        let mut got = String::new();
        std::fs::File::from(r).read_to_string(&mut got).unwrap();
        assert_eq!(got, "hi\n");
    }

    #[test]
    fn held_output_goes_to_the_first_client_then_output_flows() {
        let dir = tempfile::tempdir().unwrap();
        let mut relay = Relay::bind(dir.path(), true).unwrap();
        relay.output(b"prompt# ");
        let mut client = UnixStream::connect(dir.path().join(attach::SOCKET)).unwrap();
        turn(&mut relay);
        relay.output(b"more");
        relay.end();
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert_eq!(got, "prompt# more");
        drop(relay);
        assert!(!dir.path().join(attach::SOCKET).exists(), "the socket goes with the relay");
    }

    #[test]
    fn a_client_breaking_the_protocol_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut relay = Relay::bind(dir.path(), false).unwrap();
        let mut client = UnixStream::connect(dir.path().join(attach::SOCKET)).unwrap();
        turn(&mut relay);
        client.write_all(&attach::frame(9, b"?")).unwrap();
        turn(&mut relay);
        assert!(relay.clients.is_empty());
    }
}
