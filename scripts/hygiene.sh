#!/bin/bash
# hygiene.sh - repository rules that the compiler and clippy do not check.
# Run from anywhere; needs cargo and jq.  Exits 1 if any rule is broken.
#
#   1. `unsafe` code only in crates/sys (and tests/runtimetest, which runs as a
#      container's init and may need raw syscalls).
#   2. Internal dependencies point one way: sys <- cgroups <- runtime <- cli
#      (see ALLOWED below and docs/architecture.md).
#   3. No tokio below the engine: sys, cgroups and runtime stay synchronous
#      (docs/adr/0003-sync-only-runtime.md).
#   4. No non-test .rs file over 800 lines of code before its `#[cfg(test)]`
#      module (the style limit is 500; 800 means "split it").
#   5. A README.md in every workspace crate's directory.
#   6. Nothing refers to files outside the repository's own tree (../shared).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/cargo-env.sh
. scripts/lib/cargo-env.sh
berth_cargo_env

MAX_LINES=800
WARN_LINES=500
# crate -> internal crates it may depend on (normal and build dependencies).
# A new crate must be added here, with its place in docs/architecture.md.
declare -A ALLOWED=(
  [berth-sys]=""
  [berth-cgroups]="berth-sys"
  [berth-runtime]="berth-sys berth-cgroups"
  [berth-net]="berth-sys"
  # pid 1 of `run --init` containers: static, small (ADR 0008)
  [berth-init]="berth-sys"
  [berth-image]=""
  [berth-registry]=""
  # the engine drives the runtime through its CLI (ADR 0002), not as a library
  [berth-engine]="berth-sys berth-cgroups berth-net berth-image berth-registry"
  [berth-cli]="berth-sys berth-cgroups berth-runtime berth-net berth-image berth-registry berth-engine"
  # repository tasks (man pages from berth-cli's clap definitions); never shipped
  [xtask]="berth-cli"
)
SYNC_CRATES=(berth-sys berth-cgroups berth-runtime)

failed=0
fail() { printf '  FAIL: %s\n' "$*"; failed=$((failed + 1)); }
rule() { printf '%s\n' "hygiene: $*"; }

# tracked and untracked-but-not-ignored .rs files, outside target/
rs_files() { git ls-files --cached --others --exclude-standard -- '*.rs' | grep -v '^target/' || true; }

meta=$(cargo metadata --format-version 1 --no-deps --offline 2>/dev/null \
       || cargo metadata --format-version 1 --no-deps)

# --- 1. unsafe ---------------------------------------------------------------
rule "unsafe code only in crates/sys and tests/runtimetest"
hits=$(rs_files | grep -vE '^(crates/sys|tests/runtimetest)/' | while read -r f; do
  # `unsafe {`, `unsafe fn`, `unsafe impl`, `unsafe extern`, `unsafe trait`,
  # skipping comment lines; `#![forbid(unsafe_code)]` does not match.
  grep -nHE '(^|[^[:alnum:]_])unsafe[[:space:]]*(\{|fn|impl|extern|trait)' "$f" \
    | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true
done)
if [ -n "$hits" ]; then
  fail "unsafe outside crates/sys:"; printf '    %s\n' "$hits"
fi

# --- 2. dependency direction ---------------------------------------------------
rule "internal dependencies point one way (sys <- cgroups <- runtime <- cli)"
members=$(jq -r '.packages[].name' <<<"$meta")
while read -r line; do
  pkg=${line%% *} dep=${line#* }
  case $pkg in berth-test*|berth-runtimetest) continue;; esac   # test crates may use anything
  if [[ ! -v ALLOWED[$pkg] ]]; then
    fail "$pkg is not in the dependency table of scripts/hygiene.sh"; continue
  fi
  case " ${ALLOWED[$pkg]} " in *" $dep "*) ;; *) fail "$pkg must not depend on $dep";; esac
done < <(jq -r --arg m "$members" '
  ($m | split("\n")) as $ws
  | .packages[] | .name as $p
  | .dependencies[]
  | select(.name as $d | $ws | index($d))
  # dev-dependencies on the test harness are fine; any other edge counts
  | select(.kind != "dev" or (.name | startswith("berth-test") | not))
  | "\($p) \(.name)"' <<<"$meta" | sort -u)
# crates without any internal dependency still have to be known
for pkg in $members; do
  case $pkg in berth-test*|berth-runtimetest) continue;; esac
  [[ -v ALLOWED[$pkg] ]] || fail "$pkg is not in the dependency table of scripts/hygiene.sh"
done

# --- 3. no tokio below the engine -------------------------------------------------
rule "no tokio in ${SYNC_CRATES[*]}"
for pkg in "${SYNC_CRATES[@]}"; do
  grep -qx "$pkg" <<<"$members" || continue
  if tree=$(cargo tree --offline -q -p "$pkg" -e normal,build --prefix none --format '{p}' 2>/dev/null \
            || cargo tree -q -p "$pkg" -e normal,build --prefix none --format '{p}'); then
    if grep -qE '^tokio ' <<<"$tree"; then fail "$pkg depends on tokio (ADR 0003)"; fi
  else
    fail "cargo tree -p $pkg failed"
  fi
done

# --- 4. file size ---------------------------------------------------------------
rule "no non-test .rs file over $MAX_LINES lines of code"
while read -r f; do
  case $f in tests/*|*/tests/*|*/tests.rs|*/benches/*|fuzz/*) continue;; esac
  # lines before the first top-level #[cfg(test)]: the test module sits at the end
  n=$(awk '/^#\[cfg\(test\)\]/ { exit } { n++ } END { print n + 0 }' "$f")
  if [ "$n" -gt "$MAX_LINES" ]; then
    fail "$f has $n lines of non-test code (max $MAX_LINES): split it"
  elif [ "$n" -gt "$WARN_LINES" ]; then
    printf '  note: %s has %d lines of non-test code (style limit %d)\n' "$f" "$n" "$WARN_LINES"
  fi
done < <(rs_files)

# --- 5. README per crate ------------------------------------------------------------
rule "a README.md in every crate directory"
root=$(pwd -P)
while read -r manifest; do
  dir=$(dirname "$manifest")
  [ "$dir" = "$root" ] && continue
  [ -f "$dir/README.md" ] || fail "${dir#"$root"/}/README.md is missing"
done < <(jq -r '.packages[].manifest_path' <<<"$meta")

# --- 6. self-contained ------------------------------------------------------------------
rule "no references to files outside the repository"
refs=$(git ls-files --cached --others --exclude-standard | grep -v '^scripts/hygiene.sh$' \
       | xargs -r grep -nIE '/work/shared|\.\./shared/' 2>/dev/null || true)
if [ -n "$refs" ]; then
  fail "references to ../shared (the project must be self-contained):"; printf '    %s\n' "$refs"
fi

if [ "$failed" -gt 0 ]; then
  echo "hygiene: $failed problem(s)"
  exit 1
fi
echo "hygiene: all rules hold"
