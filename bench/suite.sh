#!/bin/bash
# suite.sh - the benchmark suite (issue 8): berth next to runc, crun, youki, podman, skopeo +
# umoci and Docker, every row interleaved, one report and one chart.
#
#   sudo bench/suite.sh [--quick] [--runs N] [--per-round K] [--warmup W] [--heavy-runs H]
#                       [--containers N] [--ps-records N] [--idle N] [--only LIST]
#                       [--no-docker] [--no-build] [--out BASE]
#
#   --runs N        timed runs of each tool in each latency row (default 30)
#   --per-round K   runs per hyperfine call; the tools alternate every K runs (default 3)
#   --warmup W      untimed runs per tool before each hyperfine call (default 1)
#   --heavy-runs H  runs of the slow rows: pulls, N containers (default 10)
#   --containers N  containers in the "N containers" rows (default 100)
#   --ps-records N  records for the `ps` row (default 1000)
#   --idle N        idle containers per engine for the monitor-RSS row (default 10)
#   --quick         a small run that proves every row works (6 runs, 2 heavy, 20
#                   containers, 50 records, 3 idle); writes BASE-quick.{md,svg}
#   --only LIST     comma-separated sections: runtime,many,engine,monitor,pull,ps
#   --no-docker     leave Docker out (it is optional; without dockerd its column says why)
#   --out BASE      write BASE.md and BASE.svg (default bench/results/DATE-HOST)
#
# Installs what is missing from Debian (runc crun podman skopeo umoci hyperfine ...),
# builds the static release binaries, starts the registry fixture in a private run dir
# and removes everything it made at the end or on Ctrl-C.  See bench/README.md.
# Row titles are markdown: their backticks are literal, not command substitutions.
# shellcheck disable=SC2016
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
# shellcheck source=bench/lib/runtimes.sh
. bench/lib/runtimes.sh
# shellcheck source=bench/lib/samples.sh
. bench/lib/samples.sh
# shellcheck source=bench/lib/engines.sh
. bench/lib/engines.sh

RUNS=30 PER_ROUND=3 WARMUP=1 HEAVY=10 N=100 PS_RECORDS=1000 IDLE=10 RSS_RUNS=5
BUILD=1 WANT_DOCKER=1 ONLY=runtime,many,engine,monitor,pull,ps QUICK=0
OUT=$ROOT/bench/results/$(date +%F)-$(hostname -s)
parse_args() {
  # --quick first, so that explicit flags after it still win
  if [[ " $* " = *" --quick "* ]]; then
    QUICK=1 RUNS=6 PER_ROUND=2 HEAVY=2 N=20 PS_RECORDS=50 IDLE=3 RSS_RUNS=3
  fi
  while [ $# -gt 0 ]; do
    case $1 in
      --quick) shift;;
      --runs) RUNS=$2; shift 2;;
      --per-round) PER_ROUND=$2; shift 2;;
      --warmup) WARMUP=$2; shift 2;;
      --heavy-runs) HEAVY=$2; shift 2;;
      --containers) N=$2; shift 2;;
      --ps-records) PS_RECORDS=$2; shift 2;;
      --idle) IDLE=$2; shift 2;;
      --only) ONLY=$2; shift 2;;
      --no-docker) WANT_DOCKER=0; shift;;
      --no-build) BUILD=0; shift;;
      --out) OUT=$2; shift 2;;
      -h|--help) sed -n '/^# suite.sh/,/^# and removes/s/^# \{0,1\}//p' "$0"; exit 0;;
      *) die "unknown argument $1 (see --help)";;
    esac
  done
  [ "$QUICK" = 0 ] || [[ $OUT = *-quick ]] || OUT=$OUT-quick
  ROUNDS=$(((RUNS + PER_ROUND - 1) / PER_ROUND))
}
wants() { [[ ",$ONLY," = *",$1,"* ]]; }

# --- peers: Debian packages, installed when missing ---------------------------------
PKGS=(runc crun podman conmon skopeo umoci hyperfine jq time curl busybox-static
      docker-registry debootstrap apache2-utils openssl zstd python3 util-linux iproute2 binutils)
