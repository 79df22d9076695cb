#!/bin/bash
# nightly.sh - the nightly-size reliability run (issue 7), as root:
#
#   sudo scripts/nightly.sh [--kills-per-test N] [--soak-scale S] [--fuzz-seconds T]
#
# Runs, one after the other, each in release-like numbers too long for every CI run:
#   kill     tests/integration/tests/kill_campaign.rs with BERTH_KILL_TRIALS=N (default
#            400: 1200 random SIGKILLs of `berth run -p`, `rm`/`stop` and runtime
#            `create`/`exec`, the leak counter checked after every one)
#   soak     tests/integration/tests/soak.rs at BERTH_SOAK_SCALE=S (default 5: 200
#            containers from 20 parallel `run -d` loops, 50 parallel execs, 2000
#            sequential `run --rm`)
#   fuzz     every cargo-fuzz target for T seconds (default 300), via test.sh
# Each part prints its verdict and wall time; the exit status is 1 if any failed.
# BERTH_KILL_SEED replays a campaign (each test prints its seed). Strict: a skip fails.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
KILLS=400 SCALE=5 FUZZ=300
while [ $# -gt 0 ]; do
  case $1 in
    --kills-per-test) KILLS=$2; shift 2;;
    --soak-scale) SCALE=$2; shift 2;;
    --fuzz-seconds) FUZZ=$2; shift 2;;
    -h|--help) sed -n '2,/^set -uo/s/^# \{0,1\}//p' "$0"; exit 0;;
    *) echo "nightly.sh: unknown argument $1" >&2; exit 2;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "nightly.sh: needs root: sudo $0" >&2; exit 2; }
export BERTH_TEST_STRICT=1

# shellcheck source=scripts/lib/cargo-env.sh
. scripts/lib/cargo-env.sh
berth_cargo_env || exit 1
scripts/install-deps.sh --no-vm || exit 1
cargo build --workspace --bins || exit 1

failed=0
part() {   # part NAME COMMAND...
  local name=$1 t0=$SECONDS; shift
  echo "==> $name"
  if "$@"; then echo "==> $name: ok ($((SECONDS - t0)) s)"
  else echo "==> $name: FAILED ($((SECONDS - t0)) s)"; failed=1; fi
}
part kill env BERTH_KILL_TRIALS="$KILLS" cargo test -p berth-tests --test kill_campaign -- --nocapture
part soak env BERTH_SOAK_SCALE="$SCALE" cargo test -p berth-tests --test soak -- --nocapture
part fuzz env BERTH_FUZZ_SECONDS="$FUZZ" scripts/test.sh --only fuzz
exit "$failed"
