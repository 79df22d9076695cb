#!/bin/bash
# demo.sh - THE first command: run one container with berth-runtime.
#
#   sudo scripts/demo.sh
#
# It installs the dependencies, builds berth-runtime (release), makes a bundle
# whose rootfs is Debian's static busybox, and runs it with a hostname, a
# memory limit (64 MiB), a CPU quota (50000/100000 us) and a pids limit (64).
# The container prints what it sees from the inside, then everything is removed.
#
# This is what the classic hand-made container does with
#   cgcreate -g cpu,memory:$ID; cgset -r memory.limit_in_bytes=... $ID
#   cgexec -g cpu,memory:$ID unshare -uinpf --mount-proc sh -c "hostname $ID; chroot $ROOTFS sh"
#   cgdelete -g cpu,memory:$ID
# done by an OCI runtime from a config.json.
#
# Then the same with the engine: `berth pull` of a busybox image from a local registry
# (tests/fixtures/registry: Debian's docker-registry on 127.0.0.1), `berth run` with the
# same limits, `berth ps` showing each container's init pid, and everything removed.
#
# Environment: BERTH_DEMO_RUNTIME=/path/to/runtime runs the runtime part with
# another runc-compatible runtime (e.g. runc, crun), skips the build and the engine part.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
# shellcheck source=scripts/lib/cargo-env.sh
. scripts/lib/cargo-env.sh
# shellcheck source=scripts/lib/bundle.sh
. scripts/lib/bundle.sh

if [ "$(id -u)" != 0 ]; then
  echo "demo: creating namespaces and cgroups needs root: run  sudo $0" >&2
  exit 1
fi
if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }

step "installing dependencies"
scripts/install-deps.sh --no-vm

RT=${BERTH_DEMO_RUNTIME:-}
if [ -z "$RT" ]; then
  step "building berth-runtime (release, static)"
  RT=$("$ROOT/scripts/build-release.sh")
fi
command -v "$RT" >/dev/null || { echo "demo: runtime $RT not found" >&2; exit 1; }

ID=berth-demo-$$
TMP=$(mktemp -d /tmp/berth-demo.XXXXXX)
BUNDLE=$TMP/bundle
STATE=$TMP/state   # a private --root: the demo never touches other containers' state
cleanup() {
  "$RT" --root "$STATE" delete --force "$ID" >/dev/null 2>&1 || true
  # the runtime's mounts live in the container's mount namespace; still, never
  # follow a mount out of the temp dir
  rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT

step "bundle: busybox rootfs in $BUNDLE"
mkdir -p "$BUNDLE" "$STATE"
berth_make_rootfs "$BUNDLE/rootfs"
echo "rootfs: $(find "$BUNDLE/rootfs" -mindepth 1 | wc -l) entries, $(du -sh "$BUNDLE/rootfs" | cut -f1)"

step "config.json: '$(basename "$RT") spec', then hostname, limits and the command"
berth_spec "$RT" "$BUNDLE"
# The script run inside (as /demo.sh): each part shows one thing the runtime set up.
cat >"$BUNDLE/rootfs/demo.sh" <<'INNER'
echo "hostname:        $(hostname)"
echo "--- /proc/self/cgroup (the container has its own cgroup)"
cat /proc/self/cgroup
echo "--- limits, read from the cgroup filesystem mounted at /sys/fs/cgroup"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  echo "cgroup v2"
  echo "memory.max:      $(cat /sys/fs/cgroup/memory.max)"
  echo "cpu.max:         $(cat /sys/fs/cgroup/cpu.max)"
  echo "pids.max:        $(cat /sys/fs/cgroup/pids.max)"
else
  echo "cgroup v1"
  echo "memory limit:    $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
  echo "cpu quota/period: $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)/$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
  echo "pids.max:        $(cat /sys/fs/cgroup/pids/pids.max)"
fi
echo "--- ps (a new PID namespace: the shell is PID 1)"
ps
INNER
berth_edit_config "$BUNDLE" '
  .hostname = "berth-demo"
  | .process.terminal = false
  | .process.args = ["/bin/sh", "/demo.sh"]
  | .linux.cgroupsPath = ("/" + $id)
  | .linux.resources.memory = { limit: 67108864 }
  | .linux.resources.cpu = { quota: 50000, period: 100000 }
  | .linux.resources.pids = { limit: 64 }
  # a cgroup filesystem at /sys/fs/cgroup, so the limits can be read inside
  | if any(.mounts[]; .destination == "/sys/fs/cgroup") then .
    else .mounts += [{ destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup",
                       options: ["nosuid", "noexec", "nodev", "relatime", "ro"] }] end
' --arg id "$ID"
jq '{hostname, args: .process.args, cgroupsPath: .linux.cgroupsPath,
        resources: (.linux.resources | {memory, cpu, pids}),
        namespaces: [.linux.namespaces[].type]}' "$BUNDLE/config.json"

