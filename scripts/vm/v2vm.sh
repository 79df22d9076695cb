#!/bin/bash
# v2vm.sh - berth's cgroup-v2 test harness: run one command as root inside a
# throw-away QEMU VM whose kernel has a pure cgroup v2 (unified) hierarchy.
# The guest's root filesystem is the host's / (read-only, over virtiofs, under
# a tmpfs overlay); the current directory is shared read-write at the same path.
#
#   v2vm.sh [options] [--] COMMAND [ARGS...]
#     --mem SIZE        guest memory, e.g. 2G or 1536M (default 2G)
#     --cpus N          virtual CPUs (default 2)
#     --timeout SECS    stop the VM after SECS, exit 124 (default 900)
#     --rw DIR          share DIR read-write too (repeatable)
#     --tmpfs DIR       mount an empty tmpfs on DIR in the guest (repeatable)
#     --cgroup PATH     run COMMAND in /sys/fs/cgroup/PATH, not the root cgroup
#     --accel kvm|tcg   force the accelerator (default: pick, fall back to tcg)
#     -t, --timing      print boot/command timings on stderr
#     -v, --verbose     also stream the guest's console on stderr
#   v2vm.sh --setup     only fill the cache (host packages, kernel, initramfs)
#   v2vm.sh --refresh   re-resolve the kernel package (take a newer kernel)
#
# Exit status: COMMAND's; 124 on timeout; 125 if the VM itself failed.
# Cache: $V2VM_CACHE (default /var/cache/berth-v2vm).  More in docs/testing.md
# ("The cgroup-v2 VM tier"); scripts/test.sh uses it for the VM tier.
set -euo pipefail
shopt -s extglob

PROG=v2vm
MEM=${V2VM_MEM:-2G}
CPUS=${V2VM_CPUS:-2}
TIMEOUT=${V2VM_TIMEOUT:-900}
ACCEL=${V2VM_ACCEL:-auto}            # auto | kvm | tcg
CACHE=${V2VM_CACHE:-/var/cache/berth-v2vm}
KPKG=${V2VM_KERNEL_PKG:-linux-image-cloud-amd64}
VERBOSE=${V2VM_VERBOSE:-0}
CGROUP=${V2VM_CGROUP:-}              # optional: run COMMAND in this (child) cgroup
TIMING=${V2VM_TIMING:-0}
# modules loaded at boot, from the initramfs (any other module of the guest
# kernel still loads on demand: modprobe and /lib/modules work in the guest)
MODULES=${V2VM_MODULES:-overlay veth bridge br_netfilter nf_tables nft_compat nft_chain_nat nft_masq nf_nat nf_conntrack xt_conntrack xt_MASQUERADE xt_addrtype xt_nat xt_mark xt_comment iptable_nat iptable_filter ip_tables ip6_tables ip6table_nat ip6table_filter tun loop}
RW_DIRS=()
TMPFS_DIRS=()
ORIG_ARGS=("$@")
SETUP_ONLY=0
REFRESH=0

exec 3>&2   # harness messages go to fd 3 (the caller's stderr)
say()  { printf '%s: %s\n' "$PROG" "$*" >&3; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&3; }
die()  { printf '%s: error: %s\n' "$PROG" "$*" >&3; exit 125; }
vsay() { [ "$VERBOSE" = 1 ] && say "$@" || true; }
now()  { printf '%s\n' "$EPOCHREALTIME"; }
T0=$(now)

usage() {
  sed -n '2,/^set -euo/s/^# \{0,1\}//p' "$0" >&2
  exit "${1:-125}"
}

