//! Link order of `berth-runtime` (docs/adr/0011-hot-text-first.md).
//!
//! `scripts/build-release.sh` sets `BERTH_LINK_ORDER` to `scripts/berth-runtime.order`, the
//! functions a container's life runs, found by `scripts/hot-symbols.sh`. lld then places
//! them first and together, so the kernel's fault-around maps fewer pages of the binary.
//! Only `berth-runtime` gets it, and only when asked: other builds link as before (and may
//! use a linker without `--symbol-ordering-file`). Cargo relinks when the file changes.

fn main() {
    println!("cargo:rerun-if-env-changed=BERTH_LINK_ORDER");
    let Some(order) = std::env::var_os("BERTH_LINK_ORDER").filter(|o| !o.is_empty()) else {
        return;
    };
    let order = std::path::PathBuf::from(order);
    println!("cargo:rerun-if-changed={}", order.display());
    println!(
        "cargo:rustc-link-arg-bin=berth-runtime=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    // The names of a stale file that are gone are not an error: they only cost pages.
    println!("cargo:rustc-link-arg-bin=berth-runtime=-Wl,--no-warn-symbol-ordering");
}
