# shellcheck shell=bash
# Sourced by bench/suite.sh: the engines (berth, podman, optionally Docker), each with
# private state under $ENG_TMP, and a private network namespace for their containers.
#
# Needs bench/lib/common.sh and bench/lib/samples.sh.  Set before engines_setup:
#   ENG_TMP  a directory on the filesystem under test (state, storage, daemon files)
#   ENG_CG   a cgroup name under which every engine puts its containers (removed at exit)
#   BERTH    the berth binary (berth-runtime and berth-monitor beside it)
# Provides NS (prefix that runs a command in the private netns) and the arrays
# PODMAN (podman with its global flags) and DOCKER (the docker client, if dockerd runs).

# shellcheck disable=SC2034 # read by bench/suite.sh
NS=() PODMAN=() DOCKER=() DOCKER_WHY=

# berth's environment: its own data and run roots (crates/engine/src/paths.rs), and a
# HOME without the user's registry credentials or configs, for every engine alike.
engines_env() {
  mkdir -p "$ENG_TMP/home/.docker"
  # podman refuses a DOCKER_CONFIG without a config.json
  echo '{"auths": {}}' >"$ENG_TMP/home/.docker/config.json"
  export BERTH_ROOT=$ENG_TMP/berth/data BERTH_RUNROOT=$ENG_TMP/berth/run
  export HOME=$ENG_TMP/home DOCKER_CONFIG=$ENG_TMP/home/.docker XDG_CONFIG_HOME=$ENG_TMP/home/.config
  export XDG_RUNTIME_DIR='' REGISTRY_AUTH_FILE=''
}

# netns_setup: a sleeping process in a new network namespace holds it; engine rows run
# their containers through `nsenter -n` into it, so podman's default network (a CNI
# bridge plus iptables rules) is built there, never on the host, and vanishes with it.
netns_setup() {
  unshare -n sleep 1000000000 </dev/null >/dev/null 2>&1 &
  local pid=$!
  on_exit "kill $pid 2>/dev/null || true"
  sleep 0.2
  nsenter -t "$pid" -n ip link set lo up
  # shellcheck disable=SC2034 # read by bench/suite.sh
  NS=(nsenter -t "$pid" -n)
}

# podman_setup: its own --root/--runroot/--tmpdir (never the user's storage), overlay
# like berth, cgroupfs (no systemd here), file events.  Its OCI runtime is runc: crun
# refuses this host's hybrid cgroup layout.  CNI's IPAM state goes to /var/lib/cni; if
# that directory did not exist, the bench made it and removes it at exit.
podman_setup() {
  local d=$ENG_TMP/podman
  PODMAN=(podman --root "$d/storage" --runroot "$d/run" --tmpdir "$d/tmp" --storage-driver overlay
          --cgroup-manager cgroupfs --events-backend file --runtime runc)
  [ -e /var/lib/cni ] || on_exit "rm -rf /var/lib/cni"
  on_exit "${PODMAN[*]} rm -a -f -t 0 >/dev/null 2>&1 || true"
}
# podman_run_flags: what every `podman run` needs here: root's bounding set lacks
# CAP_SYS_RESOURCE, so podman's default of raising nofile/nproc fails; and our cgroup.
podman_run_flags() {
  printf '%s\n' --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --cgroup-parent "/$ENG_CG"
}

