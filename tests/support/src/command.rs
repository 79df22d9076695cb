//! `TestCommand`: runs a binary with a timeout and captures its output in files, so a
//! container that inherits stdout/stderr can never block the test on a pipe.

use std::fmt;
use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Default time a runtime command may take before the test kills it and fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A command under test, with a readable description for failure messages.
#[derive(Debug)]
pub struct TestCommand {
    cmd: Command,
    timeout: Duration,
    stdin: Option<File>,
}

/// What a finished command produced.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit status of the command.
    pub status: ExitStatus,
    /// Everything written to stdout (by the runtime and anything inheriting its stdout).
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl TestCommand {
    /// Wraps `cmd`; stdin defaults to `/dev/null`.
    pub fn new(cmd: Command) -> Self {
        TestCommand { cmd, timeout: DEFAULT_TIMEOUT, stdin: None }
    }

    /// Overrides the timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Feeds `file` as stdin.
    pub fn stdin(mut self, file: File) -> Self {
        self.stdin = Some(file);
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// The underlying command, for tests that must spawn and signal it themselves.
    pub fn into_command(self) -> Command {
        self.cmd
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    fn describe(&self) -> String {
        let mut s = self.cmd.get_program().to_string_lossy().into_owned();
        for a in self.cmd.get_args() {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Runs to completion, killing the command and panicking after the timeout.
    pub fn output(mut self) -> Output {
        let cmdline = self.describe();
        let dir = tempfile::tempdir().expect("create tempdir for command output");
        let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
        let out = File::create(&out_path).expect("create stdout file");
        let err = File::create(&err_path).expect("create stderr file");
        let stdin = match self.stdin.take() {
            Some(f) => Stdio::from(f),
            None => Stdio::null(),
        };
        let mut child = self
            .cmd
            .stdin(stdin)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn `{cmdline}`: {e}"));
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for command") {
                break status;
            }
            if start.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`{cmdline}` timed out after {:?}\nstdout: {}\nstderr: {}",
                    self.timeout,
                    read_lossy(&out_path),
                    read_lossy(&err_path)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Output { cmdline, status, stdout: read_lossy(&out_path), stderr: read_lossy(&err_path) }
    }
}

fn read_lossy(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.cmdline)?;
        writeln!(f, "status: {}", self.status)?;
        writeln!(f, "--- stdout\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr\n{}", self.stderr.trim_end())
    }
}

impl Output {
    /// Exit code, or `None` when killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with the full output unless the command succeeded.
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert!(self.status.success(), "expected success\n{self}");
        self
    }

    /// Panics with the full output unless the command failed.
    #[track_caller]
    pub fn failure(&self) -> &Self {
        assert!(!self.status.success(), "expected failure\n{self}");
        self
    }

    /// Panics unless runtimetest reported `ok <name>` for each name and no `FAIL` at all.
    #[track_caller]
    pub fn checks_ok(&self, names: &[&str]) -> &Self {
        let fails: Vec<&str> = self.stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
        assert!(fails.is_empty() && self.status.success(), "runtimetest failed\n{self}");
        for name in names {
            let line = format!("ok {name}");
            assert!(self.stdout.lines().any(|l| l == line), "expected `{line}`\n{self}");
        }
        self
    }

    /// Panics unless runtimetest reported `FAIL <name>` (used to prove a check can fail).
    #[track_caller]
    pub fn check_failed(&self, name: &str) -> &Self {
        let prefix = format!("FAIL {name}:");
        assert!(self.stdout.lines().any(|l| l.starts_with(&prefix)), "expected `{prefix}`\n{self}");
        self
    }

    /// Non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.trim().is_empty()).collect()
    }
}
