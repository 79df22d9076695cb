#!/bin/bash
# network.sh - what berth's bridge networking costs and carries (issue 6's speed rows):
#   1. setup + teardown per container: `berth run --rm true` on the default network (and
#      with one published port) against `--network none`, runs interleaved A B C A B C;
#   2. TCP throughput with iperf3: container -> container on the bridge, host -> a
#      published port on 127.0.0.1, against the host's own loopback.
# Everything runs in a network namespace of its own (held by `unshare --net sleep`), so the
# host's bridges and nftables are never touched; the rootfs is busybox plus the host's
# iperf3 and the libraries it needs.
#   sudo bench/network.sh [RUNS]          (default 30 runs per command)
# BERTH_BIN=DIR takes the binaries from DIR (another build, e.g. the commit before a change)
# instead of building this tree; BENCH_OUT=FILE writes the table there instead of
# bench/results/<date>-network.md; BENCH_LABEL names the binaries in its title.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-30}
command -v iperf3 >/dev/null || apt-get install -y -qq iperf3 >/dev/null
if [ -n "${BERTH_BIN:-}" ]; then
  BERTH=$BERTH_BIN/berth
else
  BERTH_RT=$("$ROOT/scripts/build-release.sh")
  BERTH=$(dirname "$BERTH_RT")/berth
