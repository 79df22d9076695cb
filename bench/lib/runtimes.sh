# shellcheck shell=bash
# Sourced by bench/runtime.sh, bench/many.sh and bench/suite.sh: the low-level
# runtimes (berth-runtime, runc, crun, and youki where installed) on one busybox bundle.
#
# Sources what it needs (common.sh, scripts/lib/bundle.sh and cargo-env.sh), so a
# script sources only this file.  Works in $RT_TMP (set it first); fills the
# associative arrays
#   BIN[name]  the runtime's executable
#   RT[name]   the command that runs it (crun on a hybrid host: a wrapper, see below)
# and RT_NOTES (why a runtime has no numbers).

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=bench/lib/common.sh
. "$BENCH_LIB/common.sh"
# shellcheck source=scripts/lib/bundle.sh
. "$BENCH_LIB/../../scripts/lib/bundle.sh"
# shellcheck source=scripts/lib/cargo-env.sh
. "$BENCH_LIB/../../scripts/lib/cargo-env.sh"

declare -gA BIN RT
RT_NOTES=()

# berth_runtime_bin BUILD: build (BUILD=1) or locate the static release berth-runtime
berth_runtime_bin() {
  local root=$BENCH_LIB/../..
  berth_cargo_env || return 1
  if [ "$1" = 1 ]; then
    "$root/scripts/build-release.sh"
  else
    echo "$root/target/static/$(rustc -vV | sed -n 's/^host: //p')/release/berth-runtime"
  fi
}

# youki_bin: youki on PATH, else the one bench/install-youki.sh built (may not exist)
youki_bin() {
  command -v youki || echo "$BENCH_LIB/../tools/youki/bin/youki"
}

# setup_runtimes BUILD NAME...: fill BIN and RT for each runtime that has a binary.
# crun 1.8 refuses a hybrid cgroup layout, so there it runs through the hide-unified
# wrapper ($RT_TMP/hide-unified), whose own cost runtime_wrapper_cost measures.
setup_runtimes() {
  local build=$1 r; shift
  make_hide_unified "$RT_TMP/hide-unified"
  for r in "$@"; do
    case $r in
      berth) BIN[berth]=$(berth_runtime_bin "$build") || say "building berth-runtime failed";;
      runc|crun) BIN[$r]=$(command -v "$r" || true);;
      youki) BIN[youki]=$(youki_bin);;
      *) die "unknown runtime $r";;
    esac
    if [ ! -x "${BIN[$r]}" ]; then
      local how=; [ "$r" = youki ] && how="; \`sudo bench/install-youki.sh\` builds it"
      say "$r: no binary, skipped"; RT_NOTES+=("$r: no binary (${BIN[$r]:-not installed}$how), so it has no numbers")
      unset "BIN[$r]"; continue
    fi
    RT[$r]=${BIN[$r]}
    if [ "$r" = crun ] && [ "$(cgroup_layout)" = hybrid ]; then
      printf '#!/bin/sh\nexec %s %s "$@"\n' "$RT_TMP/hide-unified" "${BIN[$r]}" >"$RT_TMP/crun"
      chmod +x "$RT_TMP/crun"; RT[$r]=$RT_TMP/crun
      on_exit clean_hidden_unified
    fi
  done
}

# make_runtime_bundle DIR ARGS-JSON: busybox rootfs, the peers' default `spec`, no
# terminal, the given process args (e.g. '["/bin/true"]').
make_runtime_bundle() {
  local dir=$1 args=$2
  mkdir -p "$dir"
  berth_make_rootfs "$dir/rootfs"
  berth_spec "${BIN[runc]:-${BIN[crun]:-${BIN[berth]}}}" "$dir"
  # shellcheck disable=SC2016 # $a is jq's variable
  berth_edit_config "$dir" '.process.terminal = false | .process.args = $a | .hostname = "bench"' \
    --argjson a "$args"
}

