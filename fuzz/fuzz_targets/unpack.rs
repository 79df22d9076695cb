//! Tar layer unpack: any uncompressed layer goes through `Store::ingest_layer` (berth-image's
//! public ingest API, which verifies and unpacks) into a store in a fresh directory, and
//! nothing outside that store changes.
//!
//! Layout under `$TMPDIR/berth-fuzz-unpack/`: `canary/` (shared, made once: a file, a
//! subdirectory, a symlink) and `<pid>/<n>/store` per input. Seeds aim at the canary by
//! relative (`../../canary`) and absolute paths, through symlinks and hardlinks; after each
//! input the canary must hash the same (including link counts: a hardlink into a layer is an
//! escape too) and `<pid>/<n>` must hold nothing but `store`.
#![no_main]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use berth_image::{Digest, LayerDesc, Store};
use libfuzzer_sys::fuzz_target;

const MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

fn base() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let base = std::env::temp_dir().join("berth-fuzz-unpack");
        let canary = base.join("canary");
        fs::create_dir_all(canary.join("dir")).expect("create the canary");
        fs::write(canary.join("secret"), b"canary\n").expect("write the canary");
        fs::write(canary.join("dir/file"), b"nested\n").expect("write the canary");
        let _ = std::os::unix::fs::symlink("secret", canary.join("link"));
        base
    })
}

/// Everything an escape could change: names, types, modes, owners, sizes, link counts,
/// contents and symlink targets.
fn fingerprint(dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> =
        fs::read_dir(dir).expect("read the canary").map(|e| e.expect("dir entry").path()).collect();
    entries.sort();
    for p in entries {
        let m = fs::symlink_metadata(&p).expect("stat the canary");
        let mut line = format!(
            "{} {:o} {}:{} {} {}",
            p.display(),
            m.mode(),
            m.uid(),
            m.gid(),
            m.len(),
            m.nlink()
        );
        if m.is_symlink() {
            line += &format!(" -> {:?}", fs::read_link(&p).expect("readlink"));
        } else if m.is_file() {
            line += &format!(" {:?}", fs::read(&p).expect("read the canary"));
        }
        out.push(line);
        if m.is_dir() {
            fingerprint(&p, out);
        }
    }
}

fn canary_print() -> Vec<String> {
    let mut out = Vec::new();
    fingerprint(&base().join("canary"), &mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    static BEFORE: OnceLock<Vec<String>> = OnceLock::new();
    static N: AtomicU64 = AtomicU64::new(0);
    let before = BEFORE.get_or_init(canary_print);
    let dir = base()
        .join(std::process::id().to_string())
        .join(N.fetch_add(1, Ordering::Relaxed).to_string());
    fs::create_dir_all(&dir).expect("create the work dir");
    let store = Store::open(&dir.join("store")).expect("open the store");
    let digest = Digest::sha256_of(data);
    let desc = LayerDesc {
        digest: digest.clone(),
        size: data.len() as u64,
        media_type: MEDIA_TYPE.into(),
    };
    // Uncompressed: the diff id is the blob digest, and a base layer's chain id its diff id.
    let _ = store.ingest_layer(&desc, &digest, &digest, data);
    drop(store);

    let names: Vec<_> = fs::read_dir(&dir)
        .expect("read the work dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["store"], "something was written next to the store");
    assert_eq!(&canary_print(), before, "the canary changed");
    // std's remove_dir_all does not follow symlinks
    let _ = fs::remove_dir_all(&dir);
});
