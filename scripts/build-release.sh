#!/bin/bash
# build-release.sh - build the release binaries (berth, berth-monitor, berth-runtime, berth-init) as static
# executables and print the path of berth-runtime (the others are beside it).
# Static (glibc crt-static, non-PIE): no dynamic loader or relocations at each start,
# and fewer pages touched, which matters for a binary that re-executes itself from a sealed
# memfd on every create/run (see docs/adr/0005-static-release-binary.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/cargo-env.sh
. "$ROOT/scripts/lib/cargo-env.sh"
berth_cargo_env
triple=$(rustc -vV | sed -n 's/^host: //p')
cd "$ROOT"
# An explicit --target keeps these flags off build scripts and proc-macros.
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
  cargo build -q --release -p berth-cli -p berth-init --bins --target "$triple" \
  --target-dir "$ROOT/target/static" >&2
echo "$ROOT/target/static/$triple/release/berth-runtime"