# docker_setup: dockerd with its own config, --data-root, --exec-root (its containerd's
# state too), socket and pidfile; no bridge or iptables (the host's network is not
# ours to change), overlay2 like berth.  Sets DOCKER, or DOCKER_WHY if it cannot start.
docker_setup() {
  local d=$ENG_TMP/docker i
  command -v dockerd >/dev/null || { DOCKER_WHY="dockerd is not installed (docker.io)"; return 1; }
  mkdir -p "$d"
  echo '{}' >"$d/daemon.json"
  dockerd --config-file="$d/daemon.json" --data-root="$d/data" --exec-root="$d/exec" \
    --pidfile="$d/docker.pid" --host="unix://$d/docker.sock" --cgroup-parent="/$ENG_CG" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
    --storage-driver=overlay2 </dev/null >"$d/dockerd.log" 2>&1 &
  on_exit "docker_stop $!"
  DOCKER=(docker -H "unix://$d/docker.sock")
  for ((i = 0; i < 120; i++)); do
    "${DOCKER[@]}" version >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  # shellcheck disable=SC2034 # read by bench/suite.sh
  DOCKER_WHY="dockerd did not answer in 60 s: $(tail -n 2 "$d/dockerd.log" | tr '\n' ' ' | cut -c1-200)"
  DOCKER=()
  return 1
}
# docker_stop PID: remove the containers, SIGTERM dockerd by its pid (it stops its own
# containerd), SIGKILL after 30 s
docker_stop() {
  local pid=$1 i ids
  if [ ${#DOCKER[@]} -gt 0 ]; then
    ids=$("${DOCKER[@]}" ps -aq 2>/dev/null || true)
    # shellcheck disable=SC2086 # one id a word
    [ -z "$ids" ] || "${DOCKER[@]}" rm -f $ids >/dev/null 2>&1 || true
  fi
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true
}
# docker_run_flags: Debian's kernel enforces AppArmor, but without apparmor_parser dockerd
# cannot load docker-default and refuses every confined container.
docker_run_flags() {
  if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && ! command -v apparmor_parser >/dev/null; then
    printf '%s\n' --security-opt apparmor=unconfined
  fi
}

# berth_cleanup: remove every container of the bench's berth engine: the running ones
# with rm -f, then the rest with plain rm (rm -f of a created one used to wait 10 s)
berth_cleanup() {
  local ids
  ids=$("$BERTH" ps -q 2>/dev/null || true)
  # shellcheck disable=SC2086 # one id a word
  [ -z "$ids" ] || "$BERTH" rm -f $ids >/dev/null 2>&1 || true
  ids=$("$BERTH" ps -aq 2>/dev/null || true)
  # shellcheck disable=SC2086 # one id a word
  [ -z "$ids" ] || "$BERTH" rm $ids >/dev/null 2>&1 || true
}

# eng_cmd ENGINE: print the engine's command words, one a line (berth, podman, docker)
eng_cmd() {
  case $1 in
    berth) printf '%s\n' "$BERTH";;
    podman) printf '%s\n' "${PODMAN[@]}";;
    docker) printf '%s\n' "${DOCKER[@]}";;
  esac
}
# eng_run_flags ENGINE: the `run`/`create` flags of that engine here (none network, our cgroup)
eng_run_flags() {
  case $1 in
    berth) printf '%s\n' --network none --cgroup-parent "$ENG_CG";;
    podman) printf '%s\n' --network none; podman_run_flags;;
    docker) printf '%s\n' --network none; docker_run_flags;;
  esac
}
# eng_rm_flags ENGINE: `rm -f` kills at once in berth and Docker; podman 4.3 first sends
# the stop signal and waits 10 s (a sleeping PID 1 ignores SIGTERM), unless told -t 0
eng_rm_flags() { [ "$1" != podman ] || printf '%s\n' -t 0; }
# eng ENGINE VERB ARGS...: run the engine's VERB; run and create get eng_run_flags
# first, rm gets eng_rm_flags
eng() {
  local e=$1 verb=$2 cmd flags=(); shift 2
  mapfile -t cmd < <(eng_cmd "$e")
  case $verb in
    run|create) mapfile -t flags < <(eng_run_flags "$e");;
    rm) mapfile -t flags < <(eng_rm_flags "$e");;
  esac
  "${cmd[@]}" "$verb" "${flags[@]}" "$@"
}
# eng_line ENGINE VERB ARGS...: the same as one command line for hyperfine (no shell;
# every word is free of spaces and quotes here)
eng_line() {
  local e=$1 verb=$2 cmd flags=(); shift 2
  mapfile -t cmd < <(eng_cmd "$e")
  case $verb in run|create) mapfile -t flags < <(eng_run_flags "$e");; esac
  echo "${cmd[*]} $verb ${flags[*]} $*"
}

# monitor_pids ENGINE: the per-container supervisor processes of the engine's containers:
# berth-monitor, podman's conmon, Docker's containerd-shim-runc-v2 (one per container)
monitor_pids() {
  local pat comm pid
  case $1 in
    berth) pat=$BERTH_RUNROOT comm=berth-monitor;;
    podman) pat=$ENG_TMP/podman comm=conmon;;
    docker) pat=$ENG_TMP/docker comm=containerd-shim;;
  esac
  for pid in $(pgrep -f -- "$pat" || true); do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) = "$comm"* ]] && echo "$pid"
  done
  return 0
}
# rss_kib PID / pss_kib PID: resident and proportional set size (shared pages split
# between the processes that map them)
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
pss_kib() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; }
