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

/// Whether `err` comes from writing to a closed pipe (`berth ps | head -1`): both binaries
/// then exit quietly, as `ls` and ripgrep do, instead of reporting a failure nobody asked for.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    // serde_json's error hides its io::Error from `source()`: ask it for the kind.
    err.chain().any(|c| {
        let kind = c.downcast_ref::<std::io::Error>().map(std::io::Error::kind).or_else(|| {
            c.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind)
        });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}