# write_lifecycle_driver FILE: create, start, wait (by polling /proc, which costs no
# runtime invocation), delete; identical for every runtime.
write_lifecycle_driver() {
  cat >"$1" <<'EOF'
#!/bin/sh
rt=$1 root=$2 bundle=$3 id=$4
# the pid file beside the state root, not in it: a runtime lists and scans its root
pidfile=${root%/}-$id.pid
"$rt" --root "$root" create --bundle "$bundle" --pid-file "$pidfile" "$id" || exit 1
"$rt" --root "$root" start "$id" || exit 1
pid=$(cat "$pidfile" 2>/dev/null)
case $pid in ''|*[!0-9]*) echo "lifecycle: $rt wrote no pid file" >&2; exit 1;; esac
i=0   # give up after ~10 s of polling rather than hang hyperfine
while read -r _ _ st _ 2>/dev/null <"/proc/$pid/stat" && [ "$st" != Z ]; do
  i=$((i + 1)); [ "$i" -lt 3000000 ] || { echo "lifecycle: $pid did not exit" >&2; exit 1; }
done
exec "$rt" --root "$root" delete "$id"
EOF
  chmod +x "$1"
}

# rt_delete NAME ID: best-effort `delete --force`
rt_delete() { "${RT[$1]}" --root "$RT_TMP/state/$1" delete --force "$2" >/dev/null 2>&1 || true; }

