//! Unpack tests: tars built in memory; root-only ones skip with a reason (fail under
//! BERTH_TEST_STRICT=1).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use tar::{EntryType, Header};

use super::*;

fn layer() -> Digest {
    Digest::sha256_of(b"test layer")
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Skips (returns true) without root, unless BERTH_TEST_STRICT=1 makes that a failure.
fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    assert!(
        std::env::var_os("BERTH_TEST_STRICT").is_none(),
        "{test} needs root (BERTH_TEST_STRICT=1)"
    );
    eprintln!("skipping {test}: needs root (mknod, chown, trusted.* xattrs)");
    true
}

/// An in-memory tar under construction.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Tar {
        Tar(tar::Builder::new(Vec::new()))
    }

    /// Appends a header whose name (and link name) bytes are written raw, bypassing the tar
    /// crate's own checks, as a hostile producer would.
    fn raw(
        &mut self,
        kind: EntryType,
        name: &[u8],
        link: &[u8],
        data: &[u8],
        mode: u32,
    ) -> &mut Tar {
        let mut h = Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn file(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Tar {
        self.raw(EntryType::Regular, name.as_bytes(), b"", data, mode)
    }
    fn dir(&mut self, name: &str, mode: u32) -> &mut Tar {
        self.raw(EntryType::Directory, name.as_bytes(), b"", b"", mode)
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Tar {
        self.raw(EntryType::Symlink, name.as_bytes(), target.as_bytes(), b"", 0o777)
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Tar {
        self.raw(EntryType::Link, name.as_bytes(), target.as_bytes(), b"", 0o644)
    }
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Tar {
        self.0.append_pax_extensions(records.iter().copied()).unwrap();
        self
    }
    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn run(tar: Tar, dest: &Path) -> Result<UnpackStats, UnpackError> {
    unpack(&layer(), dest, tar.bytes().as_slice(), Options::detect())
}

fn refused(err: &UnpackError, entry: &str) -> String {
    let msg = err.to_string();
    assert!(matches!(*err, UnpackError::UnsafeEntry { .. }), "{msg}");
    assert!(msg.contains(&layer().to_string()), "{msg}");
    assert!(msg.contains(entry), "{msg}");
    msg
}

#[test]
fn files_dirs_links_modes_and_times() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.dir("./", 0o755).dir("./etc/", 0o750).file("./etc/hello", b"hi\n", 0o4755);
    t.file("usr/bin/implicit", b"x", 0o644); // parents not in the tar
    t.symlink("etc/link", "hello").hardlink("etc/hard", "etc/hello");
    let stats = run(t, tmp.path()).unwrap();
    assert_eq!(stats.entries, 6);
    assert_eq!(stats.file_bytes, 4);
    let etc = tmp.path().join("etc");
    assert_eq!(fs::read(etc.join("hello")).unwrap(), b"hi\n");
    let m = fs::metadata(etc.join("hello")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755, "setuid kept");
    assert_eq!(m.mtime(), 1_700_000_000);
    assert_eq!(fs::metadata(&etc).unwrap().mtime(), 1_700_000_000, "dir mtime after children");
    assert_eq!(fs::metadata(&etc).unwrap().permissions().mode() & 0o7777, 0o750);
    assert_eq!(fs::read_link(etc.join("link")).unwrap(), Path::new("hello"));
    assert_eq!(fs::metadata(etc.join("hard")).unwrap().ino(), m.ino());
    assert_eq!(fs::read(tmp.path().join("usr/bin/implicit")).unwrap(), b"x");
}

#[test]
fn later_entries_replace_earlier_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("victim");
    fs::write(&target, b"safe").unwrap();
    let mut t = Tar::new();
    t.symlink("x", target.to_str().unwrap()).file("x", b"replaced", 0o644);
    t.file("d", b"file first", 0o644).dir("d", 0o755).file("d/inner", b"1", 0o644);
    t.dir("e", 0o755).file("e/child", b"", 0o644).file("e", b"now a file", 0o644);
    run(t, tmp.path()).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"safe", "never written through the symlink");
    assert_eq!(fs::read(tmp.path().join("x")).unwrap(), b"replaced");
    assert_eq!(fs::read(tmp.path().join("d/inner")).unwrap(), b"1");
    assert_eq!(fs::read(tmp.path().join("e")).unwrap(), b"now a file");
}

/// Docker's `directory.Size` of `dir`, walked: each non-directory inode's `st_size` once.
fn walked_size(dir: &Path) -> u64 {
    fn walk(dir: &Path, seen: &mut std::collections::HashSet<u64>) -> u64 {
        let mut total = 0;
        for e in fs::read_dir(dir).unwrap() {
            let m = fs::symlink_metadata(e.as_ref().unwrap().path()).unwrap();
            if m.is_dir() {
                total += walk(&e.unwrap().path(), seen);
            } else if seen.insert(m.ino()) {
                total += m.size();
            }
        }
        total
    }
    walk(dir, &mut std::collections::HashSet::new())
}

#[test]
fn unpacked_bytes_are_what_a_walk_of_the_result_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.file("a", &[1; 100], 0o644).symlink("link", "a").hardlink("a-again", "a");
    // Replaced: a file by a file; a file that keeps another name (still counted once).
    t.file("b", &[2; 50], 0o644).file("b", &[2; 7], 0o644);
    t.file("c", &[3; 30], 0o644).hardlink("c-kept", "c").file("c", &[3; 3], 0o644);
    // A directory holding files and two names of one inode, replaced by a file.
    t.dir("d", 0o755).file("d/x", &[4; 40], 0o644).hardlink("d/y", "d/x");
    t.file("d/z", &[4; 9], 0o644).file("d", &[4; 2], 0o644);
    // A hard link's name replacing a file; a symlink replaced by a directory.
    t.file("e", &[5; 20], 0o644).hardlink("e", "a").symlink("f", "long/target").dir("f", 0o755);
    if is_root() {
        t.file("g", &[6; 60], 0o644).file(".wh.g", b"", 0o644);
    }
    let stats = run(t, tmp.path()).unwrap();
    let want = 100 + 1 + 7 + 30 + 3 + 2;
    assert_eq!(walked_size(tmp.path()), want);
    assert_eq!(stats.unpacked_bytes, want);
}

