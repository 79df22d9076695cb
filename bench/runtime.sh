#!/bin/bash
# runtime.sh - berth-runtime next to runc and crun, on the same busybox bundle.
#
#   sudo bench/runtime.sh [--rounds R] [--runs N] [--warmup W] [--runtimes "berth runc crun"]
#                         [--no-build] [--out FILE]
#
# Measures (with hyperfine; see bench/README.md):
#   run        `<rt> run` of /bin/true (create + start + wait + delete in one call)
#   lifecycle  `<rt> create`, `<rt> start`, wait for the process, `<rt> delete`
#   peak RSS   of `<rt> run`, from /usr/bin/time -v (median of 5)
#   size       of the stripped runtime binary
#   min mem    the smallest memory limit with which `<rt> run /bin/true` succeeds
# Runs are interleaved: R rounds of N runs each (default 3 x 10), the runtimes
# in a rotating order, so drift in host load spreads over all of them.
# Writes bench/results/<date>-<host>.md; raw hyperfine JSON goes to bench/tmp/.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
# shellcheck source=scripts/lib/cargo-env.sh
. scripts/lib/cargo-env.sh
# shellcheck source=scripts/lib/bundle.sh
. scripts/lib/bundle.sh

ROUNDS=3 RUNS=10 WARMUP=3 BUILD=1
RUNTIMES=(berth runc crun)
OUT=$ROOT/bench/results/$(date +%F)-$(hostname -s).md
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2;;
    --runs) RUNS=$2; shift 2;;
    --warmup) WARMUP=$2; shift 2;;
    --runtimes) read -r -a RUNTIMES <<<"$2"; shift 2;;
    --no-build) BUILD=0; shift;;
    --out) OUT=$2; shift 2;;
    -h|--help) sed -n '2,/^set -euo/s/^# \{0,1\}//p' "$0" ; exit 0;;
    *) echo "bench: unknown argument $1" >&2; exit 2;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "bench: needs root: sudo $0" >&2; exit 1; }

say() { printf 'bench: %s\n' "$*" >&2; }
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
scripts/install-deps.sh --no-vm >&2

TMP=$(mktemp -d /tmp/berth-bench.XXXXXX)
RAW=$ROOT/bench/tmp/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RAW" "$TMP/state"
ID=berth-bench-$$
NOTES=()
declare -A BIN RT   # BIN: the runtime's executable; RT: the command that runs it
cleanup() {
  local r
  for r in "${!RT[@]}"; do "${RT[$r]}" --root "$TMP/state/$r" delete --force "$ID" >/dev/null 2>&1 || true; done
  rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT

# --- cgroup layout: crun 1.8 refuses the hybrid layout (v1 controllers plus a
# cgroup2 mount at /sys/fs/cgroup/unified), so it runs in a private mount
# namespace without that mount.  The wrapper's own cost is measured too.
LAYOUT=v1
if [ "$(findmnt -n -o FSTYPE /sys/fs/cgroup)" = cgroup2 ]; then LAYOUT=v2
elif [ "$(findmnt -n -o FSTYPE /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2 ]; then LAYOUT=hybrid; fi
HIDE_UNIFIED=$TMP/hide-unified
cat >"$HIDE_UNIFIED" <<'EOF'
#!/bin/sh
# run "$@" in a private mount namespace without /sys/fs/cgroup/unified
exec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' hide-unified "$@"
EOF
chmod +x "$HIDE_UNIFIED"

# --- the runtimes -----------------------------------------------------------------
for r in "${RUNTIMES[@]}"; do
  case $r in
    berth)
      if [ "$BUILD" = 1 ]; then
        BIN[berth]=$("$ROOT/scripts/build-release.sh") || say "building berth-runtime failed"
      else
        BIN[berth]=$ROOT/target/static/$(rustc -vV | sed -n 's/^host: //p')/release/berth-runtime
      fi;;
    runc|crun) BIN[$r]=$(command -v "$r" || true);;
    *) echo "bench: unknown runtime $r" >&2; exit 2;;
  esac
  if [ ! -x "${BIN[$r]}" ]; then
    say "$r: no binary, skipped"; NOTES+=("$r: no binary (${BIN[$r]:-not installed}), so it has no numbers")
    unset "BIN[$r]"; continue
  fi
  RT[$r]=${BIN[$r]}
  if [ "$r" = crun ] && [ "$LAYOUT" = hybrid ]; then
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$HIDE_UNIFIED" "${BIN[$r]}" >"$TMP/crun"
    chmod +x "$TMP/crun"; RT[$r]=$TMP/crun
  fi
