#!/bin/bash
# hot-symbols.sh - regenerate scripts/berth-runtime.order, the link order of berth-runtime's
# functions (docs/adr/0011-hot-text-first.md).
#
#   sudo scripts/hot-symbols.sh [--binary UNSTRIPPED-BERTH-RUNTIME]
#
# The kernel maps the 64 KiB around every faulting page of the binary (fault-around), so a
# function that runs makes its whole neighbourhood resident. This script finds the functions
# a container's life actually runs and lists them first, so the linker packs them together:
#   1. build the static release binary unstripped (`build-release.sh --unstripped`: the same
#      code and symbol names as the release binary);
#   2. under gdb, with a one-shot breakpoint on every function (scripts/lib/hot-symbols.py),
#      run a busybox bundle: `run` of /bin/true followed in the runtime process, then in the
#      container's init; `run` of `sleep 1`; then `state` and `exec` (both sides) of a running
#      container;
#   3. write the functions in order of first call, `run` first, to scripts/berth-runtime.order;
#   4. remove the containers and the bundle.
# Needs root (containers), gdb and busybox-static. A stale order file only costs pages: lld
# ignores the names it does not find. (uprobes on every function would be lighter, but a
# traced runtime hung in a loop here: gdb it is.)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/cargo-env.sh
. "$ROOT/scripts/lib/cargo-env.sh"
# shellcheck source=lib/bundle.sh
. "$ROOT/scripts/lib/bundle.sh"
berth_cargo_env
BIN=
while [ $# -gt 0 ]; do
  case $1 in
    --binary) BIN=$2; shift 2;;
    -h|--help) sed -n '2,22p' "$0"; exit 0;;
    *) echo "hot-symbols: unknown option $1" >&2; exit 2;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "hot-symbols: needs root (containers)" >&2; exit 1; }
command -v gdb >/dev/null || { echo "hot-symbols: needs gdb" >&2; exit 1; }

TMP=$(mktemp -d /tmp/berth-hot.XXXXXX)
cleanup() {
  set +e
  "$BIN" --root "$TMP/state" delete --force hot-r >/dev/null 2>&1
  "$BIN" --root "$TMP/state" delete --force hot-x >/dev/null 2>&1
  rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT INT TERM

[ -n "$BIN" ] || BIN=$("$ROOT/scripts/build-release.sh" --unstripped)
nm "$BIN" >/dev/null 2>&1 || { echo "hot-symbols: $BIN has no symbols" >&2; exit 1; }
cp "$BIN" "$TMP/berth-runtime"
BIN=$TMP/berth-runtime

# The functions: defined code symbols with a size, in the executable segment.
text=$(readelf -lW "$BIN" | awk '$1 == "LOAD" && / R E / {print $3; exit}')
nm --defined-only -S "$BIN" | python3 -c '
import sys
text = int(sys.argv[1], 16)
for line in sys.stdin:
    f = line.split()
    if len(f) == 4 and f[2] in "tTW" and int(f[1], 16) > 0 and int(f[0], 16) >= text:
        print(f[0], f[3])
' "$text" >"$TMP/funcs"
echo "hot-symbols: $(wc -l <"$TMP/funcs") functions" >&2

B=$TMP/bundle
mkdir -p "$B"
berth_make_rootfs "$B/rootfs"
(cd "$B" && "$BIN" spec)
berth_edit_config "$B" '.process.terminal = false | .process.args = ["/bin/true"]'
S=$TMP/state
# A state root is rarely empty (other containers; runc-style callers put pid files there), and
# `create` reads each entry (state.rs, sweep_abandoned): that loop must be in the profile too.
# Profiled with an empty root, it was not, and one stray file in the root raised the peak RSS
# of `run` from 1,336 to 1,780 KiB (bench/results/2026-11-29-size-rss.md).
mkdir -p "$S/hot-other"
trace() { # trace MODE OUT ARGS...
  local mode=$1 out=$2; shift 2
  FUNCS=$TMP/funcs MODE=$mode OUT=$TMP/$out gdb -q -batch -x "$ROOT/scripts/lib/hot-symbols.py" \
    --args "$BIN" --root "$S" "$@" </dev/null >"$TMP/$out.log" 2>&1 || true
  [ -s "$TMP/$out" ] || { echo "hot-symbols: no functions recorded for $*; see $TMP/$out.log" >&2; exit 1; }
}
trace parent run-parent run --bundle "$B" hot-r
trace child run-child run --bundle "$B" hot-r
"$BIN" --root "$S" delete --force hot-r >/dev/null 2>&1 || true
# A container that outlives the first 100 ms wait of `run` for its exit.
berth_edit_config "$B" '.process.args = ["/bin/sleep", "1"]'
trace parent run-wait run --bundle "$B" hot-r
"$BIN" --root "$S" delete --force hot-r >/dev/null 2>&1 || true
berth_edit_config "$B" '.process.args = ["/bin/sleep", "60"]'
"$BIN" --root "$S" run -d --bundle "$B" hot-x </dev/null
trace parent state-cmd state hot-x
trace parent exec-parent exec hot-x /bin/true
trace child exec-child exec hot-x /bin/true
"$BIN" --root "$S" delete --force hot-x

cat "$TMP"/{run-parent,run-child,run-wait,state-cmd,exec-parent,exec-child} | awk 'NF && !seen[$0]++' \
  >"$ROOT/scripts/berth-runtime.order"
echo "hot-symbols: $(wc -l <"$ROOT/scripts/berth-runtime.order") functions ran; wrote scripts/berth-runtime.order" >&2