while [ $# -gt 0 ]; do
  case $1 in
    --mem) MEM=$2; shift 2;;
    --mem=*) MEM=${1#*=}; shift;;
    --cpus) CPUS=$2; shift 2;;
    --cpus=*) CPUS=${1#*=}; shift;;
    --timeout) TIMEOUT=$2; shift 2;;
    --timeout=*) TIMEOUT=${1#*=}; shift;;
    --accel) ACCEL=$2; shift 2;;
    --accel=*) ACCEL=${1#*=}; shift;;
    --rw) RW_DIRS+=("$2"); shift 2;;
    --rw=*) RW_DIRS+=("${1#*=}"); shift;;
    --tmpfs) TMPFS_DIRS+=("$2"); shift 2;;
    --tmpfs=*) TMPFS_DIRS+=("${1#*=}"); shift;;
    --cgroup) CGROUP=$2; shift 2;;
    --cgroup=*) CGROUP=${1#*=}; shift;;
    -v|--verbose) VERBOSE=1; shift;;
    -t|--timing) TIMING=1; shift;;
    --setup) SETUP_ONLY=1; shift;;
    --refresh) REFRESH=1; shift;;
    -h|--help) usage 0;;
    --) shift; break;;
    -*) say "unknown option $1"; usage;;
    *) break;;          # the command starts here ("--" is optional)
  esac