step "$(basename "$RT") run $ID"
set +e
"$RT" --root "$STATE" run --bundle "$BUNDLE" "$ID"
rc=$?
set -e

step "cleanup: delete $ID, remove the bundle"
cleanup
trap - EXIT
echo "container exit status: $rc"
[ "$rc" = 0 ] || exit "$rc"
[ -z "${BERTH_DEMO_RUNTIME:-}" ] || exit 0

# --- part 2: the engine, with a real image from a registry ----------------------------
# The same container, the way a user asks for it: one command, from an image that berth
# pulls from a registry (Debian's docker-registry on 127.0.0.1, filled with an image built
# from Debian's busybox-static by tests/fixtures/registry).
BERTH=$(dirname "$RT")/berth
FIXTURE=$ROOT/tests/fixtures/registry/fixture.sh
export BERTH_REGISTRY_DIR=${BERTH_REGISTRY_DIR:-$ROOT/target/registry-fixture}
ENGINE=$(mktemp -d /tmp/berth-demo-engine.XXXXXX)
export BERTH_ROOT=$ENGINE/data BERTH_RUNROOT=$ENGINE/run
started_fixture=0
# The default network's bridge and nftables table are host-wide: remove them at the end
# unless they were there before the demo.
had_bridge=0
ip link show berth0 >/dev/null 2>&1 && had_bridge=1
engine_cleanup() {
  "$BERTH" rm -f berth-demo-sleeper >/dev/null 2>&1 || true
  if [ "$had_bridge" = 0 ]; then
    ip link del berth0 2>/dev/null || true
    nft delete table ip berth 2>/dev/null || true
  fi
  rm -rf --one-file-system "$ENGINE"
  [ "$started_fixture" = 0 ] || "$FIXTURE" stop >/dev/null 2>&1 || true
}
trap engine_cleanup EXIT

step "a local registry with a busybox image (tests/fixtures/registry)"
if ! "$FIXTURE" status -q >/dev/null 2>&1; then
  "$FIXTURE" start --no-extras
  started_fixture=1
fi
REG=$(jq -r .registries.plain.host "$BERTH_REGISTRY_DIR/state.json")
IMAGE=$REG/busybox:latest

step "berth pull $IMAGE"
"$BERTH" pull "$IMAGE"
"$BERTH" images

step "berth run --rm --hostname berth-demo --memory 64m --cpus 0.5 --pids-limit 64 $IMAGE ..."
"$BERTH" run --rm --hostname berth-demo --memory 64m --cpus 0.5 --pids-limit 64 "$IMAGE" \
  sh -c 'echo "hostname: $(hostname)"; echo "memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"; ps'

step "berth run -d -p 127.0.0.1:18080:80 (busybox httpd on the default network), berth ps (the PID column is the init's host pid), a request to the published port, berth rm -f"
"$BERTH" run -d --name berth-demo-sleeper -p 127.0.0.1:18080:80 "$IMAGE" \
  sh -c 'echo "hello from $(hostname) at $(ip -4 -o addr show eth0 | awk "{print \$4}")" > /tmp/index.html; exec httpd -f -p 80 -h /tmp' >/dev/null
"$BERTH" ps
for _ in $(seq 50); do
  curl -fsS http://127.0.0.1:18080/index.html 2>/dev/null && break
  sleep 0.1
done
"$BERTH" rm -f berth-demo-sleeper >/dev/null
"$BERTH" rmi "$IMAGE" >/dev/null
echo "demo done"
