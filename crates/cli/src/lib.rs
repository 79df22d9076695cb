//! Command-line front ends of berth: `berth-runtime`, the runc-compatible OCI runtime, and
//! `berth`, the engine with Docker's commands (plus `berth-monitor`, its per-container
//! monitor).
//!
//! # Layout
//! - [`engine_cli`]: `berth`'s arguments and commands.
//! - [`runtime_cli`]: `berth-runtime`'s arguments (clap), its commands, its logging and the
//!   `spec` template.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod engine_cli;
pub mod runtime_cli;
