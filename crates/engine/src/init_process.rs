//! `run --init`: `berth-init` (the `crates/init` binary) becomes the container's pid 1 and
//! runs the command as its child, reaping zombies and forwarding signals, as Docker's
//! `--init` does with tini at `/sbin/docker-init`.
//!
//! The binary is bind-mounted read-only at [`INIT_PATH`] from `$BERTH_INIT`, else from
//! beside the running `berth`. It runs inside the container, which may have no C library,
//! so it must be static: a binary with an ELF interpreter (`PT_INTERP`) is refused at
//! create with a clear error instead of failing to exec later (ADR 0008).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::spec::RunOptions;

/// Where the init appears in the container.
pub const INIT_PATH: &str = "/sbin/berth-init";

/// Prefixes the process with the init and mounts it, when `--init` was given.
pub fn apply(spec: &mut Value, opts: &RunOptions) -> Result<()> {
    if !opts.init {
        return Ok(());
    }
    let bin = binary()?;
    let mut args = vec![json!(INIT_PATH), json!("--")];
    args.extend(spec["process"]["args"].as_array().cloned().unwrap_or_default());
    spec["process"]["args"] = Value::Array(args);
    let mount = json!({
        "destination": INIT_PATH,
        "type": "bind",
        "source": bin,
        "options": ["bind", "ro", "nosuid", "nodev", "rprivate"],
    });
    match spec["mounts"].as_array_mut() {
        Some(m) => m.push(mount),
        None => spec["mounts"] = json!([mount]),
    }
    Ok(())
}

/// The init binary to mount, checked to be static.
pub fn binary() -> Result<PathBuf> {
    let bin = std::env::var_os("BERTH_INIT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::runtime::sibling("berth-init"));
    check_static(bin)
}

fn check_static(bin: PathBuf) -> Result<PathBuf> {
    let bad = |reason: String| Error::InvalidFlag {
        flag: "--init",
        value: bin.display().to_string(),
        reason,
    };
    let head = read_head(&bin).map_err(|e| bad(format!("cannot read the init binary: {e}")))?;
    match has_interpreter(&head) {
        Some(false) => Ok(bin),
        Some(true) => Err(bad(
            "the init binary is dynamically linked, and a container may have no libraries to \
             run it: build berth-init static (scripts/build-release.sh) or point BERTH_INIT \
             at a static one"
                .into(),
        )),
        None => Err(bad("not a 64-bit little-endian ELF executable".into())),
    }
}

/// The ELF header and program headers (they come first in every linker's output).
fn read_head(p: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(p)?.take(64 * 1024).read_to_end(&mut head)?;
    Ok(head)
}

/// Whether the ELF64 (little-endian) image `head` has a `PT_INTERP` program header; `None`
/// if it is not one.
fn has_interpreter(head: &[u8]) -> Option<bool> {
    if head.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(head.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(head.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(32)?).ok()?;
    let (phentsize, phnum) = (usize::from(u16_at(54)?), usize::from(u16_at(56)?));
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let typ = u32::from_le_bytes(head.get(at..at + 4)?.try_into().ok()?);
        if typ == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_static_from_dynamic_executables() {
        // This test binary is linked the default way: dynamically.
        let me = std::env::current_exe().unwrap();
        assert_eq!(has_interpreter(&read_head(&me).unwrap()), Some(true));
        assert_eq!(has_interpreter(b"#!/bin/sh\n"), None);
        // A minimal ELF64 header with no program headers is static.
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        assert_eq!(has_interpreter(&elf), Some(false));
    }

    #[test]
    fn the_command_runs_under_the_init_and_a_dynamic_init_is_refused() {
        let mut spec = json!({"process": {"args": ["sleep", "1"]}, "mounts": []});
        apply(&mut spec, &RunOptions::default()).unwrap();
        assert_eq!(spec["process"]["args"], json!(["sleep", "1"]), "no --init, no change");
        let err = check_static(std::env::current_exe().unwrap()).unwrap_err().to_string();
        assert!(err.contains("dynamically linked"), "{err}");
        assert!(check_static("/no/such/init".into()).is_err());
    }
}