done

# --- the bundle: busybox, /bin/true, no terminal ----------------------------------
B=$TMP/bundle
mkdir -p "$B"
berth_make_rootfs "$B/rootfs"
berth_spec "${BIN[runc]:-${BIN[crun]:-runc}}" "$B"
berth_edit_config "$B" '.process.terminal = false | .process.args = ["/bin/true"] | .hostname = "bench"'

# The lifecycle driver: identical for every runtime.  It waits for the
# container's process to exit (or turn zombie) by polling /proc, which costs no
# runtime invocation.
cat >"$TMP/lifecycle" <<'EOF'
#!/bin/sh
rt=$1 root=$2 bundle=$3 id=$4
"$rt" --root "$root" create --bundle "$bundle" --pid-file "$root/$id.pid" "$id" || exit 1
"$rt" --root "$root" start "$id" || exit 1
pid=$(cat "$root/$id.pid" 2>/dev/null)
case $pid in ''|*[!0-9]*) echo "lifecycle: $rt wrote no pid file" >&2; exit 1;; esac
i=0   # give up after ~10 s of polling rather than hang hyperfine
while read -r _ _ st _ 2>/dev/null <"/proc/$pid/stat" && [ "$st" != Z ]; do
  i=$((i + 1)); [ "$i" -lt 3000000 ] || { echo "lifecycle: $pid did not exit" >&2; exit 1; }
done
exec "$rt" --root "$root" delete "$id"
EOF
chmod +x "$TMP/lifecycle"

# A runtime takes part only if it really runs a container: the smoke bundle's
# process must print a marker (exit status 0 alone proves nothing).
SMOKE=$TMP/smoke
mkdir -p "$SMOKE"
jq --arg root "$B/rootfs" '.process.args = ["/bin/echo", "berth-bench-smoke-ok"] | .root.path = $root' \
  "$B/config.json" >"$SMOKE/config.json"
