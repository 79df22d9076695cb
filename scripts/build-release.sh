#!/bin/bash
# build-release.sh - build the release binaries (berth, berth-monitor, berth-runtime, berth-init) as static
# executables and print the path of berth-runtime (the others are beside it).
#
#   scripts/build-release.sh [--unstripped]
#
# Static (glibc crt-static, non-PIE): no dynamic loader or relocations at each start,
# and fewer pages touched, which matters for a binary that re-executes itself on every
# create/run (see docs/adr/0005-static-release-binary.md).
# Linked with scripts/berth-runtime.order: the functions a container's life runs come first,
# packed together, so the kernel's fault-around maps fewer pages of the binary
# (docs/adr/0011-hot-text-first.md; regenerate the file with scripts/hot-symbols.sh), through
# scripts/lib/link-ordered.sh, which keeps it valid across LTO's renumbering of local copies.
# --unstripped keeps the symbols (same code and layout, in target/static-unstripped).
# cargo's strip setting is part of the hash in every symbol name, so both builds link
# unstripped, and this script strips the release binaries afterwards: the order file's names
# (taken from the unstripped build) then match the release build's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/cargo-env.sh
. "$ROOT/scripts/lib/cargo-env.sh"
berth_cargo_env
export CARGO_PROFILE_RELEASE_STRIP=false
dir=$ROOT/target/static strip=yes
if [ "${1:-}" = --unstripped ]; then
  dir=$ROOT/target/static-unstripped strip=no
fi
triple=$(rustc -vV | sed -n 's/^host: //p')
cd "$ROOT"
# An explicit --target keeps these flags off build scripts and proc-macros.
# crates/cli/build.rs passes the order file to the linker of berth-runtime; scripts/lib/
# link-ordered.sh (plain cc for everything else) maps its renumbered LTO names (`name.1234`)
# to the object's.
linker_var=CARGO_TARGET_$(printf '%s' "$triple" | tr '[:lower:]-' '[:upper:]_')_LINKER
export "$linker_var=$ROOT/scripts/lib/link-ordered.sh"
BERTH_LINK_ORDER=$ROOT/scripts/berth-runtime.order \
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
  cargo build -q --release -p berth-cli -p berth-init --bins --target "$triple" \
  --target-dir "$dir" >&2
# Each hot function the order file misses costs a 64 KiB folio of the binary at run time: 36
# stale names of 1,180 made the peak RSS of `run` 2.2-2.5 MiB instead of 1.8
# (bench/results/2026-11-29-size-rss.md). link-ordered.sh maps renumbered names; names whose
# crate hash changed (a dependency changed) or whose function is gone it cannot: say so.
# (No symbols: cargo did not relink, and this script stripped the file last time.)
order=$ROOT/scripts/berth-runtime.order
unnumbered() { sed 's/\.[0-9]*$//'; }
syms=$(nm "$dir/$triple/release/berth-runtime" 2>/dev/null | awk '{print $3}' | unnumbered) || true
if [ -n "$syms" ]; then
  missing=$(unnumbered <"$order" | grep -cvxFf <(printf '%s\n' "$syms") || true)
  if [ "$missing" -gt 0 ]; then
    echo "build-release: $missing of $(wc -l <"$order") names in scripts/berth-runtime.order" \
      "are not in berth-runtime; regenerate it: sudo scripts/hot-symbols.sh" \
      "(docs/adr/0011-hot-text-first.md)" >&2
  fi
fi
if [ $strip = yes ]; then
  for bin in berth berth-monitor berth-runtime berth-init; do
    strip "$dir/$triple/release/$bin"
  done
fi
echo "$dir/$triple/release/berth-runtime"
