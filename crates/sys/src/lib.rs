//! Typed wrappers for the Linux system calls berth needs that `rustix` does not cover safely.
//!
//! This is the only berth crate allowed `unsafe`. Every other crate uses `rustix`'s safe API
//! directly and reports failures through [`Error`], which names the operation, the path (when
//! there is one) and the errno, so messages read crun-style:
//! `mount proc on /proc: Operation not permitted (os error 1)`.
//!
//! # Layout
//! - [`error`]: the [`Error`] type and the [`Context`] extension trait for `rustix` results.
//! - [`caps`]: capability sets (capset, bounding and ambient sets).
//! - [`clone`]: `clone3(2)` with namespace flags and a pidfd, the one way berth starts a
//!   container's init.
//! - [`entry`]: [`c_main!`](crate::c_main), berth-runtime's entry point without Rust's runtime set-up.
//! - [`exec`]: `execve(2)` and the sealed-memfd re-exec that protects the runtime binary
//!   (CVE-2019-5736).
//! - [`signal`]: signal masks and synchronous waits used by the foreground `run` loop.
//! - [`process`]: signals by raw number, through a pidfd or a pid.
//! - [`sched`]: personality, I/O priority, scheduler attributes, memory policy.
//! - [`fd`]: closing every inherited descriptor before exec (CVE-2024-21626).
//! - [`seccomp`]: building a filter with libseccomp (in the runtime) and loading the
//!   exported BPF program (in the init).
//! - [`time`]: the current time as RFC 3339 (state files, logs).
//! - [`bpf`]: loading and attaching the cgroup v2 device filter (eBPF).
//! - [`mount`]: `mount_setattr(2)`, per-mount flags of one mount or a whole tree at once.
//! - [`mm`]: dropping the page mappings of the program's own code before a long sleep (the
//!   engine's monitor).

pub mod bpf;
pub mod caps;
pub mod clone;
pub mod entry;
pub mod error;
pub mod exec;
pub mod fd;
pub mod mm;
pub mod mount;
pub mod process;
pub mod sched;
pub mod seccomp;
pub mod signal;
pub mod time;

pub use error::{Context, Error, Result};
