#!/bin/bash
# test.sh - THE test command: everything CI checks, in order.  Run as root:
#
#   sudo scripts/test.sh [--no-vm] [--only STAGE[,STAGE...]]
#
# Stages: deps fmt clippy doc test fuzz vm hygiene (see docs/testing.md).
#   deps     scripts/install-deps.sh
#   fmt      cargo fmt --all --check
#   clippy   cargo clippy --workspace --all-targets -- -D warnings
#   doc      cargo doc --no-deps --document-private-items --workspace (RUSTDOCFLAGS=-D warnings)
#   test     cargo test --workspace (unit + system tests, on this host's cgroups),
#            with the registry fixture (tests/fixtures/registry) running: started
#            before, stopped after unless it was already running
#   fuzz     compile the cargo-fuzz targets (fuzz/, stable); with nightly and cargo-fuzz
#            also run each for $BERTH_FUZZ_SECONDS (default 10) from its seed corpus
#   vm       cgroup-v2 tier: berth-cgroups tests and the berth-tests matching
#            $BERTH_VM_FILTER (default: all of them), built here, run in scripts/vm/v2vm.sh
#   hygiene  scripts/hygiene.sh
# A failed stage does not stop the others; the exit status is 1 if any failed.
# Under CI (CI=true) BERTH_TEST_STRICT defaults to 1: skipped tests fail.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd -P)
ALL_STAGES=(deps fmt clippy doc test fuzz vm hygiene)
STAGES=("${ALL_STAGES[@]}")

usage() { sed -n '2,/^set -uo/s/^# \{0,1\}//p' "$0"; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --no-vm) STAGES=("${STAGES[@]/vm/}"); shift;;
    --only) IFS=, read -r -a STAGES <<<"$2"; shift 2;;
    --only=*) IFS=, read -r -a STAGES <<<"${1#*=}"; shift;;
    -h|--help) usage 0;;
    *) echo "test.sh: unknown argument $1" >&2; usage;;
  esac
done
for s in "${STAGES[@]}"; do
  [ -z "$s" ] || [[ " ${ALL_STAGES[*]} " = *" $s "* ]] || { echo "test.sh: unknown stage $s" >&2; usage; }
done

if [ "$(id -u)" != 0 ]; then
  echo "test.sh: system tests and the VM tier need root: run  sudo $0" >&2
  exit 2
fi
case ${CI:-} in ''|0|false) ;; *) export BERTH_TEST_STRICT=${BERTH_TEST_STRICT:-1};; esac

# shellcheck source=scripts/lib/cargo-env.sh
. scripts/lib/cargo-env.sh

PASSED=() FAILED=()
run_stage() {   # run_stage NAME COMMAND... : banner, timing, verdict
  local name=$1 t0 rc; shift
  printf '\n==> %s: %s\n' "$name" "$*"
  t0=$SECONDS
  "$@"; rc=$?
  if [ "$rc" = 0 ]; then
    PASSED+=("$name"); printf '==> %s: ok (%ds)\n' "$name" $((SECONDS - t0))
  else
    FAILED+=("$name"); printf '==> %s: FAILED (exit %d, %ds)\n' "$name" "$rc" $((SECONDS - t0))
  fi
}

stage_deps()   { scripts/install-deps.sh && berth_cargo_env; }
stage_fmt()    { cargo fmt --all --check; }
stage_clippy() { cargo clippy --workspace --all-targets -- -D warnings; }
stage_doc()    { RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings" cargo doc --no-deps --document-private-items --workspace; }
# The system tests drive the built binaries (berth, berth-runtime, berth-monitor), which
# `cargo test` does not build for another package's tests: build them first.
# The real-registry fixture runs during the tests (cached images: ~2 s warm,
# ~1 min cold); its state file goes to them in BERTH_TEST_REGISTRY.  It is
# stopped afterwards unless it was already running (a developer's stays up).
FIXTURE=tests/fixtures/registry/fixture.sh
stage_test() {
  local rc=0 was_running=0
  cargo build --workspace --bins || return 1
  "$FIXTURE" status -q && was_running=1
  if ! "$FIXTURE" start; then
    echo "test: the registry fixture did not start; tests that need it skip (fail when strict)"
    rc=1
  fi
  [ "$was_running" = 1 ] || trap '"$FIXTURE" stop' EXIT   # an interrupted run stops it too
  BERTH_TEST_REGISTRY=$("$FIXTURE" state-path) cargo test --workspace --no-fail-fast || rc=1
  if [ "$was_running" = 0 ]; then
    "$FIXTURE" stop || rc=1
    trap - EXIT
  fi
  return "$rc"
}

# The fuzz targets (fuzz/, outside the workspace): always compiled on stable; each run
# briefly (libFuzzer, nightly) when `cargo +nightly fuzz` is there, else skipped with why.
# Runs start from a scratch copy of the seeds, so the committed corpus does not grow;
# a crash leaves its input in fuzz/artifacts/<target>/ and fails the stage.
stage_fuzz() {
  local t rc=0 secs=${BERTH_FUZZ_SECONDS:-10} scratch
  cargo check --manifest-path fuzz/Cargo.toml --bins || return 1
  if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: SKIP runs: no nightly toolchain (rustup toolchain install nightly)"; return 0
  fi
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: SKIP runs: cargo-fuzz is not installed (cargo install cargo-fuzz)"; return 0
  fi
  cargo +nightly fuzz build --fuzz-dir fuzz || return 1
  scratch=$(mktemp -d)
  for t in $(cargo +nightly fuzz list --fuzz-dir fuzz); do
    mkdir -p "$scratch/$t"
    echo "fuzz: $t for ${secs}s"
    cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$secs" -timeout=10 -print_final_stats=1 2>&1 \
      | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==|SUMMARY|thread .* panicked|Failing input)'
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "fuzz: $t FAILED"; rc=1; }
  done
  rm -rf --one-file-system "$scratch" "${TMPDIR:-/tmp}/berth-fuzz-unpack" fuzz/target/engine-flags
  return "$rc"
}