#[test]
fn refuses_dotdot_and_absolute_names() {
    for name in ["../evil", "a/../../evil", "/etc/evil"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut t = Tar::new();
        t.file(name, b"pwned", 0o644);
        refused(&run(t, tmp.path()).unwrap_err(), name);
    }
}

#[test]
fn refuses_writing_through_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.symlink("escape", outside.path().to_str().unwrap()).file("escape/pwned", b"x", 0o644);
    let msg = refused(&run(t, tmp.path()).unwrap_err(), "escape/pwned");
    assert!(msg.contains("symlink"), "{msg}");
    assert!(!outside.path().join("pwned").exists());
    // A relative symlink that stays inside is refused as well: no entry is placed via a link.
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.dir("real", 0o755).symlink("alias", "real").file("alias/f", b"x", 0o644);
    refused(&run(t, tmp.path()).unwrap_err(), "alias/f");
}

#[test]
fn refuses_hardlinks_out_of_the_layer() {
    for target in ["/etc/passwd", "../../../../etc/passwd", "missing/file"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut t = Tar::new();
        t.hardlink("passwd", target);
        let msg = refused(&run(t, tmp.path()).unwrap_err(), "passwd");
        assert!(msg.contains("hardlink"), "{msg}");
        assert!(!tmp.path().join("passwd").exists());
    }
    // Through a symlink to a directory outside.
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.symlink("etc", "/etc").hardlink("passwd", "etc/passwd");
    refused(&run(t, tmp.path()).unwrap_err(), "passwd");
    assert!(!tmp.path().join("passwd").exists());
}

#[test]
fn refuses_pax_path_tricks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.pax(&[("path", b"../../pax-evil")]).file("innocent", b"x", 0o644);
    refused(&run(t, tmp.path()).unwrap_err(), "../../pax-evil");
    assert!(!tmp.path().join("innocent").exists());

    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.file("ok", b"x", 0o644).pax(&[("linkpath", b"/etc/shadow")]).hardlink("shadow", "ok");
    refused(&run(t, tmp.path()).unwrap_err(), "shadow");
}

