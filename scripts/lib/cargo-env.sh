# shellcheck shell=bash
# Sourced by scripts/*.sh: make `cargo` usable when the script runs under sudo.
#
# sudo resets PATH and HOME, so a rustup install in the invoking user's home is
# invisible to root.  Put that user's ~/.cargo/bin on PATH and point CARGO_HOME
# and RUSTUP_HOME there (rustup's proxies need both), unless already set.
# Returns 1 (after printing how to install Rust) when no cargo can be found.
berth_cargo_env() {
  command -v cargo >/dev/null && return 0
  local home
  for home in "$HOME" "$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)"; do
    [ -n "$home" ] && [ -x "$home/.cargo/bin/cargo" ] || continue
    export PATH="$home/.cargo/bin:$PATH"
    export CARGO_HOME="${CARGO_HOME:-$home/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$home/.rustup}"
    return 0
  done
  echo "cargo not found: install Rust with rustup (https://rustup.rs), e.g." >&2
  echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y -c clippy,rustfmt" >&2
  return 1
}
