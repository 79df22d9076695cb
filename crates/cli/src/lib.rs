//! Command-line front ends of berth. Today: `berth-runtime`, the runc-compatible OCI runtime
//! (the `berth` engine joins it later).
//!
//! # Layout
//! - [`runtime_cli`]: `berth-runtime`'s arguments (clap), its commands, its logging and the
//!   `spec` template.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod runtime_cli;
