#!/bin/bash
# install-deps.sh - install what berth's build, tests, demo and benchmark need
# on Debian 12 (run as root).  Idempotent: it only calls apt-get when a
# package is missing, and runs `apt-get update` at most once.
#
#   scripts/install-deps.sh          everything (build, system tests, VM tier, bench)
#   scripts/install-deps.sh --no-vm  skip the cgroup-v2 VM packages (qemu, kmod)
#   scripts/install-deps.sh --no-dropin  skip the engines of the drop-in tier
#                                    (podman, docker.io, containerd: 81 MB download,
#                                    320 MB installed; 10 s here, about a minute on
#                                    a slow mirror)
#   scripts/install-deps.sh --no-registry  skip the registry fixture's packages
#                                    (docker-registry, skopeo, umoci, debootstrap,
#                                    apache2-utils: 12 MB download; 5 s here)
#
# Rust itself is not installed here (CI images ship it); see the message below.
set -euo pipefail

PKGS=(
  build-essential pkg-config libseccomp-dev   # build
  busybox-static                              # container rootfs for tests and the demo
  runc crun                                   # peers: differential tests and the benchmark
  hyperfine jq time                           # benchmark and scripts
  iproute2 util-linux                         # ip, unshare, nsenter, mount
  nftables                                    # nft: berth-net NAT (table ip berth) and its tests
  etcd-client                                 # etcdctl: the etcd/HAProxy lab test (engine_lab.rs)
  man-db groff-base                           # man -l: the generated man pages' test (xtask)
)
VM_PKGS=(qemu-system-x86 kmod)                # scripts/vm/v2vm.sh (it fetches its own kernel)
# tests/integration/tests/dropin.rs: the engines drive berth-runtime.  Installed
# without recommends; no service is started (the tests start their own daemons
# with private roots and sockets), and none is needed for root with vfs storage
# and --network none (so no fuse-overlayfs, slirp4netns or uidmap).
DROPIN_PKGS=(podman docker.io containerd)
# tests/fixtures/registry/fixture.sh: real registries (CNCF distribution 2.8) on
# loopback, images built with debootstrap and pushed with skopeo, htpasswd -B for
# the Basic-auth instance, umoci as an independent layout reader in its verify.
REGISTRY_PKGS=(docker-registry skopeo umoci debootstrap apache2-utils openssl curl zstd python3 ca-certificates)

want_vm=1 want_dropin=1 want_registry=1
for a in "$@"; do
  case $a in
    --no-vm) want_vm=0;;
    --no-dropin) want_dropin=0;;
    --no-registry) want_registry=0;;
    -h|--help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0;;
    *) echo "install-deps: unknown option $a" >&2; exit 2;;
  esac
done
[ "$want_vm" = 1 ] && PKGS+=("${VM_PKGS[@]}")
[ "$want_dropin" = 1 ] && PKGS+=("${DROPIN_PKGS[@]}")
[ "$want_registry" = 1 ] && PKGS+=("${REGISTRY_PKGS[@]}")

if [ "$(id -u)" != 0 ]; then
  echo "install-deps: must run as root (try: sudo $0)" >&2
  exit 1
fi
command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || {
  echo "install-deps: needs a Debian-based system (apt-get, dpkg-query)" >&2
  exit 1
}

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q)
  # Debian's docker-registry would start a registry on :5000 on every interface;
  # the fixture runs its own on loopback.  policy-rc.d (exit 101) forbids service
  # starts during the install; the boot-time service is disabled after it.
  prc=/usr/sbin/policy-rc.d made_prc=0
  if [[ " ${missing[*]} " = *" docker-registry "* ]] && [ ! -e $prc ]; then
    printf '#!/bin/sh\nexit 101\n' >$prc && chmod 755 $prc && made_prc=1
  fi
  "${apt[@]}" update -qq
  "${apt[@]}" -o Dpkg::Use-Pty=0 install -y -qq --no-install-recommends "${missing[@]}" \
    || { [ "$made_prc" = 0 ] || rm -f $prc; exit 1; }
  [ "$made_prc" = 0 ] || rm -f $prc
  if [[ " ${missing[*]} " = *" docker-registry "* ]]; then
    systemctl disable docker-registry.service >/dev/null 2>&1 || true
    update-rc.d docker-registry disable >/dev/null 2>&1 || true
  fi
else
  echo "install-deps: all ${#PKGS[@]} packages present"
fi

# cargo: the CI image has it; on a fresh machine, say how to get it (rustup).
# shellcheck source=scripts/lib/cargo-env.sh
. "$(dirname "$0")/lib/cargo-env.sh"
berth_cargo_env
