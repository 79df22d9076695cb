//! Test harness shared by berth's system and conformance tests (`berth-tests`).
//!
//! The suite is runtime-agnostic: it drives a binary speaking runc's CLI, chosen by
//! `BERTH_TEST_RUNTIME` (`runc`, `crun`, or a path; default
//! `<workspace>/target/debug/berth-runtime`).
//!
//! # Layout
//! - [`command`]: [`TestCommand`] runs a binary with a timeout, output captured to files.
//! - [`runtime`]: [`Runtime`], the binary under test.
//! - [`bundle`]: [`Bundle`], a tempdir with a busybox rootfs, the static `runtimetest` and a
//!   `config.json` built from [`bundle::default_spec`], mutable as `serde_json::Value`.
//! - [`container`]: [`Container`], one id with its own `--root`; cleans up in `Drop`.
//! - [`console`]: [`console::ConsoleSocket`] receives the pty master sent to
//!   `--console-socket`.
//! - [`engine`]: [`engine::Engine`], a private `berth` engine (records, run state, config,
//!   cgroup parent) that removes its containers in `Drop`.
//! - [`cgroup`]: host-side cgroup paths under the per-process prefix `berth-test-<pid>`.
//! - [`process`]: host process and mount probes (leftover detection).
//! - [`prereq`] and [`require!`]: declared prerequisites; a skip prints its reason and
//!   `BERTH_TEST_STRICT=1` turns it into a failure.
//! - [`runtimetest`]: builds `tests/runtimetest` static, once per test process.
//! - [`terminal`]: [`terminal::TerminalSession`], a command on a pty the test types on
//!   (`berth run -it`, `attach`, `exec -it`).
//! - [`seccomp_agent`]: [`seccomp_agent::SeccompAgent`] receives the seccomp listener sent
//!   to `listenerPath` and answers notifications.
//! - [`registry`]: [`registry::fixture()`], the real registries of
//!   `tests/fixtures/registry` (addresses, credentials, CA, expected digests), and
//!   [`require_registry!`].
//! - [`tarfile`]: [`tarfile::Tar`], raw tar bytes as a hostile producer writes them; and
//!   [`canary::fingerprint`], the state of a directory a hostile layer aims at.
//! - [`fault_registry`]: [`fault_registry::FaultRegistry`], an in-process registry serving
//!   one small image with injected faults (truncation, wrong digest, 401, 404, 429, 500, stall).

pub mod bundle;
pub mod canary;
pub mod cgroup;
pub mod command;
pub mod console;
pub mod container;
pub mod dropin;
pub mod engine;
pub mod fault_registry;
pub mod prereq;
pub mod process;
pub mod registry;
pub mod runtime;
pub mod runtimetest;
pub mod seccomp_agent;
pub mod tarfile;
pub mod terminal;

use std::path::{Path, PathBuf};

pub use bundle::Bundle;
pub use command::{Output, TestCommand};
pub use container::Container;
pub use runtime::Runtime;

/// The workspace root, two levels above this crate's manifest.
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).unwrap_or(here).to_path_buf()
}
