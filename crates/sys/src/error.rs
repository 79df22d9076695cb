//! The error every syscall wrapper returns.

use std::fmt;
use std::path::{Path, PathBuf};

pub use rustix::io::Errno;

/// A failed system call: which operation, on which path, and the errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What was attempted, e.g. `"mount proc"` or `"pivot_root"`.
    pub op: String,
    /// The path the operation was about, when there is one.
    pub path: Option<PathBuf>,
    /// The kernel's answer.
    pub errno: Errno,
}

/// Result of a syscall wrapper.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error for `op` on `path`.
    pub fn new(op: impl Into<String>, path: Option<&Path>, errno: Errno) -> Self {
        Error { op: op.into(), path: path.map(Path::to_path_buf), errno }
    }

    /// An error for `op` on `path` from a `std::io::Error`.
    pub fn from_io(op: impl Into<String>, path: Option<&Path>, e: &std::io::Error) -> Self {
        Error::new(op, path, Errno::from_io_error(e).unwrap_or(Errno::IO))
    }

    /// The raw errno value.
    pub fn raw_errno(&self) -> i32 {
        self.errno.raw_os_error()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let io = std::io::Error::from_raw_os_error(self.errno.raw_os_error());
        match &self.path {
            Some(p) => write!(f, "{} {}: {}", self.op, p.display(), io),
            None => write!(f, "{}: {}", self.op, io),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        std::io::Error::other(e)
    }
}

/// Adds the operation and path to a `rustix` result.
pub trait Context<T> {
    /// Name the operation (no path).
    fn op(self, op: &str) -> Result<T>;
    /// Name the operation and the path it was applied to.
    fn op_path(self, op: &str, path: &Path) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, Errno> {
    fn op(self, op: &str) -> Result<T> {
        self.map_err(|e| Error::new(op, None, e))
    }
    fn op_path(self, op: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::new(op, Some(path), e))
    }
}

impl<T> Context<T> for std::io::Result<T> {
    fn op(self, op: &str) -> Result<T> {
        self.map_err(|e| Error::new(op, None, Errno::from_io_error(&e).unwrap_or(Errno::IO)))
    }
    fn op_path(self, op: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::new(op, Some(path), Errno::from_io_error(&e).unwrap_or(Errno::IO)))
    }
}

/// Renders an error and its sources as `a: b: c`: the one line the CLIs print, so each
/// layer's error names only its own operation and leaves the cause to its source.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_op_path_and_errno() {
        let e = Error::new("mount proc on", Some(Path::new("/proc")), Errno::PERM);
        assert_eq!(e.to_string(), "mount proc on /proc: Operation not permitted (os error 1)");
        let e = Error::new("pivot_root", None, Errno::INVAL);
        assert_eq!(e.to_string(), "pivot_root: Invalid argument (os error 22)");
    }

    #[test]
    fn chain_joins_an_error_and_its_sources() {
        let io = std::io::Error::other(Error::new("open", Some(Path::new("/x")), Errno::NOENT));
        assert_eq!(chain(&io), "open /x: No such file or directory (os error 2)");
        let plain = Error::new("pivot_root", None, Errno::INVAL);
        assert_eq!(chain(&plain), plain.to_string());
    }
}
