//! [`TerminalSession`]: a command on a pty the test owns, as a user at a terminal would run
//! it. The test opens the pty (`openpt`/`grantpt`/`unlockpt`/`ptsname`), sets its window
//! size before the command starts, gives the slave as the command's stdin, stdout and
//! stderr, and makes it the command's controlling terminal with util-linux's `setsid -c`
//! (`setsid` in a `pre_exec` would need `unsafe`), so resizing the pty sends the command
//! SIGWINCH as a terminal emulator's resize does. The test types on the master and reads
//! the screen from it.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;

/// A command running on a pty the test holds the master of.
#[derive(Debug)]
pub struct TerminalSession {
    master: Arc<OwnedFd>,
    child: Child,
    /// Everything the command wrote, filled by `reader`.
    screen: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
    /// Where the next [`TerminalSession::expect`] starts looking in [`TerminalSession::text`].
    mark: usize,
    cmdline: String,
}

fn winsize(rows: u16, cols: u16) -> Winsize {
    Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 }
}

impl TerminalSession {
    /// Starts `cmd` (its program, arguments and environment) under `setsid -w -c` on a new
    /// pty of `rows` × `cols`.
    pub fn spawn(cmd: &Command, rows: u16, cols: u16) -> TerminalSession {
        let master =
            rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
                .expect("open /dev/ptmx");
        rustix::pty::grantpt(&master).expect("grantpt");
        rustix::pty::unlockpt(&master).expect("unlockpt");
        let name = rustix::pty::ptsname(&master, Vec::new()).expect("ptsname");
        let slave_path = Path::new(OsStr::from_bytes(name.as_bytes()));
        rustix::termios::tcsetwinsize(&master, winsize(rows, cols)).expect("set window size");
        let slave: OwnedFd = rustix::fs::open(
            slave_path,
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open pty slave");
        let mut wrapped = Command::new("setsid");
        wrapped.args(["-w", "-c"]).arg(cmd.get_program()).args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        wrapped.env("TERM", "xterm");
        let dup = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup pty slave"));
        let mut cmdline = cmd.get_program().to_string_lossy().into_owned();
        for a in cmd.get_args() {
            cmdline.push(' ');
            cmdline.push_str(&a.to_string_lossy());
        }
        let child = wrapped
            .stdin(dup(&slave))
            .stdout(dup(&slave))
            .stderr(dup(&slave))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn setsid -w -c {cmdline}: {e}"));
        // Only the command holds the slave now: the master reads EIO once it is gone.
        drop(slave);
        let master = Arc::new(master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let (master, screen) = (Arc::clone(&master), Arc::clone(&screen));
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = rustix::io::read(&*master, &mut buf) {
                    screen.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(&buf[..n]);
                }
            })
        };
        TerminalSession { master, child, screen, reader: Some(reader), mark: 0, cmdline }
    }

    /// The screen so far, `\r` removed.
    pub fn text(&self) -> String {
        let s = self.screen.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&s).replace('\r', "")
    }

    /// Types `keys` on the terminal.
    pub fn send(&self, keys: &[u8]) {
        let mut rest = keys;
        while !rest.is_empty() {
            let n = rustix::io::write(&*self.master, rest).expect("write to pty master");
            rest = &rest[n..];
        }
    }

    /// Waits until `needle` appears on the screen (`\r` removed) after what earlier calls
    /// matched; panics with the screen after `timeout`.
    pub fn expect(&mut self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let text = self.text();
            if let Some(at) = text.get(self.mark..).and_then(|seen| seen.find(needle)) {
                self.mark += at + needle.len();
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "`{}`: no {needle:?} within {timeout:?}; screen:\n{}",
                self.cmdline,
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resizes the terminal, as a terminal emulator does (the kernel sends SIGWINCH to the
    /// foreground process group).
    pub fn resize(&self, rows: u16, cols: u16) {
        rustix::termios::tcsetwinsize(&*self.master, winsize(rows, cols)).expect("resize pty");
    }

    /// Waits for the command to exit (killing it and panicking after `timeout`).
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait for the command") {
                // The reader ends at EIO once no process holds the slave; whatever the
                // command wrote last is read by then (a leaked slave fd must not hang us).
                let waited = Instant::now();
                while self.reader.as_ref().is_some_and(|r| !r.is_finished())
                    && waited.elapsed() < Duration::from_secs(2)
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                return st;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "`{}` still running after {timeout:?}; screen:\n{}",
                    self.cmdline,
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