# The same static build as tests/support/src/runtimetest.rs does; exports
# BERTH_RUNTIMETEST, which the harness then uses as is.
build_runtimetest() {
  local triple=x86_64-unknown-linux-gnu dir=$ROOT/target/runtimetest
  env -u CARGO_TARGET_DIR RUSTFLAGS="-C target-feature=+crt-static" cargo build -q -p berth-runtimetest \
    --bin runtimetest --target "$triple" --target-dir "$dir" || return 1
  export BERTH_RUNTIMETEST=$dir/$triple/debug/runtimetest
  [ -x "$BERTH_RUNTIMETEST" ] || { echo "vm: $BERTH_RUNTIMETEST was not built"; return 1; }
}

# The VM tier: build on the host (fast, cached), run in a cgroup-v2-only guest
# (software-emulated here, so only the cgroup-relevant tests go in).
stage_vm() {
  local list json filter=${BERTH_VM_FILTER:-}
  list=$(mktemp) json=$(mktemp)
  # the system tests drive target/debug/berth-runtime and a static runtimetest;
  # build both here (the harness would otherwise run cargo in the slow guest)
  cargo build --workspace --bins || { rm -f "$list" "$json"; return 1; }
  build_runtimetest || { rm -f "$list" "$json"; return 1; }
  if ! cargo test -p berth-cgroups -p berth-tests --no-run --message-format=json >"$json"; then
    rm -f "$list" "$json"; return 1
  fi
  # EXECUTABLE \t PACKAGE_DIR \t PACKAGE \t FILTER, for every test executable
  jq -r --arg f "$filter" '
    select(.reason == "compiler-artifact" and .profile.test and .executable != null)
    # the drop-in tier (podman, dockerd, containerd) proves engine compatibility on the
    # host; under software emulation each engine start takes minutes
    | select(.target.name != "dropin")
    # load and kill campaigns test the engine, not the cgroup version, and repeat hundreds
    # of runs: on the host only
    | select(.target.name != "soak" and .target.name != "kill_campaign")
    | (.manifest_path | sub("/Cargo.toml$"; "")) as $dir
    # package ids look like path+file:///…/tests/integration#berth-tests@0.1.0
    | ((.package_id | capture("#(?<n>[^@]+)@").n) // (.package_id | split(" ")[0])) as $pkg
    | [.executable, $dir, $pkg,
       (if $pkg == "berth-tests" or ($dir | endswith("/tests/integration")) then $f else "" end)]
    | @tsv' "$json" | sort -u >"$list"
  rm -f "$json"
  echo "vm: $(wc -l <"$list") test executables:"; cut -f1,4 "$list" | sed "s|^$ROOT/||; s/^/  /"
  if [ ! -s "$list" ]; then rm -f "$list"; echo "vm: no test executables found"; return 1; fi
  # the list lives in target/ so the guest (which shares the checkout) can read it
  mkdir -p target/berth-vm && mv "$list" target/berth-vm/tests.list
  V2VM_ACCEL=${V2VM_ACCEL:-auto} scripts/vm/v2vm.sh --timeout "${BERTH_VM_TIMEOUT:-1800}" -t \
    -- scripts/vm/run-tests.sh "$ROOT/target/berth-vm/tests.list"
}
stage_hygiene() { scripts/hygiene.sh; }

T0=$SECONDS
for s in "${STAGES[@]}"; do
  [ -n "$s" ] || continue
  if [ "$s" != deps ] && ! berth_cargo_env; then FAILED+=("$s"); continue; fi
  run_stage "$s" "stage_$s"
done

printf '\n==> summary (%ds)\n' $((SECONDS - T0))
[ ${#PASSED[@]} -gt 0 ] && printf '    passed: %s\n' "${PASSED[*]}"
[ ${#FAILED[@]} -gt 0 ] && printf '    FAILED: %s\n' "${FAILED[*]}"
printf '%d passed, %d failed\n' "${#PASSED[@]}" "${#FAILED[@]}"
[ ${#FAILED[@]} = 0 ]
