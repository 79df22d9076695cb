# shellcheck shell=bash
# Sourced by bench/*.sh: messages, clean-up on exit, the cgroup layout and the
# wrapper crun needs on a hybrid host.

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# --- clean-up: actions run in reverse order on exit, Ctrl-C or TERM -------------------
# Every action is best-effort (its failure is reported, the next one still runs), so
# an interrupted run leaves nothing behind that a later action could have removed.
BENCH_CLEANUPS=()
on_exit() { BENCH_CLEANUPS+=("$*"); }
bench_run_cleanups() {
  local i
  trap - EXIT INT TERM
  for ((i = ${#BENCH_CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${BENCH_CLEANUPS[$i]}" || say "clean-up step failed: ${BENCH_CLEANUPS[$i]}"
  done
  BENCH_CLEANUPS=()
}
# bench_traps: install the traps (an interrupt exits, and the EXIT trap cleans up)
bench_traps() {
  trap bench_run_cleanups EXIT
  trap 'say interrupted; exit 130' INT
  trap 'say terminated; exit 143' TERM
}

# umount_under DIR: unmount everything mounted below DIR (deepest first), so that
# `rm -rf --one-file-system` can remove what is left (overlay snapshots, podman's
# storage mounts, bundles' rootfs).
umount_under() {
  local dir=$1 m
  findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || say "could not unmount $m"
  done
}

# kill_under DIR: SIGKILL every process whose command line names DIR (monitors,
# conmon, sleeping containers of an interrupted run), by pid.
kill_under() {
  local dir=$1 pid
  for pid in $(pgrep -f -- "$dir" || true); do
    [ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] || kill -KILL "$pid" 2>/dev/null || true
  done
}

# --- cgroups -------------------------------------------------------------------------
# cgroup_layout: v1, v2 or hybrid (v1 controllers plus a cgroup2 mount at
# /sys/fs/cgroup/unified, the layout crun 1.8 refuses).
cgroup_layout() {
  if [ "$(findmnt -n -o FSTYPE /sys/fs/cgroup)" = cgroup2 ]; then echo v2
  elif [ "$(findmnt -n -o FSTYPE /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2 ]; then echo hybrid
  else echo v1; fi
}
cgroup_layout_text() {
  case $(cgroup_layout) in
    hybrid) echo "hybrid (v1 controllers; cgroup2 at /sys/fs/cgroup/unified with: $(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true))";;
    v2) echo "v2 (controllers: $(cat /sys/fs/cgroup/cgroup.controllers))";;
    *) echo "v1";;
  esac
}

# own_cgroup_dirs: this shell's own cgroup directory in every hierarchy (from
# /proc/self/cgroup), where a relative --cgroup-parent (berth's, runc's) puts containers.
own_cgroup_dirs() {
  local _ ctrls path c
  while IFS=: read -r _ ctrls path; do
    if [ -z "$ctrls" ]; then
      echo "/sys/fs/cgroup$path"; echo "/sys/fs/cgroup/unified$path"
    else
      for c in ${ctrls//,/ }; do echo "/sys/fs/cgroup/${c#name=}$path"; done
    fi
  done </proc/self/cgroup
}

# remove_cgroup_subtree NAME: rmdir NAME and everything below, deepest first (a cgroup
# directory can only be removed once it has no children), at the hierarchies' roots
# (podman's and Docker's absolute parents) and under our own cgroup (berth's relative one).
remove_cgroup_subtree() {
  local name=$1 d own
  mapfile -t own < <(own_cgroup_dirs)
  for d in /sys/fs/cgroup/"$name" /sys/fs/cgroup/*/"$name" "${own[@]/%//$name}"; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ ! -d "$d" ] || say "cgroup $d is still busy"
  done
}

# make_hide_unified FILE: write the wrapper that runs "$@" in a private mount namespace
# without /sys/fs/cgroup/unified, where crun 1.8 sees plain v1.  The host's mounts are
# untouched (propagation private).
make_hide_unified() {
  cat >"$1" <<'EOF'
#!/bin/sh
# run "$@" in a private mount namespace without /sys/fs/cgroup/unified
exec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' hide-unified "$@"
EOF
  chmod +x "$1"
}

# clean_hidden_unified: crun 1.8, run by hide-unified, takes the directory the unified mount
# hid for its cgroup2 hierarchy and leaves `ID/cgroup.procs` there, on the host's
# /sys/fs/cgroup tmpfs under the mount point, where nothing else ever writes: remove every
# such directory (only ones that hold nothing but that file), from a namespace where the
# mount is gone.
clean_hidden_unified() {
  unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && cd /sys/fs/cgroup/unified &&
    for d in *; do
      [ -d "$d" ] && [ "$(ls -A "$d")" = cgroup.procs ] && rm -f "$d/cgroup.procs" && rmdir "$d"
    done; true' 2>/dev/null || true
}

# --- numbers -------------------------------------------------------------------------
# median: the median of the numbers on stdin (one a line)
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
