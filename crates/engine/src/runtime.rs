//! The low-level runtime, driven through the OCI runtime command line (runc's), so
//! berth-runtime, runc and crun are interchangeable (`--runtime`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};

/// One runtime binary and its state root.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The binary.
    pub path: PathBuf,
    /// Its `--root`.
    pub root: PathBuf,
}

impl Runtime {
    /// `berth-runtime` beside the running binary unless `explicit` names another.
    pub fn new(explicit: Option<&Path>, root: PathBuf) -> Runtime {
        let path = explicit.map(Path::to_path_buf).unwrap_or_else(|| sibling("berth-runtime"));
        Runtime { path, root }
    }

    /// A command with `--root` set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--root").arg(&self.root);
        c
    }

    /// Runs `args`, returning an error with the runtime's own message on failure.
    pub fn call(&self, args: &[&str]) -> Result<Output> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(Error::io("run", &self.path))?;
        if out.status.success() {
            return Ok(out);
        }
        Err(Error::Runtime {
            runtime: self.path.display().to_string(),
            op: args.first().copied().unwrap_or_default().to_string(),
            message: message_of(&out.stderr),
        })
    }
}

/// The last non-empty line of a runtime's stderr, without its `name: ` prefix.
pub fn message_of(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
    line.strip_prefix("berth-runtime: ").unwrap_or(line).to_string()
}

/// A binary installed next to the running one (`target/debug/berth` → `berth-runtime`).
pub fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}
