//! Builds the static `runtimetest` binary once per test process.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::workspace_root;

/// Path of a static `runtimetest`: `BERTH_RUNTIMETEST` if set, else built with
/// `cargo build -p berth-runtimetest` for `x86_64-unknown-linux-gnu` with `+crt-static`
/// into `target/runtimetest/`. With an explicit `--target`, `RUSTFLAGS` does not reach build
/// scripts, and a separate target dir avoids waiting on the outer cargo's lock.
pub fn runtimetest_path() -> PathBuf {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PATH.get_or_init(build).clone().unwrap_or_else(|e| panic!("runtimetest unavailable: {e}"))
}

fn build() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("BERTH_RUNTIMETEST") {
        return Ok(PathBuf::from(p));
    }
    let root = workspace_root();
    let target_dir = root.join("target/runtimetest");
    let triple = "x86_64-unknown-linux-gnu";
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .args([
            "build",
            "-q",
            "-p",
            "berth-runtimetest",
            "--bin",
            "runtimetest",
            "--target",
            triple,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .map_err(|e| format!("spawn cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let bin = target_dir.join(triple).join("debug/runtimetest");
    bin.is_file().then_some(bin.clone()).ok_or_else(|| format!("{} not built", bin.display()))
}
