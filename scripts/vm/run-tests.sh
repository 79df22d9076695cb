#!/bin/bash
# run-tests.sh - runs INSIDE the cgroup-v2 VM (scripts/vm/v2vm.sh): executes
# prebuilt cargo test binaries, one after another, the way `cargo test` would.
#
#   run-tests.sh LISTFILE
#
# Each line of LISTFILE is: EXECUTABLE<TAB>PACKAGE_DIR<TAB>PACKAGE<TAB>FILTER
# (FILTER may be empty: all tests).  Like cargo, it runs each binary in its
# package directory with CARGO_MANIFEST_DIR and CARGO_PKG_NAME set.  Prints a
# line per binary and a total; exits 1 if a binary failed, or (with
# BERTH_TEST_STRICT=1) if no test ran at all.
set -uo pipefail

list=${1:?usage: run-tests.sh LISTFILE}
# overlayfs upper dirs and container state must live on tmpfs in the guest
export TMPDIR=/tmp
[ -f /sys/fs/cgroup/cgroup.controllers ] || { echo "run-tests: not on cgroup v2" >&2; exit 1; }
echo "run-tests: kernel $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"

bins=0 bad=0 total=0
while IFS=$'\t' read -r exe dir pkg filter; do
  [ -n "$exe" ] || continue
  bins=$((bins + 1))
  echo "run-tests: --- $pkg: ${exe##*/}${filter:+ (filter: $filter)}"
  out=$(mktemp)
  args=()
  [ -n "$filter" ] && args+=("$filter")
  (cd "$dir" && CARGO_MANIFEST_DIR=$dir CARGO_PKG_NAME=$pkg exec "$exe" "${args[@]}") 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  n=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed;.*/\1/p' "$out" | awk '{ s += $1 } END { print s + 0 }')
  rm -f "$out"
  total=$((total + n))
  if [ "$rc" != 0 ]; then
    bad=$((bad + 1))
    echo "run-tests: FAILED: $pkg ${exe##*/} (exit $rc)"
  fi
done <"$list"

echo "run-tests: $bins binaries, $bad failed, $total tests passed"
if [ "$bad" -gt 0 ]; then exit 1; fi
if [ "$total" = 0 ] && [ "${BERTH_TEST_STRICT:-0}" = 1 ]; then
  echo "run-tests: no test ran in the VM tier (BERTH_TEST_STRICT=1 makes that a failure)"
  exit 1
fi
exit 0
