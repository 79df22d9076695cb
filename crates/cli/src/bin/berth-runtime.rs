//! `berth-runtime`: a runc-compatible OCI runtime. All the work is in `berth_cli`.
//!
//! Entered through C's `main` without Rust's runtime set-up: it starts five times per
//! container (docs/adr/0014-c-main-for-the-runtime.md). (Not in `cargo test`'s build of this
//! target, where the test harness brings its own `main`.)
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
berth_sys::c_main!(berth_cli::runtime_cli::main);
