//! The hostile-layer corpus: layers built here, byte by byte, that try to write outside the
//! unpack directory, fill the disk or desynchronise tar parsers. Each goes through the public
//! ingest path (`Store::ingest_layer`: gzip, digest, diff id, unpack) and must be refused with
//! an error naming the layer digest and the entry, or be contained in its snapshot; a canary
//! directory beside the store is fingerprinted before and after and must not change.
//!
//! No root needed. Run as root, device nodes are created (inside the snapshot); without root
//! they are skipped: `device_nodes_stay_inside_the_layer` checks whichever applies.

// An integration-test crate: its helpers are test code too.
#![allow(clippy::unwrap_used)]

use std::error::Error as _;
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_image::{chain_ids, Digest, Digester, IngestError, LayerDesc, Snapshot, Store};
use berth_image::{StoreOptions, UnpackError};
use berth_test_support::canary::fingerprint;
use berth_test_support::tarfile::{self, Tar};
use tar::EntryType;

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// A store and, beside it, the canary directory the corpus aims at.
struct Host {
    tmp: tempfile::TempDir,
    store: Store,
    before: Vec<String>,
}

impl Host {
    fn new() -> Host {
        Host::with(StoreOptions::default())
    }

    fn with(options: StoreOptions) -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let canary = tmp.path().join("canary");
        std::fs::create_dir_all(canary.join("dir")).unwrap();
        std::fs::write(canary.join("file"), b"host data\n").unwrap();
        std::fs::write(canary.join("dir/inner"), b"inner\n").unwrap();
        std::os::unix::fs::symlink("file", canary.join("link")).unwrap();
        let store = Store::open_with(&tmp.path().join("store"), options).unwrap();
        let before = fingerprint(&canary);
        Host { tmp, store, before }
    }

    fn canary(&self) -> PathBuf {
        self.tmp.path().join("canary")
    }

    /// The canary as a name with `..` components from the unpack directory
    /// (`store/tmp/<work>/<item>/fs`, five levels below the tempdir).
    fn canary_up(&self, name: &str) -> Vec<u8> {
        format!("../../../../../canary/{name}").into_bytes()
    }

    /// Ingests `tar` as one gzip layer with a correct digest and diff id.
    fn ingest(&self, tar: &[u8]) -> (Digest, Result<Snapshot, IngestError>) {
        let blob = gzip(tar);
        let desc = layer_desc(&blob);
        let diff_id = Digest::sha256_of(tar);
        let chain = &chain_ids(std::slice::from_ref(&diff_id))[0];
        let result = self.store.ingest_layer(&desc, &diff_id, chain, blob.as_slice());
        (desc.digest, result)
    }

    /// The layer must be refused, naming its digest and `entry`; returns the message chain.
    fn refused(&self, tar: &[u8], entry: &str) -> String {
        let (layer, result) = self.ingest(tar);
        let err = result.err().unwrap_or_else(|| panic!("layer with {entry:?} was accepted"));
        let msg = chain(&err);
        assert!(msg.contains(&layer.to_string()), "names the layer: {msg}");
        assert!(msg.contains(entry), "names the entry {entry:?}: {msg}");
        assert!(!msg.contains('\n'), "entry names are escaped: {msg}");
        self.assert_host_unchanged();
        self.assert_no_partial_snapshot();
        msg
    }

    /// The layer must unpack; returns its snapshot directory.
    fn contained(&self, tar: &[u8]) -> PathBuf {
        let (_, result) = self.ingest(tar);
        let snap = result.unwrap_or_else(|e| panic!("{}", chain(&e)));
        self.assert_host_unchanged();
        snap.path
    }

    fn assert_host_unchanged(&self) {
        assert_eq!(fingerprint(&self.canary()), self.before, "the canary changed");
        let beside: Vec<_> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(beside.len() == 2, "only store/ and canary/ beside the store: {beside:?}");
    }

    /// A refused layer leaves no snapshot and no work files.
    fn assert_no_partial_snapshot(&self) {
        let store = self.tmp.path().join("store");
        let snaps = std::fs::read_dir(store.join("snapshots")).unwrap().count();
        assert_eq!(snaps, 0, "a refused layer left a snapshot");
        for work in std::fs::read_dir(store.join("tmp")).unwrap() {
            let left = std::fs::read_dir(work.unwrap().path()).unwrap().count();
            assert_eq!(left, 0, "a refused layer left work files");
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn layer_desc(blob: &[u8]) -> LayerDesc {
    LayerDesc { digest: Digest::sha256_of(blob), size: blob.len() as u64, media_type: GZIP.into() }
}

/// An error and its sources, as `berth` prints them.
fn chain(err: &IngestError) -> String {
    let mut msg = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        msg.push_str(": ");
        msg.push_str(&e.to_string());
        cur = e.source();
    }
    msg
}

#[test]
fn dotdot_and_absolute_names_are_refused() {
    let host = Host::new();
    let up = host.canary_up("pwned");
    let abs = host.canary().join("pwned");
    let deep = [b"../".repeat(40), abs.as_os_str().as_bytes().to_vec()].concat();
    let names: [&[u8]; 4] = [&up, abs.as_os_str().as_bytes(), b"a/b/../../../x", &deep];
    for name in names {
        let mut t = Tar::new();
        t.file(b"innocent", b"ok", 0o644).file(name, b"pwned", 0o644);
        let msg = host.refused(&t.end(), &String::from_utf8_lossy(name));
        assert!(msg.contains("`..`") || msg.contains("absolute"), "{msg}");
    }
}

#[test]
fn writing_through_a_symlink_is_refused() {
    let host = Host::new();
    let canary = host.canary().into_os_string().into_vec();
    let up = host.canary_up("");
    // A symlink to a host directory, then a file under it: absolute and relative targets.
    for (target, entry) in [(&canary, "escape/pwned"), (&up, "escape/pwned")] {
        let mut t = Tar::new();
        t.symlink(b"escape", target).file(b"escape/pwned", b"pwned", 0o644);
        let msg = host.refused(&t.end(), entry);
        assert!(msg.contains("through a symlink"), "{msg}");
    }
    // A directory first, then a symlink replacing it, then a file "in the directory".
    let mut t = Tar::new();
    t.dir(b"etc").symlink(b"etc", &canary).file(b"etc/passwd", b"pwned", 0o644);
    host.refused(&t.end(), "etc/passwd");
    // A symlink to a host file, then a hardlink through it.
    let mut t = Tar::new();
    t.symlink(b"d", &canary).hardlink(b"h", b"d/file");
    let msg = host.refused(&t.end(), "h");
    assert!(msg.contains("through a symlink"), "{msg}");
}

#[test]
fn a_file_over_a_symlink_or_hardlink_replaces_it_not_its_target() {
    let host = Host::new();
    let host_file = host.canary().join("file").into_os_string().into_vec();
    let mut t = Tar::new();
    t.symlink(b"sym", &host_file).file(b"sym", b"replaced", 0o644);
    t.file(b"orig", b"original", 0o644).hardlink(b"hard", b"orig").file(b"hard", b"new", 0o644);
    let fs = host.contained(&t.end());
    assert_eq!(std::fs::read(fs.join("sym")).unwrap(), b"replaced");
    assert!(!std::fs::symlink_metadata(fs.join("sym")).unwrap().is_symlink());
    assert_eq!(std::fs::read(fs.join("orig")).unwrap(), b"original", "not written through");
    assert_eq!(std::fs::read(fs.join("hard")).unwrap(), b"new");
}

#[test]
fn hardlinks_to_host_files_are_refused() {
    let host = Host::new();
    let abs = host.canary().join("file").into_os_string().into_vec();
    let up = host.canary_up("file");
    for target in [&abs, &up, &b"not/in/this/layer".to_vec()] {
        let mut t = Tar::new();
        t.hardlink(b"stolen", target).file(b"stolen2", b"x", 0o644);
        let msg = host.refused(&t.end(), "stolen");
        assert!(msg.contains("hardlink"), "{msg}");
    }
}

#[test]
fn setuid_files_are_kept_as_in_the_image_and_contained() {
    let host = Host::new();
    let mut t = Tar::new();
    t.file(b"bin/su", b"#!/bin/true\n", 0o4755).file(b"bin/wall", b"x", 0o2755);
    let fs = host.contained(&t.end());
    let su = std::fs::metadata(fs.join("bin/su")).unwrap();
    assert_eq!(su.mode() & 0o7777, 0o4755);
    assert_eq!(std::fs::metadata(fs.join("bin/wall")).unwrap().mode() & 0o7777, 0o2755);
    assert!(fs.starts_with(host.tmp.path().join("store/snapshots")));
}

#[test]
fn device_nodes_stay_inside_the_layer() {
    let host = Host::new();
    let root_dev = std::fs::metadata("/").unwrap().dev();
    let (major, minor) = (rustix::fs::major(root_dev), rustix::fs::minor(root_dev));
    let mut t = Tar::new();
    t.device(EntryType::Block, b"dev/hostdisk", major, minor);
    t.device(EntryType::Char, b"dev/mem", 1, 1);
    let fs = host.contained(&t.end());
    let privileged = rustix::process::geteuid().is_root();
    for (name, rdev, block) in
        [("dev/hostdisk", root_dev, true), ("dev/mem", rustix::fs::makedev(1, 1), false)]
    {
        let node = std::fs::symlink_metadata(fs.join(name));
        if privileged {
            // Root makes the node the image asks for, inside the snapshot; opening it from a
            // container is the device cgroup's job (tests/integration hostile_images.rs).
            let node = node.unwrap();
            assert_eq!(node.rdev(), rdev, "{name}");
            assert_eq!(node.file_type().is_block_device(), block, "{name}");
        } else {
            assert!(node.is_err(), "{name} is skipped without root");
        }
    }
}

#[test]
fn pax_and_gnu_long_names_cannot_smuggle_dotdot() {
    let host = Host::new();
    let up = host.canary_up("pwned");
    // A PAX `path` overriding an innocent ustar name.
    let mut t = Tar::new();
    t.pax(&[("path", &up)]).file(b"innocent", b"pwned", 0o644);
    host.refused(&t.end(), &String::from_utf8_lossy(&up));
    // A PAX `linkpath` for a hardlink.
    let mut t = Tar::new();
    t.pax(&[("linkpath", &host.canary_up("file"))]).hardlink(b"innocent", b"innocent2");
    host.refused(&t.end(), "innocent");
    // A GNU long name.
    let mut t = Tar::new();
    t.gnu_long_name(&up).file(b"innocent", b"pwned", 0o644);
    host.refused(&t.end(), &String::from_utf8_lossy(&up));
}

/// A tar-in-tar: an outer entry whose content is a whole archive. The PAX `size` record and
/// the ustar size field disagree, so a parser obeying one sees the inner archive as data and
/// one obeying the other sees its entries as the outer archive's own (TARmageddon,
/// CVE-2025-62518). berth must read it as GNU tar does, the way `tar -t` lists it.
#[test]
fn pax_size_disagreeing_with_ustar_size_is_read_as_gnu_tar_reads_it() {
    let mut inner = Tar::new();
    inner.file(b"smuggled", b"from the inner archive", 0o644);
    let inner = inner.end();
    let pax_size = inner.len().to_string();
    // PAX size wins: first the inner archive is the content of outer.tar; then outer.tar is
    // empty and the inner archive's entries (and its end marker) follow it.
    let cases = [
        (pax_size.as_bytes(), 0, ["after", "outer.tar"].as_slice()),
        (b"0".as_slice(), inner.len() as u64, ["outer.tar", "smuggled"].as_slice()),
    ];
    for (pax, ustar, expected) in cases {
        let host = Host::new();
        let mut t = Tar::new();
        let h = tarfile::header(EntryType::Regular, b"outer.tar", b"", ustar, 0o644);
        t.pax(&[("size", pax)]).entry(&h, &inner).file(b"after", b"after", 0o644);
        let tar = t.end();
        let fs = host.contained(&tar);
        let mut ours: Vec<String> = walk(&fs);
        ours.sort();
        let mut gnu = gnu_tar_list(&tar);
        gnu.sort();
        assert_eq!(ours, gnu, "pax size {pax:?}, ustar size {ustar}");
        assert_eq!(ours, expected);
    }
}

fn walk(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
}

/// The names GNU tar lists for `tar` (it obeys PAX `size`, as POSIX says).
fn gnu_tar_list(tar: &[u8]) -> Vec<String> {
    let mut child = std::process::Command::new("tar")
        .args(["-t", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("GNU tar (Debian: essential package `tar`)");
    child.stdin.take().unwrap().write_all(tar).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "tar -t: {out:?}");
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn names_with_odd_bytes_are_kept_exactly() {
    let host = Host::new();
    let names: [&[u8]; 4] = [b"\xff\xfe-not-utf8", b"new\nline", b"tab\there", b"back\\slash"];
    let mut t = Tar::new();
    for name in names {
        t.file(name, name, 0o644);
    }
    let fs = host.contained(&t.end());
    for name in names {
        assert_eq!(std::fs::read(fs.join(OsStr::from_bytes(name))).unwrap(), name);
    }
    // Refused names are escaped in the message: no log line can be forged with a newline.
    let host = Host::new();
    let mut t = Tar::new();
    t.file(b"../evil\nINFO forged line", b"x", 0o644);
    let msg = host.refused(&t.end(), "../evil\\nINFO forged line");
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn very_deep_and_very_long_names() {
    let host = Host::new();
    // 1,000 levels (2,000 bytes) fit in PATH_MAX and are made; 3,000 do not and are refused.
    let ok = [b"d/".repeat(1000), b"leaf".to_vec()].concat();
    let mut t = Tar::new();
    t.pax(&[("path", &ok)]).file(b"placeholder", b"deep", 0o644);
    let fs = host.contained(&t.end());
    assert_eq!(std::fs::read(fs.join(OsStr::from_bytes(&ok))).unwrap(), b"deep");

    let host = Host::new();
    let too_deep = [b"d/".repeat(3000), b"leaf".to_vec()].concat();
    let mut t = Tar::new();
    t.pax(&[("path", &too_deep)]).file(b"placeholder", b"deep", 0o644);
    let msg = host.refused(&t.end(), &String::from_utf8_lossy(&too_deep));
    assert!(msg.contains("File name too long"), "{}", &msg[msg.len().saturating_sub(200)..]);

    let long = b"n".repeat(300);
    let mut t = Tar::new();
    t.pax(&[("path", &long)]).file(b"placeholder", b"x", 0o644);
    host.refused(&t.end(), &String::from_utf8_lossy(&long));
}

/// Small limits, so the bombs below cost megabytes, not gigabytes.
fn small_limits() -> StoreOptions {
    StoreOptions { inflate_floor: 16 << 20, inflate_ratio: 200, ..StoreOptions::default() }
}

/// A gzip bomb: `zeros` bytes of zeros as many 1 MiB gzip members (about 1,000:1 each),
/// between `head` and `tail`, which are gzipped as they are. Returns (blob, diff id).
fn bomb(head: &[u8], zeros: u64, tail: &[u8]) -> (Vec<u8>, Digest) {
    let mib = vec![0u8; 1 << 20];
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&mib).unwrap();
    let member = e.finish().unwrap();
    let mut blob = gzip(head);
    let mut diff = Digester::new(berth_image::Algorithm::Sha256);
    diff.update(head);
    for _ in 0..zeros >> 20 {
        blob.extend_from_slice(&member);
        diff.update(&mib);
    }
    blob.extend_from_slice(&gzip(tail));
    diff.update(tail);
    (blob, diff.finish())
}

fn ingest_blob(host: &Host, blob: &[u8], diff_id: &Digest) -> (Digest, IngestError) {
    let desc = layer_desc(blob);
    let chain = &chain_ids(std::slice::from_ref(diff_id))[0];
    let err = host.store.ingest_layer(&desc, diff_id, chain, blob).unwrap_err();
    (desc.digest, err)
}

#[test]
fn gzip_bomb_in_a_file_is_refused_naming_the_entry() {
    let host = Host::with(small_limits());
    let size = 256u64 << 20;
    let h = tarfile::header(EntryType::Regular, b"bomb", b"", size, 0o644);
    let (blob, diff_id) = bomb(h.as_bytes(), size, &[0u8; 1024]);
    let limit = small_limits().inflate_limit(blob.len() as u64);
    assert!(limit < size / 4, "the bomb inflates {}x", size / blob.len() as u64);
    let (layer, err) = ingest_blob(&host, &blob, &diff_id);
    let msg = chain(&err);
    assert!(
        matches!(err, IngestError::Unpack { source: UnpackError::TooLarge { .. }, .. }),
        "{msg}"
    );
    assert!(msg.contains(&layer.to_string()) && msg.contains("\"bomb\""), "{msg}");
    assert!(msg.contains(&format!("past {limit} bytes")), "{msg}");
    host.assert_host_unchanged();
    host.assert_no_partial_snapshot();
}

#[test]
fn zstd_bomb_is_refused_naming_the_entry() {
    // zstd has no ratio ceiling: 256 MiB of zeros is a few kilobytes.
    let host = Host::with(small_limits());
    let size = 256u64 << 20;
    let mut z = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    let mut diff = Digester::new(berth_image::Algorithm::Sha256);
    let h = tarfile::header(EntryType::Regular, b"zbomb", b"", size, 0o644);
    let mib = vec![0u8; 1 << 20];
    for chunk in std::iter::once(h.as_bytes().as_slice())
        .chain(std::iter::repeat_n(mib.as_slice(), (size >> 20) as usize))
        .chain(std::iter::once([0u8; 1024].as_slice()))
    {
        z.write_all(chunk).unwrap();
        diff.update(chunk);
    }
    let blob = z.finish().unwrap();
    assert!(blob.len() < 64 << 10, "{} bytes", blob.len());
    let desc = LayerDesc { media_type: ZSTD.into(), ..layer_desc(&blob) };
    let diff_id = diff.finish();
    let chain_id = &chain_ids(std::slice::from_ref(&diff_id))[0];
    let err = host.store.ingest_layer(&desc, &diff_id, chain_id, blob.as_slice()).unwrap_err();
    let msg = chain(&err);
    assert!(
        matches!(err, IngestError::Unpack { source: UnpackError::TooLarge { .. }, .. }),
        "{msg}"
    );
    assert!(msg.contains(&desc.digest.to_string()) && msg.contains("\"zbomb\""), "{msg}");
    host.assert_host_unchanged();
    host.assert_no_partial_snapshot();
}

#[test]
fn gzip_bomb_after_the_end_of_the_archive_is_refused_naming_the_layer() {
    // The unpacker stops at the end marker, but the diff id covers the whole stream: the
    // inflater must not run on for ever.
    let host = Host::with(small_limits());
    let mut t = Tar::new();
    t.file(b"small", b"x", 0o644);
    let (blob, diff_id) = bomb(&t.end(), 256 << 20, b"");
    let (layer, err) = ingest_blob(&host, &blob, &diff_id);
    let msg = chain(&err);
    assert!(matches!(err, IngestError::InflateLimit { .. }), "{msg}");
    assert!(msg.contains(&layer.to_string()) && msg.contains("decompression bomb"), "{msg}");
    host.assert_host_unchanged();
    host.assert_no_partial_snapshot();
}

#[test]
fn huge_sparse_file_is_refused_and_small_ones_stay_sparse() {
    let host = Host::with(small_limits());
    let mut t = Tar::new();
    t.sparse(b"terabyte", 0, &[1u8; 512], 1 << 40);
    let msg = host.refused(&t.end(), "terabyte");
    assert!(msg.contains("past 16777216 bytes"), "{msg}");

    let mut t = Tar::new();
    t.sparse(b"disk.img", 8 << 20, &[2u8; 4096], 12 << 20);
    let fs = host.contained(&t.end());
    let m = std::fs::metadata(fs.join("disk.img")).unwrap();
    assert_eq!(m.len(), 12 << 20);
    assert!(m.blocks() * 512 <= 64 << 10, "{} bytes on disk", m.blocks() * 512);
}

#[test]
fn default_limits_leave_room_for_real_layers() {
    let o = StoreOptions::default();
    assert_eq!(o.inflate_limit(1 << 20), 1 << 30, "small layers: the 1 GiB floor");
    assert_eq!(o.inflate_limit(100 << 20), 200 * (100 << 20), "large layers: 200x");
}
