//! Canary directories for the hostile-image corpus: a directory beside the store or on the
//! host that a hostile layer aims at, fingerprinted before and after; any difference is an
//! escape.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// Every path under `dir` with its mode, owner, size, mtime, inode, and its link target or
/// content digest, sorted: equal fingerprints mean nothing under `dir` was created, removed,
/// written, re-linked, chowned or chmodded.
///
/// # Panics
/// When `dir` or something under it cannot be read (a test failure).
pub fn fingerprint(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display()));
        for e in entries {
            let p = e.unwrap_or_else(|e| panic!("read {}: {e}", d.display())).path();
            let m = std::fs::symlink_metadata(&p)
                .unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()));
            let what = if m.is_symlink() {
                let target = std::fs::read_link(&p)
                    .unwrap_or_else(|e| panic!("readlink {}: {e}", p.display()));
                format!("-> {}", target.display())
            } else if m.is_dir() {
                stack.push(p.clone());
                String::new()
            } else if m.is_file() {
                let data =
                    std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
                format!("sha256:{:x}", Sha256::digest(data))
            } else {
                String::new()
            };
            let (mode, uid, len, mtime, ino) = (m.mode(), m.uid(), m.len(), m.mtime(), m.ino());
            out.push(format!("{} {mode:o} {uid} {len} {mtime} {ino} {what}", p.display()));
        }
    }
    out.sort();
    out
}
