//! Builds the static binaries that run inside containers once per test process:
//! `runtimetest` (the conformance checker) and `berth-init` (`berth run --init`).

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

/// Path of a static `berth-init`: `BERTH_INIT` if set (the engine reads the same variable),
/// else built as `runtimetest` is, into `target/berth-init/`.
pub fn berth_init_path() -> PathBuf {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = PATH.get_or_init(|| match std::env::var("BERTH_INIT") {
        Ok(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => build_static("berth-init", "berth-init", "target/berth-init"),
    });
    built.clone().unwrap_or_else(|e| panic!("berth-init unavailable: {e}"))
}

fn build() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("BERTH_RUNTIMETEST") {
        return Ok(PathBuf::from(p));
    }
    build_static("berth-runtimetest", "runtimetest", "target/runtimetest")
}

/// `cargo build -p PACKAGE --bin BIN` static, into its own target dir `dir`.
fn build_static(package: &str, bin: &str, dir: &str) -> Result<PathBuf, String> {
    let root = workspace_root();
    let target_dir = root.join(dir);
    let triple = "x86_64-unknown-linux-gnu";
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .args(["build", "-q", "-p", package, "--bin", bin, "--target", triple])
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .map_err(|e| format!("spawn cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let bin = target_dir.join(triple).join("debug").join(bin);
    bin.is_file().then_some(bin.clone()).ok_or_else(|| format!("{} not built", bin.display()))
}