fi
WORK=$(mktemp -d /tmp/berth-netbench.XXXXXX)
HOLDER=
cleanup() {
  if [ -n "$HOLDER" ]; then
    in_ns "$BERTH" rm -f ipsrv >/dev/null 2>&1 || true
    kill "$HOLDER" 2>/dev/null || true
    wait "$HOLDER" 2>/dev/null || true
  fi
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

# shellcheck source=../scripts/lib/bundle.sh
. "$ROOT/scripts/lib/bundle.sh"
ROOTFS=$WORK/rootfs
berth_make_rootfs "$ROOTFS"
# iperf3 and its libraries, at the same paths as on the host
cp /usr/bin/iperf3 "$ROOTFS/bin/iperf3"
for lib in $(ldd /usr/bin/iperf3 | awk '/=>/ { print $3 } /ld-linux/ { print $1 }'); do
  mkdir -p "$ROOTFS$(dirname "$lib")"
  cp -L "$lib" "$ROOTFS$lib"
done
[ -e "$ROOTFS/lib64" ] || ln -s lib "$ROOTFS/lib64" 2>/dev/null || true

unshare --net sleep infinity &
HOLDER=$!
while [ "$(readlink /proc/$HOLDER/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.01; done
in_ns() { nsenter --net=/proc/$HOLDER/ns/net -- "$@"; }
export BERTH_ROOT=$WORK/data BERTH_RUNROOT=$WORK/run
in_ns ip link set lo up

run_once() { # FLAGS... -> seconds of one `berth run --rm ... true`
  local t0=$EPOCHREALTIME
  in_ns "$BERTH" run --rm --cgroup-parent berth-netbench "$@" --rootfs "$ROOTFS" - true
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f\n", b - a }'
}
median_of() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# the bridge and NAT table exist before timing starts; 3 warm-ups of each
for _ in 1 2 3; do
  run_once --network none >/dev/null; run_once >/dev/null; run_once -p 127.0.0.1:15999:80 >/dev/null
done
# interleaved A B C A B C ..., so the machine's drift hits every variant alike
: >"$WORK/none" ; : >"$WORK/bridge" ; : >"$WORK/port"
for ((i = 0; i < RUNS; i++)); do
  run_once --network none >>"$WORK/none"
  run_once >>"$WORK/bridge"
  run_once -p 127.0.0.1:15999:80 >>"$WORK/port"
done
NONE=$(median_of "$WORK/none") BRIDGE=$(median_of "$WORK/bridge") PORT=$(median_of "$WORK/port")

iperf() { # CLIENT-ARGV... -> Gbit/s of a 5 s TCP test
  "$@" -t 5 -J | jq -r '.end.sum_received.bits_per_second / 1e9'
}
# baseline: the namespace's own loopback, no container
in_ns iperf3 -s -D -1 -B 127.0.0.1 -p 5301 >/dev/null
sleep 0.3
LOOP=$(iperf in_ns iperf3 -c 127.0.0.1 -p 5301)
# a server container publishing 5201 on 127.0.0.1
in_ns "$BERTH" run -d --name ipsrv --cgroup-parent berth-netbench -p 127.0.0.1:5201:5201 \
  --rootfs "$ROOTFS" - iperf3 -s >/dev/null
SRV_IP=$(in_ns "$BERTH" inspect ipsrv | jq -r '.[0].NetworkSettings.IPAddress')
sleep 0.5
PUBLISHED=$(iperf in_ns iperf3 -c 127.0.0.1 -p 5201)
DIRECT=$(iperf in_ns iperf3 -c "$SRV_IP" -p 5201)
C2C=$(in_ns "$BERTH" run --rm --cgroup-parent berth-netbench --rootfs "$ROOTFS" - \
  iperf3 -c "$SRV_IP" -t 5 -J | jq -r '.end.sum_received.bits_per_second / 1e9')
# the same on a network with the largest MTU (-o mtu=65520): loopback's packet sizes
in_ns "$BERTH" rm -f ipsrv >/dev/null
in_ns "$BERTH" network create -o mtu=65520 jumbo >/dev/null
in_ns "$BERTH" run -d --name ipsrv --network jumbo --cgroup-parent berth-netbench \
  --rootfs "$ROOTFS" - iperf3 -s >/dev/null
SRV_IP=$(in_ns "$BERTH" inspect ipsrv | jq -r '.[0].NetworkSettings.IPAddress')
sleep 0.5
JUMBO=$(in_ns "$BERTH" run --rm --network jumbo --cgroup-parent berth-netbench --rootfs "$ROOTFS" - \
  iperf3 -c "$SRV_IP" -t 5 -J | jq -r '.end.sum_received.bits_per_second / 1e9')

OUT=${BENCH_OUT:-$ROOT/bench/results/$(date +%F)-network.md}
{
  echo "# berth networking${BENCH_LABEL:+ ($BENCH_LABEL)} — $(date -u +%FT%TZ), $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "\`bench/network.sh $RUNS\`: medians of $RUNS interleaved runs each (3 warm-ups) in a private network namespace."
  echo
  echo "| row | median | vs --network none |"
  echo "|---|---|---|"
  awk -v n="$NONE" -v b="$BRIDGE" -v p="$PORT" 'BEGIN {
    printf "| run --rm true, --network none | %.1f ms | |\n", n * 1000
    printf "| run --rm true, default bridge network | %.1f ms | +%.1f ms (setup + teardown) |\n", b * 1000, (b - n) * 1000
    printf "| run --rm true, bridge + -p 127.0.0.1:15999:80 | %.1f ms | +%.1f ms |\n", p * 1000, (p - n) * 1000
  }'
  echo
  echo "| TCP throughput (iperf3, 5 s) | Gbit/s | vs loopback |"
  echo "|---|---|---|"
  awk -v l="$LOOP" -v p="$PUBLISHED" -v d="$DIRECT" -v c="$C2C" -v j="$JUMBO" 'BEGIN {
    printf "| host loopback (baseline, MTU 65536) | %.1f | 1.00 |\n", l
    printf "| host -> published port 127.0.0.1:5201 | %.1f | %.2f |\n", p, p / l
    printf "| host -> container address, port 5201 | %.1f | %.2f |\n", d, d / l
    printf "| container -> container, default network (route MTU 1500, links 65520) | %.1f | %.2f |\n", c, c / l
    printf "| container -> container, network -o mtu=65520 | %.1f | %.2f |\n", j, j / l
  }'
} | tee "$OUT"
