#!/bin/bash
# many.sh - 100 containers: create+start of each (sleeping), then kill+delete of each, for
# berth-runtime, runc and crun on the same busybox bundle; each runtime ROUNDS times, rounds
# interleaved, the median total reported with the ratio berth/peer.
#   sudo bench/many.sh [N] [ROUNDS]
# crun refuses this host's hybrid cgroup layout, so its whole loop runs in a private mount
# namespace with /sys/fs/cgroup/unified unmounted (the wrapper is paid once per round).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-100} ROUNDS=${2:-3}
BERTH=$("$ROOT/scripts/build-release.sh")
WORK=$(mktemp -d /tmp/berth-many.XXXXXX)
trap 'rm -rf --one-file-system "$WORK"' EXIT
# shellcheck source=../scripts/lib/bundle.sh
. "$ROOT/scripts/lib/bundle.sh"
berth_make_rootfs "$WORK/bundle/rootfs"
berth_spec "$(command -v runc)" "$WORK/bundle" # the peers' own default, as bench/runtime.sh
berth_edit_config "$WORK/bundle" '.process.terminal = false | .process.args = ["sleep", "1000"]' 

loop() { # RUNTIME STATE -> "create_start_seconds kill_delete_seconds"
  local rt=$1 st=$2 i t0 t1 t2
  t0=$EPOCHREALTIME
  for ((i = 0; i < N; i++)); do
    "$rt" --root "$st" create --bundle "$WORK/bundle" "m$i" </dev/null >/dev/null 2>&1
    "$rt" --root "$st" start "m$i"
  done
  t1=$EPOCHREALTIME
  for ((i = 0; i < N; i++)); do "$rt" --root "$st" kill "m$i" KILL; done
  for ((i = 0; i < N; i++)); do "$rt" --root "$st" delete --force "m$i"; done
  t2=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.3f %.3f\n", b - a, c - b }'
}
export -f loop
export N WORK

declare -A CS KD
for ((r = 0; r < ROUNDS; r++)); do
  for rt in berth runc crun; do
    case $rt in
      berth) out=$(loop "$BERTH" "$WORK/state-$rt-$r");;
      runc) out=$(loop "$(command -v runc)" "$WORK/state-$rt-$r");;
      crun) out=$(unshare -m --propagation private bash -c \
              'umount /sys/fs/cgroup/unified && loop "$1" "$2"' _ "$(command -v crun)" "$WORK/state-$rt-$r");;
    esac
    CS[$rt]+="${out% *} " KD[$rt]+="${out#* } "
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
printf '| runtime | create+start x%d (s) | kill+delete x%d (s) | total | berth/this |\n|---|---:|---:|---:|---:|\n' "$N" "$N"
bt=$(echo "$(echo "${CS[berth]}" | median) $(echo "${KD[berth]}" | median)" | awk '{ print $1 + $2 }')
for rt in berth runc crun; do
  cs=$(echo "${CS[$rt]}" | median) kd=$(echo "${KD[$rt]}" | median)
  awk -v rt="$rt" -v cs="$cs" -v kd="$kd" -v bt="$bt" \
    'BEGIN { printf "| %s | %.2f | %.2f | %.2f | %.2f |\n", rt, cs, kd, cs + kd, bt / (cs + kd) }'
done