install_peers() {
  local p missing=() prc=/usr/sbin/policy-rc.d made=0
  [ "$WANT_DOCKER" = 0 ] || PKGS+=(docker.io)
  for p in "${PKGS[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  say "installing ${missing[*]}"
  # no service may start during the install (docker-registry would listen on :5000,
  # docker.io would start dockerd): policy-rc.d exit 101 forbids it
  if [ ! -e $prc ]; then printf '#!/bin/sh\nexit 101\n' >$prc && chmod 755 $prc && made=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" || say "apt-get install failed; rows without their tool say so"
  [ "$made" = 0 ] || rm -f $prc
}

# --- the machine and the versions, at the top of the report ------------------------------
version_line() { # NAME CMD...: "- NAME: first line of its version output"
  local name=$1 v; shift
  v=$("$@" 2>&1 | grep -m1 . || true)
  echo "- $name: ${v:-not available}"
}
write_meta() {
  local m=$BENCH_RAW/meta.md
  {
    echo "# berth benchmark suite, $(date -u '+%F %H:%M UTC'), $(hostname -s)"
    echo
    echo "Produced by \`bench/suite.sh$([ "$QUICK" = 1 ] && echo ' --quick')\` (see \`bench/README.md\`)."
    echo "Latency rows: $RUNS runs per tool, in $ROUNDS hyperfine calls of $PER_ROUND runs"
    echo "(after $WARMUP warm-up run(s) per tool each call), the tools' order rotated every call."
    echo "Pull and N-container rows: $HEAVY runs per tool, interleaved the same way, after an"
    echo "untimed warm-up (a first pull; 5 containers). Every"
    echo "table gives median (bold), min, max and n, and *berth / this* = berth's median over"
    echo "the tool's (below 1: berth is faster or smaller). The chart is \`$(basename "$OUT").svg\`."
    echo
    echo "## Machine"
    echo
    echo "- kernel: $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM"
    echo "- cgroups: $(cgroup_layout_text)"
    echo "- filesystem of every store: $(findmnt -n -o FSTYPE -T "$TMP") ($(findmnt -n -o SOURCE -T "$TMP"))"
    echo "- load average at the start: $LOAD0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "## Versions"
    echo
    echo "- berth: $("$BERTH" --version), commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- crates || echo ' plus uncommitted changes')"
    version_line berth-runtime "${BIN[berth]}" --version
    version_line runc runc --version
    version_line crun crun --version
    version_line podman podman --version
    version_line "conmon (podman's monitor)" conmon --version
    version_line skopeo skopeo --version
    version_line umoci umoci --version
    version_line docker dockerd --version
    version_line hyperfine hyperfine --version
    version_line curl sh -c 'curl --version | cut -d" " -f1-2' 
    version_line tar tar --version
    version_line busybox "$(berth_busybox)"
    version_line registry docker-registry --version
    echo
  } >"$m"
}

