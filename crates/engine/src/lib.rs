//! berth's daemonless container engine: what `berth run`, `ps`, `logs`, `stop`, `rm`,
//! `exec` and `inspect` do.
//!
//! # Layout
//! - [`paths`]: where records, container directories and run state live; [`config`] reads
//!   `berth.toml` (registry mirrors, insecure registries).
//! - [`db`]: container records in SQLite.
//! - [`spec`]: the OCI config from the flags, with Docker's defaults; [`user`] looks users up
//!   in the container's own files; [`bytesize`] parses `512m`; [`kvfile`] reads `--env-file`
//!   and `--label-file`; [`ulimit`] turns `--ulimit` into rlimits; [`signal`] checks
//!   `--stop-signal`; [`init_process`] puts `berth-init` at pid 1 for `--init`.
//! - [`mounts`]: `-v` and `--mount` parsed into mount points and OCI mounts; `fstree`
//!   copies and removes untrusted directory trees through file descriptors; `tarstream`
//!   writes and extracts the tar streams of `cp -`.
//! - [`runtime`]: the low-level runtime through its command line.
//! - [`seccomp_profile`]: the default seccomp profile (Docker's effect).
//! - [`monitor`]: the small process that supervises one container; `tty_relay` is its
//!   terminal, stdin and attach-socket side, [`attach`] the protocol its clients speak.
//! - [`network`]: bridge networks, addresses, published ports, hosts files.
//! - [`display`]: ids, ages and sizes as Docker prints them, for every command;
//!   [`time_arg`] reads times given on the command line (`logs --since`) as Docker does.
//! - [`ops`]: one file per command; `watch` wakes the commands that wait for a container
//!   (inotify on its log and run directory) instead of polling on a timer.
//!
//! There is no daemon: every command reads and writes the records itself, and a record is
//! brought up to date ([`ops::reconcile`]) with the monitor's exit file before it is shown.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attach;
pub mod bytesize;
pub mod config;
pub mod db;
pub mod display;
pub mod error;
pub mod fault;
pub(crate) mod fstree;
pub mod ids;
pub mod init_process;
pub mod kvfile;
pub mod monitor;
pub mod mounts;
pub mod network;
pub mod oom;
pub mod ops;
pub mod paths;
pub mod runtime;
pub mod seccomp_profile;
pub mod signal;
pub mod spec;
pub(crate) mod tarstream;
pub mod time_arg;
pub(crate) mod tty_relay;
pub mod ulimit;
pub mod user;
pub mod watch;

pub use error::{Error, Result};

/// The current time, RFC 3339 UTC.
pub fn now() -> String {
    berth_sys::time::now_rfc3339()
}
