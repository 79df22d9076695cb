//! The engine's errors. Each names the operation and what it was about; the binary prints
//! the chain once and maps [`Error::exit_code`] to Docker's exit codes.

use std::path::{Path, PathBuf};

/// Everything an engine command can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No container by that name or id (prefix).
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    /// The name is taken.
    #[error("the container name {name:?} is already in use by container {id}")]
    NameInUse {
        /// The name.
        name: String,
        /// Who has it.
        id: String,
    },
    /// A flag value that cannot be used.
    #[error("invalid {flag} {value:?}: {reason}")]
    InvalidFlag {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why not.
        reason: String,
    },
    /// The operation does not fit the container's state.
    #[error("cannot {op} container {id}: {reason}")]
    WrongState {
        /// The operation.
        op: &'static str,
        /// The container.
        id: String,
        /// Why.
        reason: String,
    },
    /// The records database failed.
    #[error("container records {path}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The records database failed because its filesystem is full. SQLite's own error
    /// (`SQLITE_FULL`, or an I/O error of its shared-memory file) does not carry the errno,
    /// so the engine looks at the filesystem and says ENOSPC itself.
    #[error("container records {path}")]
    DbNoSpace {
        /// The database file.
        path: PathBuf,
        /// ENOSPC.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file (`berth.toml`) is not valid.
    #[error("config file {path}, line {line}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The line of the error, 1-based.
        line: usize,
        /// What is wrong there.
        message: String,
    },
    /// A file of the engine could not be read or written.
    #[error("{op} {path}")]
    Io {
        /// What was done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The low-level runtime failed; its own message follows.
    #[error("{runtime} {op} failed: {message}")]
    Runtime {
        /// The runtime binary.
        runtime: String,
        /// The runtime command.
        op: String,
        /// What the runtime printed.
        message: String,
    },
    /// The image store could not be opened, for any command that reads or writes images
    /// (the message names the operation and the path).
    #[error("image store: {0}")]
    ImageStore(String),
    /// Pulling or finding an image failed.
    #[error("pull {image}: {message}")]
    Pull {
        /// The image reference.
        image: String,
        /// What failed (the chain of causes).
        message: String,
    },
    /// Pushing an image failed.
    #[error("push {image}: {message}")]
    Push {
        /// The reference as given.
        image: String,
        /// What failed (the chain of causes).
        message: String,
    },
    /// No image by that reference or id.
    #[error("no such image: {image}: {message}")]
    NoSuchImage {
        /// What was asked for.
        image: String,
        /// The store's answer.
        message: String,
    },
    /// `login` or `logout` failed.
    #[error("login {registry}: {message}")]
    Login {
        /// The registry.
        registry: String,
        /// What failed (the chain of causes).
        message: String,
    },
    /// Reading, writing or importing an image archive failed.
    #[error("{op} {path}: {message}")]
    Archive {
        /// `load`, `save` or `import`.
        op: &'static str,
        /// The archive (`-` for stdin/stdout).
        path: String,
        /// What failed.
        message: String,
    },
    /// No network by that name or id (prefix).
    #[error("no such network: {0}")]
    NoSuchNetwork(String),
    /// A network operation the records forbid (name taken, subnet overlaps, in use).
    #[error("{op} network {name}: {reason}")]
    NetworkConflict {
        /// What was asked.
        op: &'static str,
        /// The network.
        name: String,
        /// Why not.
        reason: String,
    },
    /// Setting up or tearing down a container's network failed in the kernel or nft.
    #[error("{op} network {network}")]
    Network {
        /// What was done.
        op: &'static str,
        /// The network (or container) it was done for.
        network: String,
        /// berth-net's error.
        #[source]
        source: berth_net::Error,
    },
    /// No volume by that name.
    #[error("no such volume: {0}")]
    NoSuchVolume(String),
    /// The volume is mounted by containers (running or not), as Docker refuses.
    #[error("remove volume {name}: volume is in use by container {containers}")]
    VolumeInUse {
        /// The volume.
        name: String,
        /// The ids of the containers using it, comma-separated.
        containers: String,
    },
    /// A unix socket path (attach, console) longer than `sun_path` holds.
    #[error(
        "unix socket path {path} is {len} bytes, over the 107 a socket address holds: \
         use a shorter BERTH_RUNROOT"
    )]
    SocketPathTooLong {
        /// The path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// The container's program could not be found or run (Docker's 127 / 126).
    #[error("{message}")]
    CannotRun {
        /// 126 or 127.
        code: u8,
        /// The runtime's message.
        message: String,
    },
}

pub use berth_sys::error::chain;

/// Result of an engine operation.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The exit code for this error: 125 when the engine failed (every command, as podman;
    /// Docker's `run` does the same), 126 when the program cannot be invoked, 127 when it
    /// was not found.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::CannotRun { code, .. } => *code,
            _ => 125,
        }
    }

    /// A records failure: [`Error::DbNoSpace`] when SQLite failed to write and the
    /// database's filesystem has no free blocks, else [`Error::Db`].
    pub(crate) fn db(path: &Path, source: rusqlite::Error) -> Error {
        let write_failed = source.sqlite_error_code().is_some_and(|c| {
            matches!(c, rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::SystemIoFailure)
        });
        if write_failed && filesystem_full(path.parent().unwrap_or(path)) {
            let source = std::io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error());
            return Error::DbNoSpace { path: path.to_owned(), source };
        }
        Error::Db { path: path.to_owned(), source }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

/// No free blocks left on the filesystem holding `dir` (for root or for others).
fn filesystem_full(dir: &Path) -> bool {
    rustix::fs::statvfs(dir).is_ok_and(|st| st.f_bfree == 0 || st.f_bavail == 0)
}
