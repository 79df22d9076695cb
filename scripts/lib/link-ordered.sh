#!/bin/bash
# link-ordered.sh - the linker build-release.sh gives cargo: `cc "$@"`, except that when the
# arguments carry lld's --symbol-ordering-file (berth-runtime's, from crates/cli/build.rs), the
# file is first resolved against the object being linked.
#
# Why: LTO names the local copies it makes of one function `name.1234`, and any code change
# renumbers them, so a few dozen of the names in scripts/berth-runtime.order go stale between
# regenerations, and each costs a 64 KiB folio of the binary at run time (ADR 0011;
# bench/results/2026-11-29-size-rss.md). A name `name.N` that the objects do not define is
# replaced by every `name.M` they do (the copies of one small function: a few hundred bytes).
# Names that are wholly gone stay as they are: lld ignores them, build-release.sh reports them.
set -euo pipefail

order='' args=() objs=()
for a in "$@"; do
  case $a in
    -Wl,--symbol-ordering-file=*) order=${a#-Wl,--symbol-ordering-file=} ;;
    *.o) objs+=("$a") ;;
  esac
done
# No order file (every other binary, build scripts) or no objects we can read: plain cc.
if [ -z "$order" ] || [ ${#objs[@]} -eq 0 ]; then
  exec cc "$@"
fi

names=$(nm --defined-only "${objs[@]}" 2>/dev/null | awk 'NF == 3 {print $3}') || true
[ -n "$names" ] || exec cc "$@"
fixed=$(mktemp "${TMPDIR:-/tmp}/berth-order.XXXXXX")
trap 'rm -f "$fixed"' EXIT
printf '%s\n' "$names" | awk '
  NR == FNR {
    have[$0] = 1; b = $0
    if (sub(/\.[0-9]+$/, "", b)) copies[b] = copies[b] " " $0
    next
  }
  { b = $0 }
  !($0 in have) && sub(/\.[0-9]+$/, "", b) && (b in copies) {
    n = split(copies[b], c, " ")
    for (i = 1; i <= n; i++) if (!(c[i] in done)) { print c[i]; done[c[i]] = 1 }
    next
  }
  !($0 in done) { print; done[$0] = 1 }' - "$order" >"$fixed"

for a in "$@"; do
  case $a in
    -Wl,--symbol-ordering-file=*) args+=("-Wl,--symbol-ordering-file=$fixed") ;;
    *) args+=("$a") ;;
  esac
done
cc "${args[@]}"
