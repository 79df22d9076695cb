//! Attaching this terminal to a container: `run -i/-t`, `attach`, `start -ai` (through the
//! monitor's attach socket, [`berth_engine::attach`]) and `exec -t` (straight to the pty
//! master the runtime sent). Output is copied to stdout; keys, window sizes and the end of
//! stdin go to the container; the detach keys leave it running.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_engine::attach::{self as protocol, DetachWatch};
use berth_engine::ops::{self, Engine};

use super::terminal::{self, RawMode};

/// `attach`.
#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// Keys that detach from the container's terminal (default ctrl-p,ctrl-q).
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Do not relay this command's stdin.
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Forward signals to the container (Docker's default; `--sig-proxy=false` does not).
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Container.
    pub container: String,
}

/// How an attached session ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// The container exited with this status.
    Exited(u8),
    /// The detach keys were typed; the container runs on.
    Detached,
}

/// Where keys and window sizes go.
trait Sink: Send + Sync {
    fn stdin(&self, data: &[u8]) -> std::io::Result<()>;
    fn resize(&self, rows: u16, cols: u16) -> std::io::Result<()>;
    fn end_of_stdin(&self) -> std::io::Result<()>;
    /// Detach: ends the output side too.
    fn hang_up(&self);
}

/// The monitor's attach socket (the stdin thread and the window thread share it).
struct SocketSink(Mutex<UnixStream>);

impl SocketSink {
    fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write_all(frame)
    }
}

impl Sink for SocketSink {
    fn stdin(&self, data: &[u8]) -> std::io::Result<()> {
        data.chunks(protocol::MAX_PAYLOAD)
            .try_for_each(|chunk| self.send(&protocol::frame(protocol::STDIN, chunk)))
    }
    fn resize(&self, rows: u16, cols: u16) -> std::io::Result<()> {
        self.send(&protocol::resize_frame(rows, cols))
    }
    fn end_of_stdin(&self) -> std::io::Result<()> {
        self.send(&protocol::frame(protocol::STDIN_EOF, &[]))
    }
    fn hang_up(&self) {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let _ = s.shutdown(std::net::Shutdown::Both);
    }
}

/// An exec's pty master.
struct MasterSink(OwnedFd);