# --- runtime rows -----------------------------------------------------------------------
RID=berth-bench-$$
runtime_setup() {
  RT_TMP=$TMP/rt
  mkdir -p "$RT_TMP/state"
  setup_runtimes 0 berth runc crun youki
  make_runtime_bundle "$RT_TMP/bundle" '["/bin/true"]'
  make_runtime_bundle "$RT_TMP/sleeper" '["sleep", "1000000000"]'
  write_lifecycle_driver "$RT_TMP/lifecycle"
  mapfile -t WORKING < <(working_runtimes "$RT_TMP/bundle" "$RID" berth runc crun youki)
  local r
  for r in "${RT_NOTES[@]}"; do note - "$r"; done
  for r in "${!RT[@]}"; do on_exit "rt_delete $r $RID; rt_delete $r $RID-x"; done
  [ ${#WORKING[@]} -gt 0 ] || die "no runtime works"
}
rt_line() { echo "${RT[$1]} --root $RT_TMP/state/$1 $2"; }
rt_prep() { echo "sh -c '${RT[$1]} --root $RT_TMP/state/$1 delete --force $RID >/dev/null 2>&1; true'"; }
# a wrapped crun runs the lifecycle driver in one private mount namespace
lifecycle_line() {
  local pre=; [ "${RT[$1]}" != "${BIN[$1]}" ] && pre="$RT_TMP/hide-unified "
  echo "$pre$RT_TMP/lifecycle ${BIN[$1]} $RT_TMP/state/$1 $RT_TMP/bundle $RID"
}
section_runtime() {
  local S="Runtime: berth-runtime, runc, crun, youki" r pid kib rss
  row rt-run "$S" '`run` of /bin/true (create, start, wait, delete in one call)' ms
  tools_reset
  for r in "${WORKING[@]}"; do tool "$r" "$(rt_line "$r" "run --bundle $RT_TMP/bundle $RID")" "$(rt_prep "$r")"; done
  tool "floor: unshare -fpmniu true" "unshare -fpmniu true"
  if [ "${RT[crun]:-}" != "${BIN[crun]:-}" ]; then
    tool "crun's wrapper alone" "$RT_TMP/hide-unified /bin/true"
    note rt-run "crun refuses this hybrid cgroup layout, so it runs through \`unshare -m\` + \`umount /sys/fs/cgroup/unified\` (bench/lib/common.sh); that wrapper's own cost is the line *crun's wrapper alone*, included once in each crun number"
  fi
  interleave rt-run 1000 "$ROUNDS" "$PER_ROUND" "$WARMUP"

  row rt-lifecycle "$S" 'create + start + wait + delete (four calls, one driver script)' ms
  tools_reset
  for r in "${WORKING[@]}"; do tool "$r" "$(lifecycle_line "$r")" "$(rt_prep "$r")"; done
  interleave rt-lifecycle 1000 "$ROUNDS" "$PER_ROUND" "$WARMUP"

  # exec and state need a running container per runtime
  for r in "${WORKING[@]}"; do
    "${RT[$r]}" --root "$RT_TMP/state/$r" create --bundle "$RT_TMP/sleeper" --pid-file "$RT_TMP/$r.pid" "$RID-x" </dev/null >/dev/null 2>&1
    "${RT[$r]}" --root "$RT_TMP/state/$r" start "$RID-x"
  done
  row rt-exec "$S" '`exec` of /bin/true into a running container' ms
  tools_reset
  for r in "${WORKING[@]}"; do tool "$r" "$(rt_line "$r" "exec $RID-x /bin/true")"; done
  pid=$(cat "$RT_TMP/${WORKING[0]}.pid")
  tool "floor: nsenter -a true" "nsenter -t $pid -a /bin/true"
  interleave rt-exec 1000 "$ROUNDS" "$PER_ROUND" "$WARMUP"
  row rt-state "$S" '`state` of a running container' ms
  tools_reset
  for r in "${WORKING[@]}"; do tool "$r" "$(rt_line "$r" "state $RID-x")"; done
  interleave rt-state 1000 "$ROUNDS" "$PER_ROUND" "$WARMUP"
  for r in "${WORKING[@]}"; do rt_delete "$r" "$RID-x"; done

  row rt-rss "$S" 'peak RSS of `run` /bin/true (/usr/bin/time -v)' KiB
  row rt-size "$S" 'stripped binary size' KiB
  row rt-minmem "$S" 'smallest memory limit that runs /bin/true (512 KiB, 1, 2, 4 … 64 MiB)' KiB
  for r in "${WORKING[@]}"; do
    say "$r: peak RSS, size, smallest memory limit"
    mapfile -t rss < <(peak_rss_kib "$r" "$RT_TMP/bundle" "$RID" "$RSS_RUNS")
    sample rt-rss "$r" "${rss[@]}"
    sample rt-size "$r" "$(( $(stripped_size "$r") / 1024 ))"
    kib=$(min_memory "$r" "$RT_TMP/bundle" "$RID")
    if [[ $kib = *'>'* ]]; then note rt-minmem "$r: no limit up to 64 MiB worked"; else sample rt-minmem "$r" "$kib"; fi
  done
  note rt-rss "the largest single process among the runtime and the children it waited for$([ "${RT[crun]:-}" != "${BIN[crun]:-}" ] && echo "; for crun, possibly its wrapper's \`unshare\`/\`sh\`")"
}

# N containers per runtime: bench/many.sh's loop, rounds interleaved
section_many() {
  local S="Runtime: $N containers" round i r n=${#WORKING[@]} out
  for r in "${WORKING[@]}"; do on_exit "many_cleanup $r $RT_TMP/many-$r $N m$$-"; done
  row many-cs "$S" "create + start of $N sleeping containers, one after another" s
  row many-kd "$S" "kill + delete of those $N" s
  for r in "${WORKING[@]}"; do   # warm-up: 5 containers each, untimed
    many_round "$r" "$RT_TMP/many-$r" "$RT_TMP/sleeper" 5 "m$$-" >/dev/null
    many_cleanup "$r" "$RT_TMP/many-$r" 5 "m$$-"
  done
  for ((round = 0; round < HEAVY; round++)); do
    for ((i = 0; i < n; i++)); do
      r=${WORKING[$(((i + round) % n))]}
      say "many: round $((round + 1))/$HEAVY, $r"
      out=$(many_round "$r" "$RT_TMP/many-$r" "$RT_TMP/sleeper" "$N" "m$$-")
      sample many-cs "$r" "${out% *}"; sample many-kd "$r" "${out#* }"
      many_cleanup "$r" "$RT_TMP/many-$r" "$N" "m$$-"
    done
  done
  [ "${RT[crun]:-}" = "${BIN[crun]:-}" ] || note many-cs "crun's whole loop runs in one wrapper namespace (paid once per round)"
}

# --- engine rows ---------------------------------------------------------------------------
ENGINES=()
engines_setup() {
  ENG_CG=berth-bench-$$
  on_exit "remove_cgroup_subtree $ENG_CG"
  engines_env
  netns_setup
  podman_setup
  on_exit berth_cleanup
  ENGINES=(berth podman)
  if [ "$WANT_DOCKER" = 1 ]; then
    if docker_setup; then ENGINES+=(docker); else note - "docker: no numbers: $DOCKER_WHY"; fi
  else
    DOCKER_WHY="left out (--no-docker)"
  fi
  IMG=$REG/busybox:latest
  local e
  for e in "${ENGINES[@]}"; do
    case $e in
      podman) "${PODMAN[@]}" pull -q --tls-verify=false "$IMG" >/dev/null;;
      *) eng "$e" pull -q "$IMG" >/dev/null;;
    esac
  done
}
# a hyperfine line that runs an engine command inside the private netns
ns_line() { echo "${NS[*]} $(eng_line "$@")"; }
section_engine_run() {
  local S="Engine: berth vs podman (and Docker)" e out
  row eng-run-none "$S" '`run --rm` busybox /bin/true, `--network none`' ms
  tools_reset
  for e in "${ENGINES[@]}"; do tool "$e" "$(ns_line "$e" run --rm "$IMG" true)"; done
  smoke_tools eng-run-none && interleave eng-run-none 1000 "$ROUNDS" "$PER_ROUND" "$WARMUP"
  note eng-run-none "podman: overlay storage, runc (crun refuses the hybrid layout), cgroupfs; every engine's containers run in one private network namespace (\`nsenter -n\`, the same cost for all)"

  row eng-run-default "$S" '`run --rm` busybox /bin/true, the default network' ms
  note eng-run-default "berth: its default network \`berth\` (bridge berth0, NAT in its own nftables table), built inside the private network namespace"
  note eng-run-default "podman: its default network (a CNI bridge with NAT), built inside the private network namespace"
  [ "${#DOCKER[@]}" = 0 ] || note eng-run-default "docker: no numbers: dockerd runs with --bridge=none --iptables=false, so that the host's network and firewall stay untouched"
  tools_reset
  tool berth "${NS[*]} $BERTH run --rm --network bridge --cgroup-parent $ENG_CG $IMG true"
  tool podman "${NS[*]} ${PODMAN[*]} run --rm $(podman_run_flags | tr '\n' ' ')$IMG true"
  smoke_tools eng-run-default && interleave eng-run-default 1000 "$ROUNDS" "$PER_ROUND" "$WARMUP"
}

# engine_batch ENGINE COUNT: `run -d` COUNT sleeping containers, `ps`, `rm -f` them all in
# one call; prints the three durations (s)
engine_batch() {
  local e=$1 count=$2 i t0 t1 t2 t3 names=() cmd flags
  for ((i = 0; i < count; i++)); do names+=("b$$-$i"); done
  mapfile -t cmd < <(eng_cmd "$e")
  mapfile -t flags < <(eng_run_flags "$e")
  t0=$EPOCHREALTIME
  for i in "${names[@]}"; do "${NS[@]}" "${cmd[@]}" run -d "${flags[@]}" --name "$i" "$IMG" sleep 1000000000 >/dev/null; done
  t1=$EPOCHREALTIME
  "${cmd[@]}" ps >/dev/null
  t2=$EPOCHREALTIME
  eng "$e" rm -f "${names[@]}" >/dev/null
  t3=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN { printf "%.6f %.6f %.6f\n", b - a, c - b, d - c }'
}
section_engine_batch() {
  local S="Engine: $N containers" round i e n=${#ENGINES[@]} out a b c
  row eng-many-run "$S" "\`run -d\` of $N sleeping busybox containers" s
  row eng-many-ps "$S" "\`ps\` with those $N running" ms
  row eng-many-rm "$S" "\`rm -f\` of the $N in one call" s
  for e in "${ENGINES[@]}"; do engine_batch "$e" 5 >/dev/null || true; done   # warm-up, untimed
  for ((round = 0; round < HEAVY; round++)); do
    for ((i = 0; i < n; i++)); do
      e=${ENGINES[$(((i + round) % n))]}
      say "engine batch: round $((round + 1))/$HEAVY, $e"
      if ! out=$(engine_batch "$e" "$N"); then
        note eng-many-run "$e: round $((round + 1)) failed"; continue
      fi
      read -r a b c <<<"$out"
      sample eng-many-run "$e" "$a"; sample eng-many-ps "$e" "$(awk -v b="$b" 'BEGIN { print b * 1000 }')"; sample eng-many-rm "$e" "$c"
    done
  done
}

section_monitor() {
  local S="Engine: per-container monitor" e i p cmd flags
  row mon-rss "$S" "RSS of the monitor of an idle container (berth-monitor, conmon, containerd-shim)" KiB
  row mon-pss "$S" "PSS of the same (shared pages split between the monitors)" KiB
  for e in "${ENGINES[@]}"; do
    mapfile -t cmd < <(eng_cmd "$e")
    mapfile -t flags < <(eng_run_flags "$e")
    for ((i = 0; i < IDLE; i++)); do
      "${NS[@]}" "${cmd[@]}" run -d "${flags[@]}" --name "idle$$-$i" "$IMG" sleep 1000000000 >/dev/null
    done
    sleep 2   # let the monitors settle into their idle loop
    for p in $(monitor_pids "$e"); do
      sample mon-rss "$e" "$(rss_kib "$p")"; sample mon-pss "$e" "$(pss_kib "$p")"
    done
    for ((i = 0; i < IDLE; i++)); do eng "$e" rm -f "idle$$-$i" >/dev/null 2>&1 || true; done
  done
  [ "${#DOCKER[@]}" = 0 ] || note mon-rss "docker: containerd-shim-runc-v2, one per container; dockerd and containerd themselves (shared by all containers) are not counted"
  note mon-rss "$IDLE idle containers per engine, one sample per monitor process"
}

# --- pulls: each image cold, from a cleared store, every tool on the same filesystem ------
write_pull_helpers() {
  cat >"$TMP/clear" <<'EOF'
#!/bin/sh
# clear DIR: unmount what is mounted below DIR, empty it
for d in "$@"; do
  findmnt -rn -o TARGET | awk -v d="$d/" 'index($0, d) == 1' | sort -r | xargs -r umount -l
  rm -rf --one-file-system "$d"; mkdir -p "$d"
done
EOF
  cat >"$TMP/skopeo-umoci" <<'EOF'
#!/bin/sh
# skopeo-umoci REF DIR: copy to an OCI layout, unpack it into a runtime bundle
set -e
skopeo copy -q --src-tls-verify=false "docker://$1" "oci:$2/layout:img"
exec umoci --log error unpack --image "$2/layout:img" "$2/bundle"
EOF
  cat >"$TMP/floor" <<'EOF'
#!/bin/sh
# floor URL-PREFIX DIR DIGEST...: fetch each layer blob and untar it, nothing else
# (no manifest, no digest check, no whiteouts): what any pull must at least do
set -e
url=$1 dir=$2; shift 2
mkdir -p "$dir/rootfs"
for d in "$@"; do curl -sf "$url/blobs/$d" | tar -xzf - -C "$dir/rootfs"; done
EOF
  # retire DIR: as clear, but the old store is renamed into a graveyard removed after the
  # section, not deleted: on an ext4 without a journal (this bench host's) the kernel will not
  # reuse an inode freed in the last minute and checks each such one for every new file, so
  # deleting ~4,000 files right before a timed pull made that pull pay for the deletion
  # (81 % of a cold busybox pull's CPU in perf; bench/results/2026-11-29-pull-small.md).
  cat >"$TMP/retire" <<EOF
#!/bin/sh
for d in "\$@"; do
  findmnt -rn -o TARGET | awk -v d="\$d/" 'index(\$0, d) == 1' | sort -r | xargs -r umount -l
  mkdir -p "$TMP/pull-graveyard"
  [ ! -e "\$d" ] || mv "\$d" "\$(mktemp -d "$TMP/pull-graveyard/XXXXXX")/"
  mkdir -p "\$d"
done
EOF
  chmod +x "$TMP/clear" "$TMP/retire" "$TMP/skopeo-umoci" "$TMP/floor"
}
section_pull() {
  local S="Images: cold pull + unpack from the local registry" img ref d P=$TMP/pull mb layers digests
  write_pull_helpers
  engines_env # no user credentials or configs, also when no engine row ran before
  on_exit "$TMP/clear $P $TMP/pull-graveyard"
  local pod=(podman --root "$P/podman/storage" --runroot "$P/podman/run" --tmpdir "$P/podman/tmp"
             --storage-driver overlay --cgroup-manager cgroupfs --events-backend file)
  for img in busybox debian etcd haproxy; do
    case $img in debian) ref=debian:bookworm-slim;; *) ref=$img:latest;; esac
    mb=$(jq -r --arg r "$ref" '[.images[$r].layers[].size] | add / 1048576 * 10 | round / 10' "$STATE")
    layers=$(jq -r --arg r "$ref" '.images[$r].layers | length' "$STATE")
    digests=$(jq -r --arg r "$ref" '[.images[$r].layers[].digest] | join(" ")' "$STATE")
    d=pull-$img
    row "$d" "$S" "$ref ($mb MiB gzip, $layers layer$([ "$layers" = 1 ] || echo s))" s
    tools_reset
    tool berth "env BERTH_ROOT=$P/berth/data BERTH_RUNROOT=$P/berth/run $BERTH pull -q $REG/$ref" "$TMP/retire $P/berth"
    tool podman "${pod[*]} pull -q --tls-verify=false $REG/$ref" "$TMP/retire $P/podman"
    tool "skopeo copy + umoci unpack" "$TMP/skopeo-umoci $REG/$ref $P/skopeo" "$TMP/retire $P/skopeo"
    tool "floor: curl + tar -xzf" "$TMP/floor http://$REG/v2/${ref%%:*} $P/floor $digests" "$TMP/retire $P/floor"
    smoke_tools "$d" && interleave "$d" 1 "$HEAVY" 1 0
  done
  note pull-busybox "the floor has no manifest, no digest check and no whiteouts, but GNU tar unpacks more slowly than berth's unpacker (bench/results/2026-11-29-pull.md: 778 vs 389 ms for a 135 MB layer), so berth can come in under it"
  note pull-busybox "berth: pull verifies every digest and unpacks each layer into its store (overlay snapshots); podman: overlay storage; skopeo + umoci: OCI layout then an unpacked runtime bundle; every store is moved aside before each run and removed after the last row (untimed): no timed pull allocates inodes just after thousands were freed, which on this host's journal-less ext4 costs a scan per new file"
}

