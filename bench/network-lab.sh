#!/bin/bash
# network-lab.sh - where container TCP throughput goes, without berth: the default network's
# topology (bridge 10.88.0.1/16, two "containers" on veth pairs, an uplink to a "remote"
# namespace) built by hand with `ip` in namespaces of its own (berth-nettest-*), with one
# knob changed per variant, iperf3 for T seconds each, variants interleaved ROUNDS times.
#   sudo bench/network-lab.sh [ROUNDS] [T]     (default 3 rounds of 3 s tests)
# Variants:
#   berth    links at 1500, berth's nftables rules (conntrack), br_netfilter on (the old default)
#   bare     links at 1500, no nftables table (no conntrack, no NAT)
#   nobrnf   as berth, with net.bridge.bridge-nf-call-iptables=0 in the host namespace
#   split    links at 65520, the containers' default route at mtu 1500 (ADR 0010)
#   jumbo    links and routes at 65520
#   veth     no bridge: one veth pair between two namespaces, at 1500
#   veth64k  the same at 65520
# Columns: Gbit/s of c1 -> c2, of the host -> c2 via the published 127.0.0.1:5201, of
# c1 -> remote (through the uplink, masqueraded), and of the host's own loopback.
set -euo pipefail
ROUNDS=${1:-3}
T=${2:-3}
VARIANTS=${VARIANTS:-berth bare nobrnf split jumbo veth veth64k}
P=berth-nettest-$$
mine() { ip netns list | awk -v p="$P-" 'index($1, p) == 1 { print $1 }'; }
cleanup() { # every namespace of this run, and the iperf3 servers in them
  local n
  for n in $(mine); do ip netns pids "$n" | xargs -r kill 2>/dev/null || true; done
  sleep 0.1
  for n in $(mine); do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT
ns() { ip netns add "$P-$1"; }
inns() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }
gbit() { "$@" -t "$T" -J | jq -r '.end.sum_received.bits_per_second / 1e9'; }

rules() { # the table berth's nat.rs makes for bridge br0, plus one published port
  inns h nft -f - <<'NFT'
add table ip berth
add map ip berth ports_any { type inet_proto . inet_service : ipv4_addr . inet_service; }
add map ip berth ports_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
add chain ip berth prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain ip berth output { type nat hook output priority -100; policy accept; }
add chain ip berth postrouting { type nat hook postrouting priority srcnat; policy accept; }
add chain ip berth forward { type filter hook forward priority filter; policy accept; }
add rule ip berth prerouting meta l4proto { tcp, udp } fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_ip
add rule ip berth prerouting meta l4proto { tcp, udp } fib daddr type local dnat ip to meta l4proto . th dport map @ports_any
add rule ip berth output meta l4proto { tcp, udp } fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_ip
add rule ip berth output meta l4proto { tcp, udp } fib daddr type local dnat ip to meta l4proto . th dport map @ports_any
add rule ip berth postrouting oifname "br0" ct status dnat ip saddr { 127.0.0.0/8, 10.88.0.0/16 } counter masquerade
add rule ip berth postrouting ip saddr 10.88.0.0/16 oifname != "br0" counter masquerade
add element ip berth ports_ip { 127.0.0.1 . tcp . 5201 : 10.88.0.3 . 5201 }
NFT
  inns h sysctl -qw net.ipv4.conf.br0.route_localnet=1
}

bridged() { # VARIANT -> "c2c published remote loopback"
  local v=$1 link=1500 route=
  case $v in split) link=65520 route=1500 ;; jumbo) link=65520 ;; esac
  ns h; ns c1; ns c2; ns r
  inns h ip link set lo up
  inns h ip link add br0 mtu $link type bridge
  inns h ip addr add 10.88.0.1/16 dev br0
  inns h ip link set br0 up
  local i=2
  for c in c1 c2; do
    inns h ip link add "v$i" mtu $link master br0 up type veth peer name eth0 mtu $link netns "$P-$c"
    inns $c ip link set lo up
    inns $c ip addr add "10.88.0.$i/16" dev eth0
    inns $c ip link set eth0 up
    inns $c ip route add default via 10.88.0.1 ${route:+mtu $route}
    i=$((i + 1))
  done
  inns h ip link add up0 type veth peer name eth0 netns "$P-r"
  inns h ip addr add 192.0.2.1/24 dev up0
  inns h ip link set up0 up
  inns r ip link set lo up
  inns r ip addr add 192.0.2.2/24 dev eth0
  inns r ip link set eth0 up
  inns r ip route add 10.88.0.0/16 via 192.0.2.1 # for "bare", which does not masquerade
  inns h sysctl -qw net.ipv4.ip_forward=1
  [ "$v" = nobrnf ] && inns h sysctl -qw net.bridge.bridge-nf-call-iptables=0
  [ "$v" = bare ] || rules
  inns c2 iperf3 -s -D -B 10.88.0.3 >/dev/null
  inns r iperf3 -s -D -B 192.0.2.2 >/dev/null
  inns h iperf3 -s -D -B 127.0.0.1 -p 5301 >/dev/null
  sleep 0.3
  local c2c pub out lo
  c2c=$(gbit inns c1 iperf3 -c 10.88.0.3)
  pub=0
  [ "$v" = bare ] || pub=$(gbit inns h iperf3 -c 127.0.0.1 -p 5201)
  out=$(gbit inns c1 iperf3 -c 192.0.2.2)
  lo=$(gbit inns h iperf3 -c 127.0.0.1 -p 5301)
  cleanup
  echo "$c2c $pub $out $lo"
}

pair() { # MTU -> "c2c 0 0 loopback"
  ns a; ns b
  inns a ip link add eth0 mtu "$1" type veth peer name eth0 mtu "$1" netns "$P-b"
  for n in a b; do inns $n ip link set lo up; inns $n ip link set eth0 up; done
  inns a ip addr add 10.9.0.1/24 dev eth0
  inns b ip addr add 10.9.0.2/24 dev eth0
  inns b iperf3 -s -D -B 10.9.0.2 >/dev/null
  inns a iperf3 -s -D -B 127.0.0.1 -p 5301 >/dev/null
  sleep 0.3
  local c2c lo
  c2c=$(gbit inns a iperf3 -c 10.9.0.2)
  lo=$(gbit inns a iperf3 -c 127.0.0.1 -p 5301)
  cleanup
  echo "$c2c 0 0 $lo"
}

RAW=$(mktemp)
for ((r = 0; r < ROUNDS; r++)); do
  for v in $VARIANTS; do
    case $v in veth) res=$(pair 1500) ;; veth64k) res=$(pair 65520) ;; *) res=$(bridged "$v") ;; esac
    echo "$v $res" | tee -a "$RAW" >&2
  done
done
echo "# network lab — $(date -u +%FT%TZ), $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "\`bench/network-lab.sh $ROUNDS $T\`: medians of $ROUNDS interleaved rounds; each ratio is to the loopback measured in the same round."
echo
echo "| variant | c1 -> c2 | host -> published port | c1 -> remote | loopback |"
echo "|---|---|---|---|---|"
for v in $VARIANTS; do
  awk -v v="$v" '$1 == v { n++; c[n] = $2; p[n] = $3; o[n] = $4; l[n] = $5; rc[n] = $2 / $5; rp[n] = $3 / $5 }
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    END { printf "| %s | %.1f (%.2f) | %.1f (%.2f) | %.1f | %.1f |\n", v, med(c, n), med(rc, n), med(p, n), med(rp, n), med(o, n), med(l, n) }' "$RAW"
done
rm -f "$RAW"