WORKING=()
for r in "${RUNTIMES[@]}"; do
  [ -n "${RT[$r]:-}" ] || continue
  mkdir -p "$TMP/state/$r"
  err=$(timeout 30 "${RT[$r]}" --root "$TMP/state/$r" run --bundle "$SMOKE" "$ID" 2>&1 </dev/null) || true
  if [[ $err = *berth-bench-smoke-ok* ]]; then
    WORKING+=("$r")
  else
    err=${err//$'\n'/ }; err=${err:-no output}
    say "$r cannot run the bundle yet, skipped: ${err:0:200}"
    NOTES+=("$r: could not run a container (output: \`${err:0:120}\`), so it has no numbers")
  fi
  "${RT[$r]}" --root "$TMP/state/$r" delete --force "$ID" >/dev/null 2>&1 || true
done
[ ${#WORKING[@]} -gt 0 ] || { say "no runtime works"; exit 1; }

# --- timing -----------------------------------------------------------------------------
cmd_run()       { printf '%s --root %s run --bundle %s %s' "${RT[$1]}" "$TMP/state/$1" "$B" "$ID"; }
# (a wrapped crun runs the whole driver in one private mount namespace, so the
# wrapper costs the same once per measurement in both scenarios)
cmd_lifecycle() {
  local pre=; [ "${RT[$1]}" != "${BIN[$1]}" ] && pre="$HIDE_UNIFIED "
  printf '%s%s %s %s %s %s' "$pre" "$TMP/lifecycle" "${BIN[$1]}" "$TMP/state/$1" "$B" "$ID"
}
cmd_cleanup()   { printf "sh -c '%s --root %s delete --force %s >/dev/null 2>&1; true'" "${RT[$1]}" "$TMP/state/$1" "$ID"; }

# bench_scenario NAME: ROUNDS hyperfine calls, order rotated each round
bench_scenario() {
  local sc=$1 round i n=${#WORKING[@]} r args
  for ((round = 0; round < ROUNDS; round++)); do
    args=()
    for ((i = 0; i < n; i++)); do
      r=${WORKING[$(((i + round) % n))]}
      args+=(--command-name "$r" --prepare "$(cmd_cleanup "$r")" "$("cmd_$sc" "$r")")
    done
    say "$sc: round $((round + 1))/$ROUNDS"
    hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" \
      --export-json "$RAW/$sc-$round.json" "${args[@]}" >&2
  done
}
for sc in run lifecycle; do bench_scenario "$sc"; done
if [ "$LAYOUT" = hybrid ] && [[ " ${WORKING[*]} " = *" crun "* ]]; then
  say "the crun wrapper's own cost"
  hyperfine -N --style basic --warmup "$WARMUP" --runs $((ROUNDS * RUNS)) \
    --export-json "$RAW/wrapper.json" --command-name wrapper "$HIDE_UNIFIED /bin/true" >&2
fi

# stats SCENARIO RUNTIME -> "median mean stddev min max n" in ms, over all rounds
stats() {
  jq -rs --arg r "$2" '
    [.[].results[] | select(.command == $r) | .times[]] | sort
    | (length) as $n | (add / $n) as $m
    | [ (if $n % 2 == 1 then .[($n - 1) / 2] else (.[$n / 2 - 1] + .[$n / 2]) / 2 end),
        $m, ((map(. - $m | . * .) | add / $n) | sqrt), .[0], .[-1], $n ]
    | [.[0:5][] * 1000 * 100 | round / 100] + [.[5]] | @tsv' "$RAW/$1"-*.json
}

# --- memory and size ------------------------------------------------------------------------
peak_rss_kib() {   # median over 5 runs of `run`
  local r=$1 i v=()
  for i in 1 2 3 4 5; do
    "${RT[$r]}" --root "$TMP/state/$r" delete --force "$ID" >/dev/null 2>&1 || true
    v+=("$(/usr/bin/time -v "${RT[$r]}" --root "$TMP/state/$r" run --bundle "$B" "$ID" 2>&1 >/dev/null \
           | sed -n 's/.*Maximum resident set size (kbytes): //p')")
  done
  printf '%s\n' "${v[@]}" | sort -n | sed -n 3p
}
stripped_size() { local f=$TMP/strip.$1; strip -o "$f" "${BIN[$1]}" 2>/dev/null || cp "${BIN[$1]}" "$f"; stat -c %s "$f"; }
min_memory() {    # smallest limit (KiB) in the ladder with which `run /bin/true` exits 0
  local r=$1 kib mb=$TMP/minmem
  rm -rf "$mb"; mkdir -p "$mb"
  for kib in 512 1024 2048 4096 8192 16384 32768 65536; do
    # runtimes refuse a symlinked rootfs: point at the bundle's by absolute path
    jq --argjson l $((kib * 1024)) --arg root "$B/rootfs" \
      '.linux.resources.memory = {limit: $l} | .root.path = $root' "$B/config.json" >"$mb/config.json"
    "${RT[$r]}" --root "$TMP/state/$r" delete --force "$ID" >/dev/null 2>&1 || true
    if timeout 30 "${RT[$r]}" --root "$TMP/state/$r" run --bundle "$mb" "$ID" >/dev/null 2>&1 </dev/null; then
      "${RT[$r]}" --root "$TMP/state/$r" delete --force "$ID" >/dev/null 2>&1 || true
      echo "$kib"; return 0
    fi
  done
  "${RT[$r]}" --root "$TMP/state/$r" delete --force "$ID" >/dev/null 2>&1 || true
  echo "> 65536"
}
declare -A RSS SIZE MINMEM
for r in "${WORKING[@]}"; do
  say "$r: peak RSS, binary size, minimum memory limit"
  RSS[$r]=$(peak_rss_kib "$r"); SIZE[$r]=$(stripped_size "$r"); MINMEM[$r]=$(min_memory "$r")
done

# --- report -------------------------------------------------------------------------------------
version_of() { local v; v=$("${BIN[$1]}" --version 2>/dev/null | head -n1) || true; printf '%s' "${v:-no --version output}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
mkdir -p "$(dirname "$OUT")"
{
  echo "# Runtime benchmark, $(date '+%F %H:%M %Z'), $(hostname -s)"
  echo
  echo "Produced by \`bench/runtime.sh\` (see \`bench/README.md\`): ${ROUNDS} rounds x ${RUNS} runs"
  echo "per runtime and scenario (after ${WARMUP} warmup runs each round), order rotated per round."
  echo
  echo "## Machine"
  echo
  echo "- kernel: $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1))"
  case $LAYOUT in
    hybrid) echo "- cgroups: hybrid (v1 controllers; cgroup2 at /sys/fs/cgroup/unified with: $(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true))";;
    v2) echo "- cgroups: v2 (controllers: $(cat /sys/fs/cgroup/cgroup.controllers))";;
    *) echo "- cgroups: v1";;
  esac
  echo "- load average at the start: $LOAD0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- hyperfine: $(hyperfine --version | head -n1); busybox: $("$(berth_busybox)" | head -n1 | cut -d' ' -f1-2)"
  for r in "${!BIN[@]}"; do echo "- $r: \`${BIN[$r]}\`, $(version_of "$r")"; done | sort
  echo
  for sc in run lifecycle; do
    if [ "$sc" = run ]; then echo "## \`run\` of /bin/true (ms)"; else echo "## create + start + wait + delete (ms)"; fi
    echo
    echo "| runtime | median | mean ± σ | min | max | n | berth / this |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    bmed=; [[ " ${WORKING[*]} " = *" berth "* ]] && bmed=$(stats "$sc" berth | cut -f1)
    for r in "${WORKING[@]}"; do
      IFS=$'\t' read -r med mean sd min max n < <(stats "$sc" "$r")
      echo "| $r | **$med** | $mean ± $sd | $min | $max | $n | ${bmed:+$(ratio "$bmed" "$med")} |"
    done
    echo
  done
  if [ -f "$RAW/wrapper.json" ]; then
    w=$(jq -r '.results[0].times | sort | .[length / 2 | floor] * 100000 | round / 100' "$RAW/wrapper.json")
    echo "crun ran through \`unshare -m\` + \`umount /sys/fs/cgroup/unified\` (crun 1.8 refuses this"
    echo "hybrid layout); that wrapper alone takes a median **$w ms**, included once in each of crun's"
    echo "measurements above (\`run\`: around the call; lifecycle: around the whole driver)."
    echo
  fi
  echo "## Memory and size"
  echo
  echo "| runtime | peak RSS of \`run\` (KiB, median of 5) | stripped binary (bytes) | smallest memory limit for /bin/true (KiB) |"
  echo "|---|---:|---:|---:|"
  for r in "${WORKING[@]}"; do echo "| $r | ${RSS[$r]} | ${SIZE[$r]} | ${MINMEM[$r]} |"; done
  echo
  echo "Peak RSS is \`/usr/bin/time -v\`'s maximum resident set size: the largest single process"
  echo "among the runtime and the children it waited for$([ "$LAYOUT" = hybrid ] && echo " (for crun here, possibly the wrapper's \`unshare\`/\`sh\`)")."
  echo "The memory-limit ladder is 512 KiB, 1, 2, 4 … 64 MiB (\`linux.resources.memory.limit\`)."
  if [ ${#NOTES[@]} -gt 0 ]; then
    echo; echo "## Notes"; echo
    for n in "${NOTES[@]}"; do echo "- $n"; done
  fi
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
say "results: ${OUT#"$ROOT"/} (raw JSON: ${RAW#"$ROOT"/})"
cat "$OUT"