# --- ps with many records --------------------------------------------------------------
section_ps() {
  local S="Engine: listing" i e t0 t1 ids
  row ps-records "$S" "\`ps -a\` with $PS_RECORDS created containers" ms
  row ps-create "$S" "\`create\` of each of those $PS_RECORDS (the set-up, one sample per $PS_RECORDS)" s
  tools_reset
  for e in berth podman; do
    say "$e: creating $PS_RECORDS containers"
    t0=$EPOCHREALTIME
    for ((i = 0; i < PS_RECORDS; i++)); do eng "$e" create --name "ps$$-$i" "$IMG" true >/dev/null; done
    t1=$EPOCHREALTIME
    sample ps-create "$e" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
    tool "$e" "$(eng_line "$e" ps -a)"
  done
  interleave ps-records 1000 "$ROUNDS" "$PER_ROUND" "$WARMUP"
  ids=$("$BERTH" ps -aq)
  # shellcheck disable=SC2086 # one id a word
  [ -z "$ids" ] || "$BERTH" rm -f $ids >/dev/null || note ps-records "berth rm of the records failed"
  ids=$(eng podman ps -aq)
  # shellcheck disable=SC2086 # one id a word
  [ -z "$ids" ] || eng podman rm -f $ids >/dev/null || note ps-records "podman rm of the records failed"
  note ps-records "real records made by \`berth create\` / \`podman create\` (not started); berth lists them from its SQLite database"
}