done
if [ $# = 0 ] && [ "$REFRESH" = 1 ]; then SETUP_ONLY=1; fi
[ "$SETUP_ONLY" = 1 ] || [ $# -gt 0 ] || usage
case $ACCEL in auto|kvm|tcg) ;; *) die "--accel must be kvm, tcg or auto";; esac
[[ $CPUS =~ ^[1-9][0-9]*$ ]] || die "--cpus must be a positive integer"
[[ $MEM =~ ^[1-9][0-9]*[MG]$ ]] || die "--mem must look like 2G or 1536M"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"
[[ $CACHE = /* && $CACHE != *[[:space:]]* ]] || die "V2VM_CACHE must be an absolute path without blanks"

if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null && exec sudo -E -- "$0" "${ORIG_ARGS[@]}"
  die "must run as root (virtiofsd and the cache need it)"
fi

# ---------------------------------------------------------------- setup ----
VIRTIOFSD=/usr/lib/qemu/virtiofsd
APT_UPDATED=0

apt_install() {
  local env=(env DEBIAN_FRONTEND=noninteractive)
  if [ "$APT_UPDATED" = 0 ]; then
    "${env[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq >"$CACHE/apt.log" 2>&1 || warn "apt-get update failed"
    APT_UPDATED=1
  fi
  "${env[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@" \
      >"$CACHE/apt.log" 2>&1 || { tail -n 20 "$CACHE/apt.log" >&3; die "apt-get install $* failed (log: $CACHE/apt.log)"; }
}

ensure_host_tools() {
  local missing=()
  command -v qemu-system-x86_64 >/dev/null && [ -x "$VIRTIOFSD" ] || missing+=(qemu-system-x86)
  command -v depmod >/dev/null && command -v modprobe >/dev/null || missing+=(kmod)
  command -v ip >/dev/null || missing+=(iproute2)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing host packages: ${missing[*]}"
    apt_install "${missing[@]}"
  fi
  [ -x "$VIRTIOFSD" ] || die "$VIRTIOFSD not found (qemu-system-common of Debian 12 ships it)"
}

# apt-get download PKG into $CACHE/debs, print the .deb path
apt_download() {
  local pkg=$1 f
  mkdir -p "$CACHE/debs"
  ( cd "$CACHE/debs" && apt-get -q -o APT::Sandbox::User=root download "$pkg" ) >>"$CACHE/apt.log" 2>&1 || {
    [ "$APT_UPDATED" = 1 ] && die "apt-get download $pkg failed (log: $CACHE/apt.log)"
    env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >>"$CACHE/apt.log" 2>&1; APT_UPDATED=1
    ( cd "$CACHE/debs" && apt-get -q -o APT::Sandbox::User=root download "$pkg" ) >>"$CACHE/apt.log" 2>&1 \
      || die "apt-get download $pkg failed (log: $CACHE/apt.log)"
  }
  f=$(ls -t "$CACHE/debs/${pkg}"_*.deb | head -n1)
  [ -f "$f" ] || die "downloaded $pkg but found no .deb"
  printf '%s\n' "$f"
}

resolve_kernel_pkg() {   # linux-image-cloud-amd64 -> linux-image-6.1.0-NN-cloud-amd64
  local dep
  dep=$(apt-cache depends "$KPKG" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
  if [ -z "$dep" ] && [ "$APT_UPDATED" = 0 ]; then
    env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >>"$CACHE/apt.log" 2>&1; APT_UPDATED=1
    dep=$(apt-cache depends "$KPKG" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
  fi
  case $KPKG in linux-image-[0-9]*) dep=${dep:-$KPKG};; esac
  [ -n "$dep" ] || die "cannot resolve the kernel package behind $KPKG"
  printf '%s\n' "$dep"
}

ensure_kernel() {
  local cur=$CACHE/kernel/current-$KPKG     # which version $KPKG meant when fetched
  if [ "$REFRESH" = 0 ] && [ -f "$cur" ]; then
    KVER=$(cat "$cur")
    [ -f "$CACHE/kernel/$KVER/boot/vmlinuz-$KVER" ] && return 0
  fi
  local pkg deb tmp
  pkg=$(resolve_kernel_pkg)
  KVER=${pkg#linux-image-}
  if [ ! -f "$CACHE/kernel/$KVER/boot/vmlinuz-$KVER" ]; then
    say "fetching kernel $pkg into $CACHE"
    deb=$(apt_download "$pkg")
    tmp=$CACHE/kernel/.$KVER.tmp
    rm -rf --one-file-system "$tmp"; mkdir -p "$tmp"
    dpkg -x "$deb" "$tmp"
    [ -f "$tmp/boot/vmlinuz-$KVER" ] || die "$deb has no boot/vmlinuz-$KVER"
    depmod -b "$tmp" "$KVER"
    rm -rf --one-file-system "${CACHE:?}/kernel/$KVER"; mv "$tmp" "$CACHE/kernel/$KVER"
    rm -f "$deb"
  fi
  printf '%s\n' "$KVER" > "$cur.tmp"; mv "$cur.tmp" "$cur"
}

ensure_busybox() {
  [ -x "$CACHE/busybox/bin/busybox" ] && return 0
  local deb
  say "fetching busybox-static into $CACHE"
  deb=$(apt_download busybox-static)
  rm -rf --one-file-system "$CACHE/busybox.tmp"; mkdir -p "$CACHE/busybox.tmp"
  dpkg -x "$deb" "$CACHE/busybox.tmp"
  [ -x "$CACHE/busybox.tmp/bin/busybox" ] || die "busybox-static has no bin/busybox"
  rm -rf --one-file-system "$CACHE/busybox"; mv "$CACHE/busybox.tmp" "$CACHE/busybox"
  rm -f "$deb"
}

# modules the initramfs needs to mount the root (the rest of $MODULES loads in
# parallel while stage 1 sets up the mounts)
BOOT_MODULES="virtio_pci fuse virtiofs overlay"
mod_closure() {   # print .ko paths (relative to lib/modules/KVER) for $@ with deps and softdeps, in load order
  local root=$CACHE/kernel/$KVER m out
  for m in "$@"; do
    out=$(modprobe -d "$root" -S "$KVER" -D "$m" 2>&1) || { warn "guest kernel $KVER has no module $m: $out"; continue; }
    printf '%s\n' "$out"
  done | sed -n "s|^insmod $root/lib/modules/$KVER/\([^ ]*\).*|\1|p" | awk '!seen[$0]++'
}

write_stage1() { cat <<'STAGE1'
#!/bin/sh
# v2vm stage 1 (busybox, in the initramfs): mount the host's / over virtiofs,
# put a tmpfs overlay on it, bind the read-write dirs, switch_root to stage 2.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
P=/proc
st() { read -r up _ <$P/uptime; T="$T $1 $up"; }
T=; st init
fail() { echo "v2vm-init: FATAL: $*"; poweroff -f; sleep 60; }
RUN=
for a in $(cat /proc/cmdline); do case $a in v2vm.run=*) RUN=${a#v2vm.run=};; esac; done
[ -n "$RUN" ] || fail "no v2vm.run= on the kernel command line"
while read -r m; do insmod "/mods/$m" || fail "insmod $m"; done < /mods/boot
st boot-mods
# container modules load on the other vCPU meanwhile
( while read -r m; do insmod "/mods/$m" || echo "v2vm-init: insmod $m failed"; done < /mods/extra ) &
mkdir -p /mnt/host /mnt/rw /newroot
mount -t virtiofs hostroot /mnt/host || fail "cannot mount virtiofs"
. "/mnt/host$RUN/config" || fail "cannot read $RUN/config"
mount -t tmpfs -o mode=0755 rootrw /mnt/rw
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work rootfs /newroot \
  || fail "cannot mount the root overlay"
r=/newroot
mount --move /proc $r/proc; P=$r/proc
mount --move /sys $r/sys
mount --move /dev $r/dev
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 $r/sys/fs/cgroup || fail "cannot mount cgroup2"
mount -t bpf -o mode=0700 bpf $r/sys/fs/bpf 2>/dev/null
mount -t securityfs securityfs $r/sys/kernel/security 2>/dev/null
mkdir -p $r/dev/pts $r/dev/shm $r/dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts $r/dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev shm $r/dev/shm
mount -t mqueue mqueue $r/dev/mqueue
ln -sfn /proc/self/fd $r/dev/fd; ln -sfn /proc/self/fd/0 $r/dev/stdin
ln -sfn /proc/self/fd/1 $r/dev/stdout; ln -sfn /proc/self/fd/2 $r/dev/stderr
mount -t tmpfs -o mode=0755,nosuid,nodev run $r/run
mount -t tmpfs -o mode=1777 tmp $r/tmp
mount -t tmpfs -o mode=1777 vartmp $r/var/tmp
# --tmpfs dirs: empty tmpfs (overlayfs accepts only tmpfs as its upper layer here)
while read -r p; do
  [ -n "$p" ] || continue
  mkdir -p "$r$p" && mount -t tmpfs -o mode=0755 tmpfs "$r$p" || fail "cannot mount tmpfs on $p"
done < "/mnt/host$RUN/tmpfs.list"
# read-write shares: the run dir, the working directory, --rw dirs
while read -r p; do
  [ -n "$p" ] || continue
  mkdir -p "$r$p" 2>/dev/null
  mount --bind "/mnt/host$p" "$r$p" || fail "cannot bind $p"
done < "/mnt/host$RUN/rw.list"
# the guest kernel's modules (cached on the host) at /lib/modules/KVER
mkdir -p $r/lib/modules
ln -sfn "$V2VM_KMODS" "$r/lib/modules/$V2VM_KVER"
mkdir -p $r/run/v2vm
cp /bin/busybox /stage2 $r/run/v2vm/
echo "$RUN" > $r/run/v2vm/rundir
st mounts
wait
st extra-mods
echo "$T" > $r/run/v2vm/times
exec switch_root $r /run/v2vm/stage2
STAGE1
}

write_stage2() { cat <<'STAGE2'
#!/bin/bash
# v2vm stage 2: PID 1 on the real root (host / + tmpfs overlay); runs the job.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
BB=/run/v2vm/busybox
read -r RUN </run/v2vm/rundir
off() { $BB poweroff -f; sleep 60; }
trap off EXIT
exec </dev/null >/dev/console 2>&1
. "$RUN/config"
[ "$V2VM_DEBUG" = 1 ] && { PS4='+ $EPOCHREALTIME '; set -x; }
read -r T </run/v2vm/times
stamp() { local up; read -r up _ </proc/uptime; T+=" $1 $up"; }
stamp stage2
echo v2vm > /proc/sys/kernel/hostname
$BB ip link set lo up
$BB mount --make-rshared /          # as systemd does: mounts propagate by default
# delegate every controller from the root cgroup, as systemd does
read -r ctrls </sys/fs/cgroup/cgroup.controllers
ctrls=" $ctrls"; echo "${ctrls// / +}" > /sys/fs/cgroup/cgroup.subtree_control \
  || echo "v2vm: could not enable the controllers$ctrls"
[ -n "$V2VM_CGROUP" ] && mkdir -p "/sys/fs/cgroup/$V2VM_CGROUP"
[ -n "$V2VM_PRELOAD" ] && { modprobe -a $V2VM_PRELOAD || echo "v2vm: modprobe $V2VM_PRELOAD failed"; }
stamp cmd
: > "$RUN/started"
(
  [ -n "$V2VM_CGROUP" ] && echo $BASHPID > "/sys/fs/cgroup/$V2VM_CGROUP/cgroup.procs"
  exec bash "$RUN/job.sh" </dev/null >>"$RUN/out" 2>>"$RUN/err"
)
rc=$?
stamp end
echo "$T" > "$RUN/times"
echo "$rc" > "$RUN/rc"
off
STAGE2
}

ensure_initramfs() {
  local key dir m kmods=$CACHE/kernel/$KVER/lib/modules/$KVER bb=$CACHE/busybox/bin/busybox
  key=$( { cat "${BASH_SOURCE[0]}"; echo "$BOOT_MODULES|$MODULES|$KVER"; } | sha256sum | cut -c1-16)
  INITRD=$CACHE/initramfs-$KVER-$key.cpio
  [ -f "$INITRD" ] && return 0
  vsay "building $INITRD"
  dir=$CACHE/.initramfs.$$
  rm -rf --one-file-system "$dir"; mkdir -p "$dir"/{bin,mods,proc,sys,dev,mnt,newroot}
  mknod -m 600 "$dir/dev/console" c 5 1
  cp "$bb" "$dir/bin/busybox"
  for m in $("$bb" --list); do [ "$m" = busybox ] || ln -s busybox "$dir/bin/$m"; done
  write_stage1 > "$dir/init"; write_stage2 > "$dir/stage2"; chmod 755 "$dir/init" "$dir/stage2"
  # shellcheck disable=SC2086
  mod_closure $BOOT_MODULES > "$dir/boot.list"
  # shellcheck disable=SC2086
  mod_closure $BOOT_MODULES $MODULES > "$dir/all.list"
  while read -r m; do cp "$kmods/$m" "$dir/mods/"; echo "${m##*/}" >> "$dir/mods/boot"; done < "$dir/boot.list"
  : > "$dir/mods/extra"
  grep -vxF -f "$dir/boot.list" "$dir/all.list" | while read -r m; do
    cp "$kmods/$m" "$dir/mods/"; echo "${m##*/}" >> "$dir/mods/extra"
  done
  rm -f "$dir/boot.list" "$dir/all.list"
  ( cd "$dir" && find . | "$bb" cpio -o -H newc -R 0:0 2>/dev/null ) > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf --one-file-system "$dir"
  # drop initramfs images of older script versions / module lists
  find "$CACHE" -maxdepth 1 -name 'initramfs-*.cpio*' ! -path "$INITRD" -mmin +10 -delete 2>/dev/null || true
}

