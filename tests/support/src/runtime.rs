//! Which OCI runtime binary the suite drives, chosen by `BERTH_TEST_RUNTIME`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command::TestCommand;
use crate::workspace_root;

/// The runtime under test: a binary speaking runc's CLI.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Absolute path of the binary.
    pub path: PathBuf,
    /// Short name for messages and known-failure tables (`runc`, `crun`, `berth-runtime`, ...).
    pub name: String,
}

/// Finds `name` in `PATH` and the sbin directories root's `PATH` usually has.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

impl Runtime {
    /// `BERTH_TEST_RUNTIME` = `runc` | `crun` | a path; default
    /// `<workspace>/target/debug/berth-runtime`.
    pub fn from_env() -> Runtime {
        let default = workspace_root().join("target/debug/berth-runtime");
        let path = match std::env::var("BERTH_TEST_RUNTIME") {
            Ok(v) if v.contains('/') => PathBuf::from(v),
            Ok(v) if !v.is_empty() => which(&v).unwrap_or_else(|| PathBuf::from(v)),
            _ => default,
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Runtime { path, name }
    }

    /// Whether the binary exists.
    pub fn exists(&self) -> bool {
        self.path.is_file()
    }

    /// `<runtime> --root <root> <args...>`.
    pub fn cmd<I, S>(&self, root: &Path, args: I) -> TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Command::new(&self.path);
        c.arg("--root").arg(root);
        TestCommand::new(c).args(args)
    }
}