# --- main ----------------------------------------------------------------------------------
main() {
  parse_args "$@"
  [ "$(id -u)" = 0 ] || die "needs root: sudo $0"
  LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
  install_peers
  # build before HOME moves into the temp dir (cargo is found through HOME)
  local rtbin
  rtbin=$(berth_runtime_bin "$BUILD") || die "building berth failed"
  BERTH=$(dirname "$rtbin")/berth
  [ -x "$BERTH" ] || die "no $BERTH (build it: scripts/build-release.sh)"

  TMP=$(mktemp -d /var/tmp/berth-suite.XXXXXX)
  BENCH_RAW=$TMP/raw
  mkdir -p "$BENCH_RAW/hf"
  : >"$BENCH_RAW/rows.tsv"; : >"$BENCH_RAW/samples.tsv"; : >"$BENCH_RAW/notes.tsv"
  bench_traps
  # registered first, so run last: nothing may still use the dir
  on_exit "kill_under $TMP; umount_under $TMP; rm -rf --one-file-system $TMP"

  # the registry fixture in a private run dir (the image cache is shared)
  export BERTH_REGISTRY_DIR=$TMP/registry
  on_exit "tests/fixtures/registry/fixture.sh stop >/dev/null 2>&1"
  tests/fixtures/registry/fixture.sh start >&2
  STATE=$(tests/fixtures/registry/fixture.sh state-path)
  REG=$(jq -r .registries.plain.host "$STATE")

  ENG_TMP=$TMP/engines
  runtime_setup
  if wants runtime; then section_runtime; fi
  if wants many; then section_many; fi
  if wants engine || wants monitor || wants ps; then engines_setup; fi
  if wants engine; then section_engine_run; section_engine_batch; fi
  if wants monitor; then section_monitor; fi
  if wants pull; then section_pull; fi
  if wants ps; then section_ps; fi

  write_meta
  mkdir -p "$(dirname "$OUT")"
  python3 bench/lib/report.py "$BENCH_RAW" "$OUT.md" "$OUT.svg"
  # the raw samples and hyperfine files stay for inspection (bench/tmp is not committed)
  mkdir -p bench/tmp && cp -r "$BENCH_RAW" "bench/tmp/$(basename "$OUT")"
  say "results: ${OUT#"$ROOT"/}.md and .svg"
  cat "$OUT.md"
}

# one line, parsed whole before it runs: editing this file during a run cannot break it
main "$@"; exit
