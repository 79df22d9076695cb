//! `berth run` flag values: `--memory`-style sizes (`berth_engine::bytesize::parse`) and the
//! `-v`, `--mount`, `--ulimit`, `--tmpfs`, `-u` and `--cap-add` values, which reach their
//! parsers through `berth_engine::spec::build` (the public entry point).
//! Each input line is tried as every flag. A config the engine builds must be one the
//! runtime accepts: it parses as an OCI `Spec` and passes `berth_runtime::config::validate`.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use berth_engine::spec::{build, RunOptions};
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::Spec;

/// A rootfs with a passwd and group for `-u`, and the container dir `build` writes /etc files to.
/// In the fuzz crate's own `target/`, made again (idempotently) by every run: libFuzzer ends
/// the process with `exit`, so a `TempDir` kept in a static was never removed (one directory
/// left in /tmp per run).
fn dirs() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/engine-flags");
        let rootfs = base.join("rootfs");
        let dir = base.join("ctr");
        std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nstaff:x:50:bob\nbob:x:1000:\n")
            .expect("group");
        (rootfs, dir)
    })
}

fn check(opts: &RunOptions) {
    let (rootfs, dir) = dirs();
    let Ok(value) = build(opts, "0123456789abcdef0123", rootfs, dir) else { return };
    let spec: Spec = match serde_json::from_value(value.clone()) {
        Ok(s) => s,
        Err(e) => panic!("{opts:?}: the engine built a config that is not a Spec: {e}\n{value}"),
    };
    if let Err(e) = berth_runtime::config::validate(&spec) {
        panic!("{opts:?}: the runtime refuses the engine's config: {e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for line in s.lines().take(8) {
        if let Some(n) = berth_engine::bytesize::parse(line) {
            assert!(n >= 1, "{line:?} parsed to {n}");
        }
        let base = RunOptions {
            command: vec!["/bin/true".into()],
            network: "none".into(),
            ..Default::default()
        };
        check(&RunOptions { volumes: vec![line.into()], ..base.clone() });
        check(&RunOptions { mounts: vec![line.into()], ..base.clone() });
        check(&RunOptions { ulimits: vec![line.into()], ..base.clone() });
        check(&RunOptions { tmpfs: vec![line.into()], ..base.clone() });
        check(&RunOptions { user: Some(line.into()), ..base.clone() });
        check(&RunOptions { cap_add: vec![line.into()], ..base.clone() });
        check(&RunOptions { cap_drop: vec![line.into()], ..base });
    }
});
