#!/bin/bash
# runtime.sh - berth-runtime next to runc and crun, on the same busybox bundle.
#
#   sudo bench/runtime.sh [--rounds R] [--runs N] [--warmup W] [--runtimes "berth runc crun youki"]
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
# Writes bench/results/<date>-<host>-runtime.md; raw hyperfine JSON goes to bench/tmp/.
# bench/suite.sh measures the same rows (and exec, state, the engine, pulls) with more runs.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
# shellcheck source=bench/lib/runtimes.sh
. bench/lib/runtimes.sh

ROUNDS=3 RUNS=10 WARMUP=3 BUILD=1
RUNTIMES=(berth runc crun youki)
OUT=$ROOT/bench/results/$(date +%F)-$(hostname -s)-runtime.md
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

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
scripts/install-deps.sh --no-vm >&2

RT_TMP=$(mktemp -d /tmp/berth-bench.XXXXXX)
RAW=$ROOT/bench/tmp/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RAW" "$RT_TMP/state"
ID=berth-bench-$$
bench_traps
on_exit "rm -rf --one-file-system $RT_TMP"

setup_runtimes "$BUILD" "${RUNTIMES[@]}"
for r in "${!RT[@]}"; do on_exit "rt_delete $r $ID"; done
B=$RT_TMP/bundle
make_runtime_bundle "$B" '["/bin/true"]'
write_lifecycle_driver "$RT_TMP/lifecycle"
mapfile -t WORKING < <(working_runtimes "$B" "$ID" "${RUNTIMES[@]}")
[ ${#WORKING[@]} -gt 0 ] || { say "no runtime works"; exit 1; }
HIDE_UNIFIED=$RT_TMP/hide-unified

# --- timing -----------------------------------------------------------------------------
cmd_run()       { printf '%s --root %s run --bundle %s %s' "${RT[$1]}" "$RT_TMP/state/$1" "$B" "$ID"; }
# (a wrapped crun runs the whole driver in one private mount namespace, so the
# wrapper costs the same once per measurement in both scenarios)
cmd_lifecycle() {
  local pre=; [ "${RT[$1]}" != "${BIN[$1]}" ] && pre="$HIDE_UNIFIED "
  printf '%s%s %s %s %s %s' "$pre" "$RT_TMP/lifecycle" "${BIN[$1]}" "$RT_TMP/state/$1" "$B" "$ID"
}
cmd_cleanup()   { printf "sh -c '%s --root %s delete --force %s >/dev/null 2>&1; true'" "${RT[$1]}" "$RT_TMP/state/$1" "$ID"; }

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
LAYOUT=$(cgroup_layout)
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
declare -A RSS SIZE MINMEM
for r in "${WORKING[@]}"; do
  say "$r: peak RSS, binary size, minimum memory limit"
  RSS[$r]=$(peak_rss_kib "$r" "$B" "$ID" 5 | median)
  SIZE[$r]=$(stripped_size "$r"); MINMEM[$r]=$(min_memory "$r" "$B" "$ID")
done

# --- report -------------------------------------------------------------------------------------
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
  echo "- cgroups: $(cgroup_layout_text)"
  echo "- load average at the start: $LOAD0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- hyperfine: $(hyperfine --version | head -n1); busybox: $("$(berth_busybox)" | head -n1 | cut -d' ' -f1-2)"
  for r in "${!BIN[@]}"; do echo "- $r: \`${BIN[$r]}\`, $(runtime_version "$r")"; done | sort
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
  if [ ${#RT_NOTES[@]} -gt 0 ]; then
    echo; echo "## Notes"; echo
    for n in "${RT_NOTES[@]}"; do echo "- $n"; done
  fi
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
say "results: ${OUT#"$ROOT"/} (raw JSON: ${RAW#"$ROOT"/})"
cat "$OUT"
