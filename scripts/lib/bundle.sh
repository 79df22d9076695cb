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

# berth_spec RUNTIME BUNDLE: write BUNDLE/config.json with `RUNTIME spec`
# (runc, crun and berth-runtime all write runc's default spec).
berth_spec() {
  local rt=$1 bundle=$2
  rm -f "$bundle/config.json"
  if ! (cd "$bundle" && "$rt" spec) || ! jq -e .process "$bundle/config.json" >/dev/null; then
    echo "berth_spec: '$rt spec' in $bundle did not write a config.json" >&2
    return 1
  fi
}

# berth_edit_config BUNDLE JQ-FILTER [JQ-ARGS...]: edit config.json in place.
berth_edit_config() {
  local bundle=$1 filter=$2 tmp; shift 2
  tmp=$(mktemp "$bundle/.config.XXXXXX") || return 1
  jq "$@" "$filter" "$bundle/config.json" >"$tmp" && mv "$tmp" "$bundle/config.json" \
    || { rm -f "$tmp"; return 1; }
}