#[test]
fn pax_overrides_owner_time_and_carries_user_xattrs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.pax(&[("mtime", b"1600000000.5"), ("SCHILY.xattr.user.berth", b"v")]).file("f", b"x", 0o600);
    run(t, tmp.path()).unwrap();
    let f = tmp.path().join("f");
    assert_eq!(fs::metadata(&f).unwrap().mtime(), 1_600_000_000);
    match rustix::fs::getxattr(&f, "user.berth", &mut [0u8; 8]) {
        Ok(n) => assert_eq!(n, 1),
        Err(rustix::io::Errno::OPNOTSUPP) => eprintln!("filesystem without user xattrs"),
        Err(e) => panic!("getxattr: {e}"),
    }
}

#[test]
fn drops_image_supplied_overlay_xattrs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")]).dir("d", 0o755);
    run(t, tmp.path()).unwrap();
    let r = rustix::fs::getxattr(tmp.path().join("d"), "trusted.overlay.redirect", &mut [0u8; 16]);
    assert!(r.is_err(), "trusted.overlay.* from an image must never be set");
}

#[test]
fn fifo_and_unsupported_types() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.raw(EntryType::Fifo, b"pipe", b"", b"", 0o640);
    run(t, tmp.path()).unwrap();
    let m = fs::symlink_metadata(tmp.path().join("pipe")).unwrap();
    assert!(m.file_type().is_fifo());
    assert_eq!(m.permissions().mode() & 0o777, 0o640);

    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.raw(EntryType::new(b'Z'), b"weird", b"", b"", 0o644);
    refused(&run(t, tmp.path()).unwrap_err(), "weird");
}

#[test]
fn truncated_tar_is_a_read_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.file("big", &[7u8; 5000], 0o644);
    let bytes = t.bytes();
    let err = unpack(&layer(), tmp.path(), &bytes[..2048], Options::detect()).unwrap_err();
    assert!(matches!(err, UnpackError::ReadArchive { .. }), "{err}");
}

/// The exact entries of the fixture's whiteout layer (layers:latest, layer 3).
fn fixture_layer3() -> Tar {
    let mut t = Tar::new();
    t.file("etc/.wh.motd", b"", 0o644);
    t.file("etc/apt/apt.conf.d/.wh..wh..opq", b"", 0o644);
    t.file("etc/apt/apt.conf.d/99berth-fixture", b"APT::Install-Recommends \"0\";\n", 0o644);
    t.file("etc/berth-fixture/hardlink.txt", b"added in layer 3\n", 0o644);
    t.hardlink("etc/berth-fixture/layer3.txt", "etc/berth-fixture/hardlink.txt");
    t.symlink("etc/berth-fixture/symlink.txt", "layer3.txt");
    t.dir("etc/berth-fixture/emptydir/", 0o755);
    t.file("usr/share/doc/.wh.hello", b"", 0o644);
    t
}

