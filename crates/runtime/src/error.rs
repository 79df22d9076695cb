//! The runtime's error type: one variant per operation that can fail, each carrying what the
//! user needs to act (container id, path, field, step). Sources are kept as `#[source]` and
//! printed once, as a chain, by the binary.

use std::path::PathBuf;

use crate::child::Step;

/// Everything a lifecycle operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The container id is not acceptable.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId {
        /// The id given.
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// `create` of an id that is already in use.
    #[error("container {id} already exists")]
    Exists {
        /// The id.
        id: String,
    },
    /// No container with that id under the state root.
    #[error("container {id} does not exist")]
    NotFound {
        /// The id.
        id: String,
    },
    /// The operation is not allowed in the container's current state.
    #[error("cannot {op} container {id}: it is {status}")]
    WrongState {
        /// The operation attempted.
        op: &'static str,
        /// The container.
        id: String,
        /// Its current status.
        status: String,
    },
    /// The operation needs the container's cgroup, and it has none (rootless, with no cgroup
    /// delegated to the user).
    #[error("cannot {op} container {id}: it has no cgroup (rootless, and no cgroup is delegated to this user)")]
    NoCgroup {
        /// The operation attempted.
        op: &'static str,
        /// The container.
        id: String,
    },
    /// The bundle's config.json could not be parsed.
    #[error("load config {path}: field {field}: {reason}")]
    LoadConfig {
        /// The config path.
        path: PathBuf,
        /// The JSON path of the offending field (`.` for the document itself).
        field: String,
        /// What the parser said.
        reason: String,
    },
    /// The config parsed but asks for something invalid.
    #[error("invalid config: {field}: {reason}")]
    InvalidConfig {
        /// The config field, in the spec's JSON names.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A system call made by the runtime (not the child) failed.
    #[error("{context}")]
    Sys {
        /// What the runtime was doing.
        context: String,
        /// The failed call, with its own op, path and errno.
        #[source]
        source: berth_sys::Error,
    },
    /// The container's cgroup could not be set up, changed or removed.
    #[error("cgroup of container {id}")]
    Cgroup {
        /// The container.
        id: String,
        /// The cgroup error, naming the file.
        #[source]
        source: berth_cgroups::Error,
    },
    /// The init (or an exec'd process) failed a setup step after clone; reported by the
    /// child itself.
    #[error("{who}: {step}: {msg}")]
    Child {
        /// `container init` or `exec process`.
        who: &'static str,
        /// The step that failed.
        step: Step,
        /// The child's message, naming the path and errno.
        msg: String,
    },
    /// A hook failed or timed out.
    #[error("{kind} hook {path}: {reason}")]
    Hook {
        /// prestart, createRuntime, …
        kind: &'static str,
        /// The hook's executable.
        path: PathBuf,
        /// Exit status, signal or timeout.
        reason: String,
    },
    /// The container's state file could not be read or written.
    #[error("{op} state file {path}")]
    State {
        /// read or write
        op: &'static str,
        /// The state file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The parent and the init disagree on the protocol (a bug or a dead child).
    #[error("sync with container init: {0}")]
    Sync(String),
    /// Several failures during a best-effort teardown.
    #[error("{}", list.iter().map(|e| crate::error::chain(e)).collect::<Vec<_>>().join("; "))]
    Many {
        /// Every failure, in order.
        list: Vec<Error>,
    },
}

/// Result of a runtime operation.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps a syscall error with what the runtime was doing.
    pub(crate) fn sys(context: impl Into<String>) -> impl FnOnce(berth_sys::Error) -> Error {
        let context = context.into();
        move |source| Error::Sys { context, source }
    }
}

pub use berth_sys::error::chain;