impl Sink for MasterSink {
    fn stdin(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            match rustix::io::write(&self.0, data) {
                Ok(n) => data = &data[n..],
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
    fn resize(&self, rows: u16, cols: u16) -> std::io::Result<()> {
        let ws =
            rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        Ok(rustix::termios::tcsetwinsize(&self.0, ws)?)
    }
    fn end_of_stdin(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn hang_up(&self) {}
}

/// Parses `--detach-keys` (Docker's default when not given).
pub(super) fn detach_keys(flag: Option<&str>) -> anyhow::Result<Vec<u8>> {
    Ok(protocol::parse_detach_keys(flag.unwrap_or(protocol::DEFAULT_DETACH_KEYS))?)
}

/// Attaches to the running container `id` until it exits (or the detach keys):
/// a tty container's output comes from its monitor, any other's from its log from byte
/// `log_from` on; `with_stdin` relays this process's stdin if the container has `-i`.
/// Call [`terminal::block_sigwinch`] before starting any thread.
pub(super) fn attach_until_exit(
    engine: &Engine,
    id: &str,
    with_stdin: bool,
    keys: Vec<u8>,
    log_from: u64,
) -> anyhow::Result<Ended> {
    match connect(engine, id)? {
        Some(ops::attach::Attached { tty: true, stream: Some(s), interactive, .. }) => {
            let output = s.try_clone()?;
            let sink: Arc<dyn Sink> = Arc::new(SocketSink(Mutex::new(s)));
            if relay_terminal(&sink, output, with_stdin && interactive, keys) {
                return Ok(Ended::Detached);
            }
        }
        Some(ops::attach::Attached { tty: false, stream: Some(s), interactive: true, .. })
            if with_stdin =>
        {
            pipe_stdin(Arc::new(SocketSink(Mutex::new(s))));
            follow_log(engine, id, log_from)?;
        }
        _ => follow_log(engine, id, log_from)?,
    }
    let code = ops::wait_exit(engine, id, None)?.unwrap_or(255);
    Ok(Ended::Exited(u8::try_from(code).unwrap_or(255)))
}

/// Connects to the container's monitor; `None` if the container exited first (its output
/// is then only in the log). The monitor closes its socket a moment before it records the
/// exit, so a refused connection is looked at again once that moment has passed.
fn connect(engine: &Engine, id: &str) -> anyhow::Result<Option<ops::attach::Attached>> {
    match ops::attach::attach(engine, id) {
        Ok(a) => Ok(Some(a)),
        Err(berth_engine::Error::WrongState { .. }) => Ok(None),
        Err(err) => match ops::wait_exit(engine, id, Some(std::time::Duration::from_secs(2)))? {
            Some(_) => Ok(None),
            None => Err(err.into()),
        },
    }
}

fn follow_log(engine: &Engine, id: &str, from: u64) -> anyhow::Result<()> {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    Ok(ops::logs::follow(engine, id, from, &Default::default(), &mut out, &mut err, None)?)
}

/// `exec -t`: relays the pty of the runtime's `exec --tty` until the process exits.
pub(super) fn exec_tty(
    mut child: std::process::Child,
    master: OwnedFd,
    with_stdin: bool,
) -> anyhow::Result<u8> {
    terminal::block_sigwinch();
    let output = std::fs::File::from(master.try_clone()?);
    let sink: Arc<dyn Sink> = Arc::new(MasterSink(master));
    relay_terminal(&sink, output, with_stdin, Vec::new());
    let status = child.wait()?;
    Ok(status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(255))
}

/// Stdin, as it comes, to a non-tty container; its end closes the container's stdin.
fn pipe_stdin(sink: Arc<dyn Sink>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        let mut stdin = std::io::stdin().lock();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink.stdin(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sink.end_of_stdin();
    });
}

/// Relays a terminal session: the window size now and on every change, stdin in raw mode
/// (if `interactive` and stdin is a terminal) watched for `keys`, and `output` to stdout
/// until it ends. True if the user detached.
fn relay_terminal(
    sink: &Arc<dyn Sink>,
    mut output: impl Read,
    interactive: bool,
    keys: Vec<u8>,
) -> bool {
    let first = terminal::window_size();
    if let Some((rows, cols)) = first {
        let _ = sink.resize(rows, cols);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let resizer = Arc::clone(sink);
    terminal::follow_window(first, Arc::clone(&stop), move |r, c| resizer.resize(r, c).is_ok());
    let raw = if interactive { RawMode::enter() } else { None };
    let detached = Arc::new(AtomicBool::new(false));
    if interactive {
        let keys = if raw.is_some() { keys } else { Vec::new() };
        let (sink, detached) = (Arc::clone(sink), Arc::clone(&detached));
        std::thread::spawn(move || keys_to(sink.as_ref(), DetachWatch::new(keys), &detached));
    }
    let mut buf = [0u8; 16 * 1024];
    let mut out = std::io::stdout().lock();
    loop {
        match output.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    break;
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    drop(raw);
    detached.load(Ordering::Relaxed)
}

/// The stdin thread of a terminal session.
fn keys_to(sink: &dyn Sink, mut watch: DetachWatch, detached: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match rustix::io::read(std::io::stdin(), &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        };
        let (data, detach) = watch.feed(&buf[..n]);
        if !data.is_empty() && sink.stdin(&data).is_err() {
            return;
        }
        if detach {
            detached.store(true, Ordering::Relaxed);
            sink.hang_up();
            return;
        }
    }
    let _ = sink.end_of_stdin();
}
