//! The low-level OCI runtime behind `berth-runtime`: everything the runc-compatible commands
//! do, as a library.
//!
//! # Layout
//! - [`container`]: the lifecycle operations, one file each (`create`, `start`, `kill`,
//!   `delete`, `run`), and the read-only `state` and `list`.
//! - [`config`]: loading and validating a bundle's `config.json`.
//! - [`mod@state`]: the container's record under the state root; status computed from the init.
//! - `child`: the container's init after clone3, one linear list of named steps ([`Step`]).
//! - `rootfs`: mounts, devices, pivot_root, masked and read-only paths, with every path inside
//!   the rootfs resolved by the kernel (openat2 `RESOLVE_IN_ROOT`).
//! - `process`: the identity the program runs with (rlimits, user, capabilities).
//! - `seccomp`: `linux.seccomp` compiled in the runtime, loaded by the init before exec.
//! - [`hooks`], `tty`, [`sync`] (parent ↔ init messages), [`namespace`], [`mountopt`],
//!   [`signal`] (names), [`id`].
//!
//! The runtime is synchronous and single-threaded: it forks with clone3, which is only sound
//! in a single-threaded process (see `docs/adr/0003`). The one exception, `netns`, is a
//! helper thread that makes the init's network namespace during `create` and is joined
//! before clone3.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod child;
pub mod config;
pub mod container;
pub mod devices;
pub mod error;
pub mod fault;
pub mod hooks;
pub mod id;
mod idmap;
pub mod mountopt;
pub mod namespace;
mod netdev;
mod netns;
pub mod process;
mod rootfs;
mod seccomp;
pub mod signal;
mod socket;
pub mod state;
pub mod sync;
mod tty;

pub use child::Step;
pub use container::create::{create, CreateOptions};
pub use container::delete::delete;
pub use container::exec::{exec, ExecOptions};
pub use container::features::features;
pub use container::kill::kill;
pub use container::pause::{pause, resume};
pub use container::run::run;
pub use container::start::start;
pub use container::update::update;
pub use container::{list, state, ContainerState};
pub use error::{Error, Result};
