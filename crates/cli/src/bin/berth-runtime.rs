//! `berth-runtime`: a runc-compatible OCI runtime. All the work is in `berth_cli`.
//!
//! Entered through C's `main` without Rust's runtime set-up: it starts five times per
//! container (docs/adr/0014-c-main-for-the-runtime.md).
#![no_main]

berth_sys::c_main!(berth_cli::runtime_cli::main);
