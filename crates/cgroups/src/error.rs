//! The single error type of this crate.
//!
//! Every variant names the operation that failed and carries the path and value involved; the
//! `io::Error` is kept as the source (not interpolated), so callers can match on its errno
//! (e.g. `EBUSY` when a memory limit is below the current usage) and print the chain once.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A failed cgroup operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a cgroup file (or `/proc/self/mountinfo`, `/proc/self/cgroup`) failed.
    #[error("read {path}")]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// Opening a cgroup file for writing failed.
    #[error("open {path}")]
    Open {
        /// The cgroup file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing a value to a cgroup file failed.
    #[error("write {value} to {path}")]
    Write {
        /// The cgroup file.
        path: PathBuf,
        /// The value as written.
        value: String,
        /// The underlying I/O error (`EBUSY`, `EINVAL`, `ENOENT`…).
        #[source]
        source: io::Error,
    },
    /// Creating a cgroup directory failed.
    #[error("create cgroup directory {path}")]
    Mkdir {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// Removing a cgroup directory failed (after retrying `EBUSY`).
    #[error("remove cgroup directory {path}")]
    Rmdir {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// Listing the sub-cgroups of a directory failed.
    #[error("list cgroup directory {path}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// A mountinfo line did not have the expected shape.
    #[error("parse mountinfo line {line}: {reason}")]
    ParseMountinfo {
        /// 1-based line number.
        line: usize,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A `/proc/<pid>/cgroup` line did not have the expected shape.
    #[error("parse /proc/self/cgroup line {line}: {reason}")]
    ParseProcCgroup {
        /// 1-based line number.
        line: usize,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A cgroup file held something that is not what the kernel writes there.
    #[error("parse {value:?} read from {path}")]
    ParseValue {
        /// The file.
        path: PathBuf,
        /// The offending content.
        value: String,
    },
    /// No cgroup (v1 or v2) filesystem is mounted.
    #[error("no cgroup filesystem is mounted")]
    NoCgroupMount,
    /// The caller's own cgroup in a hierarchy is unknown, so a relative path cannot be resolved.
    #[error("own cgroup for hierarchy {hierarchy} not found in /proc/self/cgroup")]
    OwnCgroupUnknown {
        /// The hierarchy (its controllers, or "unified").
        hierarchy: String,
    },
    /// The caller's own cgroup is not below the root of the mounted hierarchy, so a relative
    /// path cannot be placed in it (e.g. a bind of a sub-tree in a container).
    #[error("own cgroup {cgroup} of hierarchy {hierarchy} is outside its mount root {root}")]
    OwnCgroupOutsideMount {
        /// The hierarchy (its controllers, or "unified").
        hierarchy: String,
        /// The path from `/proc/self/cgroup`.
        cgroup: PathBuf,
        /// mountinfo's root field for the hierarchy.
        root: PathBuf,
    },
    /// `linux.cgroupsPath` cannot be used.
    #[error("invalid cgroups path {path}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A resource value is out of range or inconsistent with another one.
    #[error("invalid resource {name} = {value}: {reason}")]
    InvalidResource {
        /// The OCI field, e.g. `memory.swap`.
        name: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// cgroup v2 refuses to enable controllers in a cgroup that has member processes
    /// ("no internal processes" rule); the write failed with `EBUSY`.
    #[error(
        "enable controllers {controllers} in {path}: the cgroup has processes of its own and \
         cgroup v2 only delegates controllers from cgroups without member processes; use an \
         absolute cgroupsPath or run the caller from a leaf cgroup"
    )]
    InternalProcesses {
        /// The `cgroup.subtree_control` file.
        path: PathBuf,
        /// What we tried to enable, e.g. `+cpu +memory`.
        controllers: String,
        /// The underlying `EBUSY`.
        #[source]
        source: io::Error,
    },
    /// The host lacks what the configuration asks for.
    #[error("{what} is not supported on this host")]
    Unsupported {
        /// The missing feature, e.g. `memory controller` or `memory.memsw.limit_in_bytes`.
        what: String,
    },
    /// Loading or attaching the cgroup v2 device filter (eBPF) failed.
    #[error("set device filter of {path}")]
    DeviceFilter {
        /// The cgroup directory.
        path: PathBuf,
        /// The failed `bpf(2)` or `open(2)` call.
        #[source]
        source: berth_sys::Error,
    },
    /// A memory limit below the current usage (refused by `checkBeforeUpdate`, or by the kernel
    /// with `EBUSY` on v1).
    #[error("set memory limit to {limit} in {path}: current usage is {usage}")]
    LimitBelowUsage {
        /// The limit file.
        path: PathBuf,
        /// The requested limit, in bytes.
        limit: i64,
        /// The usage when it was refused, in bytes.
        usage: u64,
    },
    /// The freezer did not reach the wanted state in time.
    #[error("{path} did not become {state} within {waited_ms} ms")]
    FreezeTimeout {
        /// The freezer file polled (`freezer.state`, `cgroup.events`).
        path: PathBuf,
        /// The state waited for.
        state: &'static str,
        /// How long we waited.
        waited_ms: u64,
    },
    /// Several best-effort steps (e.g. of [`crate::Cgroup::destroy`]) failed.
    #[error("{0}")]
    Multiple(ErrorList),
}

/// The failures of a best-effort operation, in the order they happened.
///
/// Its `Display` prints each failure with its full source chain, because a list cannot be a
/// single `source()`.
#[derive(Debug)]
pub struct ErrorList(pub Vec<Error>);

impl fmt::Display for ErrorList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cgroup operations failed", self.0.len())?;
        for err in &self.0 {
            write!(f, "; {err}")?;
            let mut source = std::error::Error::source(err);
            while let Some(cause) = source {
                write!(f, ": {cause}")?;
                source = cause.source();
            }
        }
        Ok(())
    }
}

impl Error {
    /// Folds a list of failures: none is `Ok`, one is returned as is, more become
    /// [`Error::Multiple`].
    pub(crate) fn from_list(mut errors: Vec<Error>) -> Result<(), Error> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Multiple(ErrorList(errors))),
        }
    }

    /// The errno of the underlying I/O error, if there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Read { source, .. }
            | Error::Open { source, .. }
            | Error::Write { source, .. }
            | Error::Mkdir { source, .. }
            | Error::Rmdir { source, .. }
            | Error::ReadDir { source, .. }
            | Error::InternalProcesses { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