mkdir -p "$CACHE/run"
# run dirs of runs that were killed hard (SIGKILL) are left behind: drop old ones
find "$CACHE/run" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf --one-file-system {} + 2>/dev/null || true
exec 9>"$CACHE/.lock"
flock 9
ensure_host_tools
ensure_busybox
ensure_kernel
ensure_initramfs
flock -u 9
exec 9>&-
T_SETUP=$(now)
if [ "$SETUP_ONLY" = 1 ]; then
  say "cache ready in $CACHE (kernel $KVER)"
  exit 0
fi

# ---------------------------------------------------------------- accel ----
pick_accel() {
  case $ACCEL in
    tcg) echo tcg; return;;
    kvm) echo kvm; return;;
  esac
  if ! [ -c /dev/kvm ] || ! ( exec 8<>/dev/kvm ) 2>/dev/null; then
    warn "/dev/kvm not usable: using TCG (software emulation, slower)"
    echo tcg; return
  fi
  if [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then echo kvm; return; fi
  if [ -d /sys/module/kvm_pvm ]; then
    warn "this host's KVM is PVM-only (kvm_pvm): a stock Debian kernel cannot run on it; using TCG (set V2VM_ACCEL=tcg to silence)"
    echo tcg; return
  fi
  if grep -qwE 'vmx|svm' /proc/cpuinfo; then echo kvm; return; fi
  warn "no hardware virtualisation found: using TCG (software emulation, slower)"
  echo tcg
}

