# shellcheck shell=bash
# Sourced by scripts/demo.sh and bench/runtime.sh: build a tiny OCI bundle
# whose rootfs is Debian's busybox-static.

# berth_busybox: print the path of the static busybox from busybox-static.
berth_busybox() {
  local bb
  bb=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/bin/busybox$') || true
  if [ -z "$bb" ] || [ ! -x "$bb" ]; then
    echo "busybox-static is not installed (scripts/install-deps.sh installs it)" >&2
    return 1
  fi
  printf '%s\n' "$bb"
}

# berth_make_rootfs DIR: DIR/bin/busybox plus one symlink per applet, and the
# empty mount points a runtime expects.
berth_make_rootfs() {
  local dir=$1 bb applet
  bb=$(berth_busybox) || return 1
  mkdir -p "$dir"/{bin,dev,proc,sys,etc,tmp,root} || return 1
  cp "$bb" "$dir/bin/busybox" || return 1
  for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
  done
  ln -sfn bin "$dir/sbin"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
  echo 'root:x:0:' >"$dir/etc/group"
}

# berth_base_config: print a default config.json, the same as `runc spec`
# writes (OCI runtime-spec 1.0.2).  Only a fallback while the runtime under
# test cannot write one itself (`<runtime> spec`).
berth_base_config() {
  cat <<'JSON'
{
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": true,
    "user": { "uid": 0, "gid": 0 },
    "args": [ "sh" ],
    "env": [ "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm" ],
    "cwd": "/",
    "capabilities": {
      "bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
    },
    "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": true },
  "hostname": "runc",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
      "options": [ "nosuid", "noexec", "nodev" ] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": [ "nosuid", "noexec", "nodev", "ro" ] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
      "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
  ],
  "linux": {
    "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
    "namespaces": [
      { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
      { "type": "uts" }, { "type": "mount" }
    ],
    "maskedPaths": [
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
      "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
    ],
    "readonlyPaths": [ "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" ]
  }
}
JSON
}

# berth_spec RUNTIME BUNDLE: write BUNDLE/config.json with `RUNTIME spec`; if
# the runtime cannot (yet), fall back to berth_base_config and say so.
berth_spec() {
  local rt=$1 bundle=$2
  rm -f "$bundle/config.json"
  if (cd "$bundle" && "$rt" spec) >/dev/null 2>&1 && jq -e .process "$bundle/config.json" >/dev/null 2>&1; then
    return 0
  fi
  echo "note: '$rt spec' did not write a config.json; using the built-in default (runc's)" >&2
  berth_base_config >"$bundle/config.json"
}

# berth_edit_config BUNDLE JQ-FILTER [JQ-ARGS...]: edit config.json in place.
berth_edit_config() {
  local bundle=$1 filter=$2 tmp; shift 2
  tmp=$(mktemp "$bundle/.config.XXXXXX") || return 1
  jq "$@" "$filter" "$bundle/config.json" >"$tmp" && mv "$tmp" "$bundle/config.json" \
    || { rm -f "$tmp"; return 1; }
}
