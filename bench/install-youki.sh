#!/bin/bash
# install-youki.sh - youki, the optional column of the runtime rows, from crates.io:
#
#   sudo bench/install-youki.sh        # -> bench/tools/youki/bin/youki (not tracked by git)
#
# youki is not packaged in Debian 12, so the benchmark builds it as its README says
# (cargo install youki --features v1,v2,systemd,seccomp), pinned, into the repository's
# bench/tools/ (ignored by git; `rm -rf bench/tools` removes it). About 10 minutes on 2
# cores. It needs libseccomp-dev, libsystemd-dev and pkg-config (installed here if missing).
# bench/lib/runtimes.sh then finds it there, or on PATH.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
VERSION=0.7.0
# shellcheck source=scripts/lib/cargo-env.sh
. scripts/lib/cargo-env.sh
berth_cargo_env || exit 1
missing=()
for p in libseccomp-dev libsystemd-dev pkg-config; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
CARGO_TARGET_DIR=$ROOT/bench/tools/youki-build cargo install youki --version "$VERSION" --locked \
  --features v1,v2,systemd,seccomp --root "$ROOT/bench/tools/youki"
rm -rf --one-file-system "$ROOT/bench/tools/youki-build"
"$ROOT/bench/tools/youki/bin/youki" --version | head -n1