# working_runtimes BUNDLE ID NAME...: print the runtimes that really run a container:
# the bundle's process, with its args replaced by an echo, must print a marker (exit
# status 0 alone proves nothing).  Others get a note in RT_NOTES.
working_runtimes() {
  local bundle=$1 id=$2 r err smoke=$RT_TMP/smoke; shift 2
  mkdir -p "$smoke"
  jq --arg root "$bundle/rootfs" '.process.args = ["/bin/echo", "berth-bench-smoke-ok"] | .root.path = $root' \
    "$bundle/config.json" >"$smoke/config.json"
  for r in "$@"; do
    [ -n "${RT[$r]:-}" ] || continue
    mkdir -p "$RT_TMP/state/$r"
    err=$(timeout -k 5 30 "${RT[$r]}" --root "$RT_TMP/state/$r" run --bundle "$smoke" "$id" 2>&1 </dev/null) || true
    rt_delete "$r" "$id"
    if [[ $err = *berth-bench-smoke-ok* ]]; then echo "$r"; continue; fi
    err=${err//$'\n'/ }; err=${err:-no output}
    say "$r cannot run the bundle, skipped: ${err:0:200}"
    RT_NOTES+=("$r: could not run a container (output: \`${err:0:120}\`), so it has no numbers")
  done
}

# peak_rss_kib NAME BUNDLE ID COUNT: /usr/bin/time -v's maximum RSS of `run`, one a line
peak_rss_kib() {
  local r=$1 bundle=$2 id=$3 n=$4 i
  for ((i = 0; i < n; i++)); do
    rt_delete "$r" "$id"
    # stdin from /dev/null as under hyperfine (youki 0.7's `run` can hang on an inherited
    # one), and a timeout so one runtime cannot stall the whole bench
    timeout -s KILL 60 /usr/bin/time -v "${RT[$r]}" --root "$RT_TMP/state/$r" run --bundle "$bundle" "$id" \
      2>&1 >/dev/null </dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p'
  done
  rt_delete "$r" "$id"
}

# stripped_size NAME: bytes of the runtime's executable after `strip`
stripped_size() {
  local f=$RT_TMP/strip.$1
  strip -o "$f" "${BIN[$1]}" 2>/dev/null || cp "${BIN[$1]}" "$f"
  stat -c %s "$f"; rm -f "$f"
}

# min_memory NAME BUNDLE ID: the smallest limit (KiB) of 512 KiB, 1, 2 … 64 MiB with
# which `run` of the bundle exits 0 (the runtime's own setup runs inside the limit too)
min_memory() {
  local r=$1 bundle=$2 id=$3 kib mb=$RT_TMP/minmem
  rm -rf "$mb"; mkdir -p "$mb"
  for kib in 512 1024 2048 4096 8192 16384 32768 65536; do
    # runtimes refuse a symlinked rootfs: point at the bundle's by absolute path
    jq --argjson l $((kib * 1024)) --arg root "$bundle/rootfs" \
      '.linux.resources.memory = {limit: $l} | .root.path = $root' "$bundle/config.json" >"$mb/config.json"
    rt_delete "$r" "$id"
    if timeout -k 5 30 "${RT[$r]}" --root "$RT_TMP/state/$r" run --bundle "$mb" "$id" >/dev/null 2>&1 </dev/null; then
      rt_delete "$r" "$id"; echo "$kib"; return 0
    fi
  done
  rt_delete "$r" "$id"
  echo "> 65536"
}

# many_loop RUNTIME-CMD STATE BUNDLE N PREFIX: create+start N containers of BUNDLE (a
# sleeping process), then kill and delete them; prints "create_start_s kill_delete_s".
# Exported (with N-independent arguments) so that crun's whole loop can run inside one
# hide-unified namespace, paying the wrapper once per round.
many_loop() {
  local rt=$1 st=$2 bundle=$3 n=$4 pre=$5 i t0 t1 t2
  t0=$EPOCHREALTIME
  for ((i = 0; i < n; i++)); do
    "$rt" --root "$st" create --bundle "$bundle" "$pre$i" </dev/null >/dev/null 2>&1
    "$rt" --root "$st" start "$pre$i"
  done
  t1=$EPOCHREALTIME
  for ((i = 0; i < n; i++)); do "$rt" --root "$st" kill "$pre$i" KILL; done
  for ((i = 0; i < n; i++)); do "$rt" --root "$st" delete --force "$pre$i"; done
  t2=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.3f %.3f\n", b - a, c - b }'
}

# many_round NAME STATE BUNDLE N PREFIX: many_loop for one runtime; crun (hybrid host)
# runs the whole loop in one private mount namespace without the unified mount.
# MANY_STATE_TMPFS=1 puts STATE on a tmpfs of its own (in a private mount namespace, for
# every runtime alike), as /run is on a real host: on this bench host /run and /var/tmp are a
# journal-less ext4, where each new inode scans the ones freed in the last minute, which
# the loop's own deletes keep supplying. The tmpfs goes with the namespace, so every
# container still in it is deleted first.
many_round() {
  local r=$1 hide= mnt=; shift
  [ "${RT[$r]}" = "${BIN[$r]}" ] || hide="umount /sys/fs/cgroup/unified && "
  if [ "${MANY_STATE_TMPFS:-0}" = 1 ]; then
    mnt='mkdir -p "$2" && mount -t tmpfs berth-bench-state "$2" && '
  fi
  if [ -n "$hide$mnt" ]; then
    unshare -m --propagation private bash -c "$hide$mnt$(declare -f many_loop) && many_loop \"\$@\";
      rc=\$?; for ((i = 0; i < \$4; i++)); do \"\$1\" --root \"\$2\" delete --force \"\$5\$i\" >/dev/null 2>&1; done; exit \$rc" \
      _ "${BIN[$r]}" "$@"
  else
    many_loop "${BIN[$r]}" "$@"
  fi
}

# many_cleanup NAME STATE N PREFIX: delete what an interrupted loop left
many_cleanup() {
  local r=$1 st=$2 n=$3 pre=$4 i
  [ -d "$st" ] || return 0
  for ((i = 0; i < n; i++)); do "${RT[$r]}" --root "$st" delete --force "$pre$i" >/dev/null 2>&1 || true; done
}

# runtime_version NAME: first line of `--version`
runtime_version() { local v; v=$("${BIN[$1]}" --version 2>/dev/null | head -n1) || true; printf '%s' "${v:-no --version output}"; }
