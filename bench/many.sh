#!/bin/bash
# many.sh - 100 containers: create+start of each (sleeping), then kill+delete of each, for
# berth-runtime, runc and crun on the same busybox bundle; each runtime ROUNDS times, rounds
# interleaved, the median total reported with the ratio berth/peer.
#   sudo [MANY_STATE_TMPFS=1] bench/many.sh [N] [ROUNDS]
# MANY_STATE_TMPFS=1: every runtime's state root on a tmpfs of its own, as /run is on a real
# host (here /run is a journal-less ext4; see many_round in bench/lib/runtimes.sh).
# crun refuses this host's hybrid cgroup layout, so its whole loop runs in a private mount
# namespace with /sys/fs/cgroup/unified unmounted (the wrapper is paid once per round).
# The loop is bench/lib/runtimes.sh's many_loop, which bench/suite.sh runs too.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-100} ROUNDS=${2:-3}
# shellcheck source=bench/lib/runtimes.sh
. "$ROOT/bench/lib/runtimes.sh"
RT_TMP=$(mktemp -d /tmp/berth-many.XXXXXX)
bench_traps
on_exit "rm -rf --one-file-system $RT_TMP"
setup_runtimes 1 berth runc crun youki
make_runtime_bundle "$RT_TMP/bundle" '["sleep", "1000"]'
for rt in "${!RT[@]}"; do on_exit "many_cleanup $rt $RT_TMP/state-$rt $N m"; done

declare -A CS KD
for ((r = 0; r < ROUNDS; r++)); do
  for rt in berth runc crun youki; do
    [ -n "${RT[$rt]:-}" ] || continue
    out=$(many_round "$rt" "$RT_TMP/state-$rt" "$RT_TMP/bundle" "$N" m)
    CS[$rt]+="${out% *} " KD[$rt]+="${out#* } "
  done
done
printf '| runtime | create+start x%d (s) | kill+delete x%d (s) | total | berth/this |\n|---|---:|---:|---:|---:|\n' "$N" "$N"
bt=$(echo "$(echo "${CS[berth]}" | tr ' ' '\n' | grep . | median) $(echo "${KD[berth]}" | tr ' ' '\n' | grep . | median)" | awk '{ print $1 + $2 }')
for rt in berth runc crun youki; do
  [ -n "${CS[$rt]:-}" ] || continue
  cs=$(echo "${CS[$rt]}" | tr ' ' '\n' | grep . | median) kd=$(echo "${KD[$rt]}" | tr ' ' '\n' | grep . | median)
  awk -v rt="$rt" -v cs="$cs" -v kd="$kd" -v bt="$bt" \
    'BEGIN { printf "| %s | %.2f | %.2f | %.2f | %.2f |\n", rt, cs, kd, cs + kd, bt / (cs + kd) }'
done
