//! A shell wrapper around the runtime under test, handed to the engines instead of the real
//! binary: it appends every invocation (argv), its exit status and, on failure, its error
//! output to `<sandbox>/runtime.log`, which a failing test prints.
//!
//! It changes nothing the engine can observe, with one exception: when the engine passes no
//! `--root` (podman does not), it adds `--root <sandbox>/runtime-root`, so each test's
//! container state is private (podman's cleanup process also drops `--runtime-flag`s, so
//! that is not an alternative). Standard streams are left alone for `create`, `run` and
//! `exec`, whose containers inherit them; for the other commands stderr is captured and
//! replayed. On failure the lines the runtime added to the engine's `--log` file are copied.
//! The wrapper has the runtime's file name, so engines that special-case names see the same.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::runtime::Runtime;

const SCRIPT: &str = r#"#!/bin/bash
# berth drop-in tier: log each runtime call, then run it unchanged (see wrapper.rs)
real=@REAL@
log=@LOG@
state=@STATE@
args=("$@")
sub= logf= has_root=0 i=0
while [ $i -lt ${#args[@]} ]; do
  a=${args[$i]}
  case $a in
    --root) has_root=1; i=$((i + 1));;
    --root=*) has_root=1;;
    --log) i=$((i + 1)); logf=${args[$i]};;
    --log=*) logf=${a#--log=};;
    --log-format|--criu|--rootless) i=$((i + 1));;
    -*) ;;
    *) sub=$a; break;;
  esac
  i=$((i + 1))
done
[ $has_root = 1 ] || set -- --root "$state" "$@"
size=0
[ -n "$logf" ] && [ -f "$logf" ] && size=$(stat -c %s -- "$logf")
printf '[%s %s] %s\n' "$$" "$(date +%T.%N)" "$*" >>"$log"
case $sub in
  create|run|exec) "$real" "$@"; rc=$?;;
  *)
    err=$(mktemp)
    "$real" "$@" 2>"$err"; rc=$?
    cat -- "$err" >&2
    [ $rc = 0 ] || sed 's/^/    stderr: /' -- "$err" >>"$log"
    rm -f -- "$err";;
esac
printf '[%s] exit %s\n' "$$" "$rc" >>"$log"
if [ $rc != 0 ] && [ -n "$logf" ] && [ -f "$logf" ]; then
  tail -c +$((size + 1)) -- "$logf" | sed 's/^/    log: /' >>"$log"
fi
exit $rc
"#;

fn quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"))
}

/// Writes the wrapper to `<dir>/bin/<runtime file name>` and returns its path.
pub fn install(dir: &Path, runtime: &Runtime) -> std::io::Result<PathBuf> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    let state = dir.join("runtime-root");
    std::fs::create_dir_all(&state)?;
    let name = if runtime.name.is_empty() { "runtime" } else { &runtime.name };
    let path = bin.join(name);
    let text = SCRIPT
        .replace("@REAL@", &quote(&runtime.path))
        .replace("@LOG@", &quote(&dir.join("runtime.log")))
        .replace("@STATE@", &quote(&state));
    std::fs::write(&path, text)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// The log so far (empty if the engine never called the runtime).
pub fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("runtime.log")).unwrap_or_default()
}