#[test]
fn fixture_whiteout_layer_in_overlay_form() {
    // Since Linux 5.8 anyone may mknod a 0:0 whiteout, so this needs no root; the opaque
    // marker is trusted.overlay.opaque as root and user.overlay.opaque (userxattr) otherwise.
    let tmp = tempfile::tempdir().unwrap();
    run(fixture_layer3(), tmp.path()).unwrap();
    let p = tmp.path();
    for wh in ["etc/motd", "usr/share/doc/hello"] {
        let m = fs::symlink_metadata(p.join(wh)).unwrap();
        assert!(m.file_type().is_char_device(), "{wh} is a whiteout device");
        assert_eq!(m.rdev(), 0, "{wh} is 0:0");
    }
    assert!(!p.join("etc/.wh.motd").exists());
    let mut buf = [0u8; 4];
    let opaque = if is_root() { "trusted.overlay.opaque" } else { "user.overlay.opaque" };
    let n = rustix::fs::getxattr(p.join("etc/apt/apt.conf.d"), opaque, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
    let names: Vec<_> = fs::read_dir(p.join("etc/apt/apt.conf.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["99berth-fixture"]);
    let a = fs::metadata(p.join("etc/berth-fixture/hardlink.txt")).unwrap();
    let b = fs::metadata(p.join("etc/berth-fixture/layer3.txt")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.nlink(), 2);
    assert_eq!(
        fs::read_link(p.join("etc/berth-fixture/symlink.txt")).unwrap(),
        Path::new("layer3.txt")
    );
    assert!(p.join("etc/berth-fixture/emptydir").is_dir());
}

#[test]
fn devices_ownership_and_trusted_xattrs_as_root() {
    if skip_unless_root("devices_ownership_and_trusted_xattrs_as_root") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    let mut h = Header::new_gnu();
    h.set_path("null").unwrap();
    h.set_entry_type(EntryType::Char);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    h.set_mode(0o666);
    h.set_uid(0);
    h.set_gid(5);
    h.set_size(0);
    h.set_mtime(0);
    h.set_cksum();
    t.0.append(&h, &b""[..]).unwrap();
    let mut h = Header::new_gnu();
    h.set_path("owned").unwrap();
    h.set_mode(0o2755);
    h.set_uid(1234);
    h.set_gid(5678);
    h.set_size(1);
    h.set_mtime(0);
    h.set_cksum();
    t.pax(&[
        ("SCHILY.xattr.trusted.berth", b"t"),
        (
            "SCHILY.xattr.security.capability",
            b"\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        ),
    ]);
    t.0.append(&h, &b"x"[..]).unwrap();
    t.symlink("link", "owned");
    run(t, tmp.path()).unwrap();
    let dev = fs::symlink_metadata(tmp.path().join("null")).unwrap();
    assert!(dev.file_type().is_char_device());
    assert_eq!(dev.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(dev.gid(), 5);
    let f = fs::metadata(tmp.path().join("owned")).unwrap();
    assert_eq!((f.uid(), f.gid()), (1234, 5678));
    assert_eq!(f.permissions().mode() & 0o7777, 0o2755, "setgid kept after chown");
    let mut buf = [0u8; 4];
    let n = rustix::fs::getxattr(tmp.path().join("owned"), "trusted.berth", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"t");
    let mut cap = [0u8; 64];
    assert!(rustix::fs::getxattr(tmp.path().join("owned"), "security.capability", &mut cap).is_ok());
}

/// A GNU sparse entry: `data` stored at `offset`, the rest of `real_size` a hole.
fn sparse(t: &mut Tar, name: &str, offset: u64, data: &[u8], real_size: u64) {
    let mut h = Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_entry_type(EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.sparse[0].set_offset(offset);
    gnu.sparse[0].set_length(data.len() as u64);
    // GNU tar ends the map with an empty block at the real size when the file ends in a hole.
    gnu.sparse[1].set_offset(real_size);
    gnu.sparse[1].set_length(0);
    gnu.set_real_size(real_size);
    h.set_cksum();
    t.0.append(&h, data).unwrap();
}

#[test]
fn sparse_files_keep_their_holes() {
    // Regression: holes were written out as zeros, so a tiny layer could fill the disk.
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    sparse(&mut t, "disk.img", 32 << 20, &[0xab; 512], 64 << 20);
    let stats = run(t, tmp.path()).unwrap();
    assert_eq!(stats.file_bytes, 64 << 20, "holes count as content for the limit");
    let path = tmp.path().join("disk.img");
    let m = fs::metadata(&path).unwrap();
    assert_eq!(m.len(), 64 << 20);
    assert!(m.blocks() * 512 < 1 << 20, "{} bytes allocated for 512 of data", m.blocks() * 512);
    let bytes = fs::read(&path).unwrap();
    assert!(bytes[..32 << 20].iter().all(|b| *b == 0));
    assert!(bytes[(32 << 20)..(32 << 20) + 512].iter().all(|b| *b == 0xab));
}

#[test]
fn file_content_past_the_limit_is_refused_naming_the_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tar::new();
    t.file("small", &[1u8; 1000], 0o644);
    sparse(&mut t, "huge", 0, &[1u8; 512], 1 << 40);
    let opts = Options { max_file_bytes: 4 << 20, ..Options::detect() };
    let err = unpack(&layer(), tmp.path(), t.bytes().as_slice(), opts).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, UnpackError::TooLarge { limit: 4194304, .. }), "{msg}");
    assert!(msg.contains(&layer().to_string()) && msg.contains("\"huge\""), "{msg}");
}