# ------------------------------------------------------------------ run ----
CWD=$(pwd -P)
case $CWD in
  /) die "run it from a project directory, not /";;
  /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/run|/run/*) die "cannot share $CWD";;
esac

RUN=$(mktemp -d "$CACHE/run/XXXXXXXX")
QPID='' VPID='' TPIDS=()
cleanup() {
  local p
  [ -n "$QPID" ] && kill "$QPID" 2>/dev/null || true
  [ -n "$VPID" ] && kill "$VPID" 2>/dev/null || true
  for p in "${TPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$QPID" ] && wait "$QPID" 2>/dev/null || true
  [ -n "$VPID" ] && wait "$VPID" 2>/dev/null || true
  if [ "${V2VM_KEEP:-0}" = 1 ]; then say "run dir kept: $RUN"; else rm -rf --one-file-system "$RUN"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

{
  printf 'V2VM_KVER=%q\n' "$KVER"
  printf 'V2VM_KMODS=%q\n' "$CACHE/kernel/$KVER/lib/modules/$KVER"
  printf 'V2VM_PRELOAD=%q\n' "${V2VM_PRELOAD:-}"
  printf 'V2VM_CGROUP=%q\n' "$CGROUP"
  printf 'V2VM_DEBUG=%q\n' "${V2VM_DEBUG:-0}"
} > "$RUN/config"
{
  printf '%s\n' "$RUN" "$CWD"
  for d in "${RW_DIRS[@]}"; do
    d=$(cd "$d" && pwd -P) || die "--rw $d: no such directory"
    [ "$d" != / ] || die "--rw /: sharing the whole host read-write is not supported"
    printf '%s\n' "$d"
  done
} > "$RUN/rw.list"
for d in "${TMPFS_DIRS[@]}"; do
  [[ $d = /* ]] || die "--tmpfs $d: must be an absolute path"
  printf '%s\n' "$d"
done > "$RUN/tmpfs.list"
{
  echo '# generated by v2vm.sh'
  for v in $(compgen -e); do
    case $v in
      PWD|OLDPWD|SHLVL|_|HOSTNAME|V2VM_*|SSH_*|DISPLAY|XAUTHORITY|DBUS_SESSION_BUS_ADDRESS|XDG_RUNTIME_DIR|XDG_SESSION_*|SUDO_*|MAIL|TMUX|TMUX_PANE|LS_COLORS|BASH_FUNC_*) continue;;
    esac
    printf 'export %s=%q\n' "$v" "${!v}"
  done
  echo 'export HOME=/root USER=root LOGNAME=root'
  printf 'cd -- %q || exit 125\n' "$CWD"
  printf 'exec --'; printf ' %q' "$@"; printf '\n'
} > "$RUN/job.sh"
: > "$RUN/out"; : > "$RUN/err"

tcg_kernel_args() {
  # TCG's CPU model makes the guest distrust its TSC (then it falls back to
  # HPET and recalibrates the delay loop on every vCPU): the TSC is the host's,
  # so tell the guest so and hand it the loops-per-jiffy value.
  local hz mhz
  hz=$(sed -n 's/^CONFIG_HZ=//p' "$CACHE/kernel/$KVER/boot/config-$KVER" 2>/dev/null)
  mhz=$(sed -n 's/^cpu MHz[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | sort -rn | head -n1)
  printf 'tsc=reliable'
  [ -n "$hz" ] && [ -n "$mhz" ] && awk -v m="$mhz" -v h="$hz" 'BEGIN{ if (m>100) printf " lpj=%d", m*1000000/h }'
}

run_vm() {   # $1 = kvm|tcg ; starts virtiofsd and qemu in the background (VPID, QPID)
  local accel=$1 cpu kargs
  rm -f "$RUN/vfs.sock" "$RUN/started" "$RUN/rc" "$RUN/times"
  # virtiofsd serves the host's / from a private mount namespace in which every
  # mount is read-only except the run dir, the working directory and --rw dirs:
  # the guest cannot change anything else on the host, whatever it runs.
  local vfs=("$VIRTIOFSD" --socket-path="$RUN/vfs.sock" -o source=/ -o sandbox=chroot
             -o cache="${V2VM_FS_CACHE:-always}" -o log_level=err)
  if mountpoint -q /; then
    mkdir -p /run/virtiofsd
    unshare --mount --propagation private -- bash -c '
      run=$1; shift
      while read -r _ _ _ _ mp _; do
        mount -o remount,bind,ro "$(printf %b "$mp")" 2>/dev/null
      done < /proc/self/mountinfo
      while read -r p; do
        [ -n "$p" ] || continue
        mount --rbind "$p" "$p" && mount -o remount,bind,rw "$p" || { echo "v2vm: cannot share $p read-write" >&2; exit 1; }
      done < "$run/rw.list"
      mount -t tmpfs -o mode=0755 v2vm /run/virtiofsd || exit 1   # its pid file
      exec "$@"' v2vm-virtiofsd "$RUN" "${vfs[@]}" >"$RUN/virtiofsd.log" 2>&1 &
  else
    # / is not a mount point (a chroot): no private read-only view possible
    vsay "/ is not a mount point: the guest can write to the host's whole /"
    "${vfs[@]}" >"$RUN/virtiofsd.log" 2>&1 &
  fi
  VPID=$!
  for _ in $(seq 250); do [ -S "$RUN/vfs.sock" ] && break; sleep 0.02; done
  [ -S "$RUN/vfs.sock" ] || { cat "$RUN/virtiofsd.log" >&2; die "virtiofsd did not start"; }
  kargs="console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off init_on_alloc=0 nokaslr"
  kargs+=" cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 v2vm.run=$RUN"
  if [ "$accel" = kvm ]; then cpu=${V2VM_KVM_CPU:-host}; else cpu=max; accel=tcg,thread=multi; kargs+=" $(tcg_kernel_args)"; fi
  kargs+=" ${V2VM_KERNEL_ARGS:-}"
  qemu-system-x86_64 \
    -name v2vm -nodefaults -no-user-config -display none -vga none -no-reboot \
    -accel "$accel" -cpu "$cpu" -smp "$CPUS" -m "$MEM" \
    -object memory-backend-memfd,id=mem,size="$MEM",share=on -machine pc,memory-backend=mem \
    -kernel "$CACHE/kernel/$KVER/boot/vmlinuz-$KVER" -initrd "$INITRD" -append "$kargs" \
    -serial "file:$RUN/console.log" \
    -chardev socket,id=vfs,path="$RUN/vfs.sock" \
    -device vhost-user-fs-pci,queue-size=1024,chardev=vfs,tag=hostroot \
    </dev/null >"$RUN/qemu.log" 2>&1 &
  QPID=$!
}

ACC=$(pick_accel)
T_BOOT=$(now)
run_vm "$ACC"
TAIL_OPTS=(-n +1 -s 0.05 --pid="$QPID" -f)
tail "${TAIL_OPTS[@]}" "$RUN/out" & TPIDS+=($!)
tail "${TAIL_OPTS[@]}" "$RUN/err" >&2 & TPIDS+=($!)
[ "$VERBOSE" = 1 ] && { tail -n +1 -s 0.2 --pid="$QPID" -F "$RUN/console.log" 2>/dev/null | sed 's/^/[guest] /' >&2 & TPIDS+=($!); }

deadline=$(( EPOCHSECONDS + TIMEOUT ))
kvm_probe=$(( EPOCHSECONDS + ${V2VM_KVM_PROBE:-30} ))
boot_deadline=$(( EPOCHSECONDS + ${V2VM_BOOT_TIMEOUT:-120} ))
T_CMD='' TIMED_OUT=0 KVM_FAILED=0 BOOT_FAILED=0
{ # (stderr of this block is dropped: bash would report a qemu killed by a signal)
  while kill -0 "$QPID"; do
    if [ -z "$T_CMD" ] && [ -e "$RUN/started" ]; then T_CMD=$(now); fi
    if [ "$EPOCHSECONDS" -ge "$deadline" ]; then
      TIMED_OUT=1; say "timeout after ${TIMEOUT}s: stopping the VM"; kill "$QPID"; break
    fi
    if [ "$ACC" = kvm ] && [ "$ACCEL" = auto ] && [ -z "$T_CMD" ] && [ "$EPOCHSECONDS" -ge "$kvm_probe" ]; then
      KVM_FAILED=1; warn "the guest made no progress under KVM"; kill "$QPID"; break
    fi
    if [ -z "$T_CMD" ] && [ "$EPOCHSECONDS" -ge "$boot_deadline" ]; then
      BOOT_FAILED=1; say "the guest did not reach the command within ${V2VM_BOOT_TIMEOUT:-120}s"; kill "$QPID"; break
    fi
    if ! kill -0 "$VPID" && [ ! -e "$RUN/rc" ]; then
      [ -z "$T_CMD" ] && BOOT_FAILED=1
      say "virtiofsd exited: stopping the VM ($(tail -n1 "$RUN/virtiofsd.log"))"; kill "$QPID"; break
    fi
    sleep 0.05
  done
  wait "$QPID" && qrc=0 || qrc=$?
} 2>/dev/null
T_END=$(now)
if [ -z "$T_CMD" ] && [ ! -e "$RUN/rc" ] && [ "$TIMED_OUT" = 0 ]; then
  # the command never started, so starting over is harmless
  if [ "$ACC" = kvm ] && [ "$ACCEL" = auto ]; then
    # KVM failed (refused the CPU model, or the guest hung): use TCG
    [ "$KVM_FAILED" = 1 ] || warn "KVM start failed ($(tail -n1 "$RUN/qemu.log"))"
    warn "retrying with TCG"
    export V2VM_ACCEL=tcg
    trap - EXIT; cleanup
    exec "$0" "${ORIG_ARGS[@]}"
  fi
  if [ "$BOOT_FAILED" = 1 ] && [ "${V2VM_BOOT_RETRY:-1}" -gt 0 ]; then
    warn "boot failed; last console lines:"; tail -n 10 "$RUN/console.log" >&3 2>/dev/null || true
    warn "retrying the boot once"
    export V2VM_BOOT_RETRY=$(( ${V2VM_BOOT_RETRY:-1} - 1 ))
    trap - EXIT; cleanup
    exec "$0" "${ORIG_ARGS[@]}"
  fi
fi
for p in "${TPIDS[@]}"; do wait "$p" 2>/dev/null || true; done
TPIDS=()
wait "$VPID" 2>/dev/null || true; VPID=

if [ "$TIMING" = 1 ] || [ "$VERBOSE" = 1 ]; then
  guest=; [ -f "$RUN/times" ] && guest=$(cat "$RUN/times")
  say "$(awk -v t0="$T0" -v ts="$T_SETUP" -v tb="$T_BOOT" -v tc="${T_CMD:-0}" -v te="$T_END" -v acc="$ACC" -v g="$guest" 'BEGIN{
    printf "timing (%s): setup %.2fs, boot-to-command %s, command %s, total %.2fs; guest uptime: %s",
      acc, ts-t0, (tc>0? sprintf("%.2fs", tc-tb) : "n/a"), (tc>0? sprintf("%.2fs", te-tc) : "n/a"), te-t0, g }')"
fi

if [ "$TIMED_OUT" = 1 ]; then exit 124; fi
if [ -f "$RUN/rc" ]; then
  rc=$(cat "$RUN/rc")
  [[ $rc =~ ^[0-9]+$ ]] || die "bad exit status from the guest: $rc"
  exit "$rc"
fi
say "the VM stopped without an exit status (qemu exit $qrc); last console lines:"
tail -n 30 "$RUN/console.log" >&2 2>/dev/null || true
tail -n 5 "$RUN/qemu.log" >&2 2>/dev/null || true
exit 125
