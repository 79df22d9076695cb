//! Store tests: blob and layer ingest, records, reclamation, and cross-process behaviour
//! (concurrent ingest, SIGKILL mid-ingest). Child processes re-run this test binary with
//! `BERTH_IMAGE_CHILD` set (see `child_entry`).

// An integration-test crate: its helpers are test code too (clippy's allow-unwrap-in-tests
// covers only #[test] functions here).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_image::{
    chain_ids, Compression, Digest, ImageRecord, IngestError, LayerDesc, LayerRecord, Store,
};

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const PLAIN: &str = "application/vnd.oci.image.layer.v1.tar";

/// A small layer: (tar bytes, files).
fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

struct Layer {
    desc: LayerDesc,
    diff_id: Digest,
    blob: Vec<u8>,
}

fn layer(tar: &[u8], media_type: &str) -> Layer {
    let blob = match Compression::from_media_type(media_type).unwrap() {
        Compression::Gzip => gzip(tar),
        Compression::Zstd => zstd::encode_all(tar, 3).unwrap(),
        Compression::None => tar.to_vec(),
    };
    let desc = LayerDesc {
        digest: Digest::sha256_of(&blob),
        size: blob.len() as u64,
        media_type: media_type.into(),
    };
    Layer { desc, diff_id: Digest::sha256_of(tar), blob }
}

fn ingest(store: &Store, l: &Layer, chain: &Digest) -> Result<berth_image::Snapshot, IngestError> {
    store.ingest_layer(&l.desc, &l.diff_id, chain, l.blob.as_slice())
}

/// Nothing but empty work dirs of live stores under tmp/.
fn tmp_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root.join("tmp")).unwrap() {
        for f in std::fs::read_dir(e.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out
}

#[test]
fn blob_verifies_and_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let data = b"config json";
    let d = Digest::sha256_of(data);
    let path = store.ingest_blob(&d, Some(data.len() as u64), &data[..]).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert_eq!(path, dir.path().join("blobs/sha256").join(d.hex()));
    // Reused: the reader is not even consulted.
    store.ingest_blob(&d, None, FailingReader).unwrap();

    let wrong = Digest::sha256_of(b"other");
    let err = store.ingest_blob(&wrong, None, &data[..]).unwrap_err();
    assert!(matches!(err, IngestError::DigestMismatch { .. }), "{err}");
    assert!(!store.has_blob(&wrong));
    let d2 = Digest::sha256_of(b"abc");
    let err = store.ingest_blob(&d2, Some(2), &b"abc"[..]).unwrap_err();
    assert!(matches!(err, IngestError::SizeMismatch { .. }), "{err}");
    let err = store.ingest_blob(&d2, Some(4), &b"abc"[..]).unwrap_err();
    assert!(matches!(err, IngestError::SizeMismatch { .. }), "{err}");
    assert!(!store.has_blob(&d2));
    assert!(tmp_files(dir.path()).is_empty());
}

struct FailingReader;
impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("must not be read"))
    }
}

#[test]
fn layers_in_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (i, media) in
        [GZIP, ZSTD, PLAIN, "application/vnd.docker.image.rootfs.diff.tar.gzip"].iter().enumerate()
    {
        let name = format!("f{i}");
        let l = layer(&tar_with(&[(&name, b"content")]), media);
        let chain = l.diff_id.clone();
        let snap = ingest(&store, &l, &chain).unwrap();
        assert_eq!(std::fs::read(snap.path.join(&name)).unwrap(), b"content", "{media}");
        assert!(store.has_blob(&l.desc.digest));
        assert_eq!(store.snapshot(&chain).unwrap(), snap);
        assert_eq!(std::fs::read(store.blob_path(&l.desc.digest)).unwrap(), l.blob);
    }
    assert!(tmp_files(dir.path()).is_empty());
}

#[test]
fn bad_layers_leave_nothing_visible() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let l = layer(&tar_with(&[("a", b"1")]), GZIP);
    let chain = l.diff_id.clone();
    // Wrong diff id.
    let other = Digest::sha256_of(b"x");
    let err = store.ingest_layer(&l.desc, &other, &other, l.blob.as_slice()).unwrap_err();
    assert!(matches!(err, IngestError::DiffIdMismatch { .. }), "{err}");
    // Corrupt byte: a digest mismatch, reported before any decoder or unpack error.
    let mut bad = l.blob.clone();
    bad[20] ^= 0xff;
    let err = store.ingest_layer(&l.desc, &l.diff_id, &chain, bad.as_slice()).unwrap_err();
    assert!(matches!(err, IngestError::DigestMismatch { .. }), "{err}");
    // Truncated.
    let err =
        store.ingest_layer(&l.desc, &l.diff_id, &chain, &l.blob[..l.blob.len() / 2]).unwrap_err();
    assert!(matches!(err, IngestError::SizeMismatch { .. }), "{err}");
    // Unknown media type.
    let mut d = l.desc.clone();
    d.media_type = "application/vnd.oci.image.layer.v1.tar+encrypted".into();
    assert!(matches!(
        store.ingest_layer(&d, &l.diff_id, &chain, l.blob.as_slice()),
        Err(IngestError::UnsupportedMediaType { .. })
    ));
    assert!(store.snapshot(&chain).is_none() && store.snapshot(&other).is_none());
    assert!(!store.has_blob(&l.desc.digest));
    assert!(tmp_files(dir.path()).is_empty());
    ingest(&store, &l, &chain).unwrap();
}

#[test]
fn hostile_layer_error_names_layer_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"x"[..]).unwrap();
    let l = layer(&b.into_inner().unwrap(), GZIP);
    let err = ingest(&store, &l, &l.diff_id.clone()).unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains(&l.desc.digest.to_string()) && chain.contains("../escape"), "{chain}");
    assert!(store.snapshot(&l.diff_id).is_none());
    assert!(!dir.path().parent().unwrap().join("escape").exists());
}

#[test]
fn same_snapshot_from_another_blob_stores_the_blob_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let tar = tar_with(&[("same", b"bytes")]);
    let (gz, zs) = (layer(&tar, GZIP), layer(&tar, ZSTD));
    let chain = gz.diff_id.clone();
    let a = ingest(&store, &gz, &chain).unwrap();
    let b = ingest(&store, &zs, &chain).unwrap();
    assert_eq!(a, b);
    assert!(store.has_blob(&zs.desc.digest));
}

fn put(
    store: &Store,
    reference: Option<&str>,
    layers: &[&Layer],
    tag: &str,
) -> berth_image::ImageInfo {
    put_config(store, reference, layers, tag, &format!("{{\"tag\":\"{tag}\"}}"))
}

fn put_config(
    store: &Store,
    reference: Option<&str>,
    layers: &[&Layer],
    tag: &str,
    config: &str,
) -> berth_image::ImageInfo {
    let config_digest = Digest::sha256_of(config.as_bytes());
    store.ingest_blob(&config_digest, None, config.as_bytes()).unwrap();
    let diffs: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
    for (l, chain) in layers.iter().zip(chain_ids(&diffs)) {
        ingest(store, l, &chain).unwrap();
    }
    store
        .put_image(&ImageRecord {
            reference: reference.map(str::to_owned),
            manifest_digest: Digest::sha256_of(format!("manifest {tag}").as_bytes()),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            config_digest,
            platform: "linux/amd64".into(),
            layers: layers
                .iter()
                .map(|l| LayerRecord {
                    digest: l.desc.digest.clone(),
                    diff_id: l.diff_id.clone(),
                    media_type: l.desc.media_type.clone(),
                    size: l.desc.size,
                    unpacked_size: None,
                })
                .collect(),
            size: 42,
        })
        .unwrap()
}

/// `prune`, again while it reports its reclamation deferred (bounded).
fn prune_until_done(store: &Store) -> berth_image::Pruned {
    let mut p = store.prune().unwrap();
    for _ in 0..200 {
        if !p.reclaimed.deferred {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        let again = store.prune().unwrap();
        p.deleted.extend(again.deleted);
        p.reclaimed = again.reclaimed;
    }
    p
}

#[test]
fn records_tag_lookup_rootfs_remove_prune() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let base = layer(&tar_with(&[("base", b"b")]), GZIP);
    let top = layer(&tar_with(&[("top", b"t")]), GZIP);
    let other = layer(&tar_with(&[("other", b"o")]), ZSTD);
    let img = put(&store, Some("example.com/app:1"), &[&base, &top], "a");
    let img2 = put(&store, Some("example.com/other:1"), &[&base, &other], "b");

    assert_eq!(store.images().unwrap().len(), 2);
    assert_eq!(store.lookup("example.com/app:1").unwrap().id, img.id);
    assert_eq!(store.lookup(&img.id.to_string()).unwrap().id, img.id);
    assert_eq!(store.lookup(&img.id.hex()[..12]).unwrap().id, img.id);
    assert_eq!(store.lookup(img.config_digest.hex()).unwrap().id, img.id);
    assert!(store.lookup("nope:latest").is_err());

    let lowers = store.rootfs_for(&img).unwrap();
    assert_eq!(lowers.len(), 2);
    assert!(lowers[0].join("top").is_file() && lowers[1].join("base").is_file(), "top first");

    let tagged = store.tag("example.com/app:1", "example.com/app:latest").unwrap();
    assert_eq!(tagged.references, ["example.com/app:1", "example.com/app:latest"]);
    // By id with two references needs force.
    assert!(store.remove(&img.id.to_string(), false).is_err());
    let r = store.remove("example.com/app:latest", false).unwrap();
    assert_eq!((r.untagged.len(), r.deleted.len()), (1, 0));

    store.hold(&img.id, "ctr1").unwrap();
    assert!(matches!(
        store.remove("example.com/app:1", false),
        Err(berth_image::RecordError::InUse { .. })
    ));
    let r = store.remove("example.com/app:1", true).unwrap();
    assert!(r.deleted.is_empty(), "held: untagged only");
    assert!(store.prune().unwrap().deleted.is_empty(), "held dangling image kept");
    store.release("ctr1").unwrap();
    // Reclamation is deferred while any process holds the store's gc lock shared; a process
    // forked by another test of this binary holds a copy of such a descriptor until it execs.
    let p = prune_until_done(&store);
    assert_eq!(p.deleted, std::slice::from_ref(&img.id));
    // Base layer is shared with img2 and stays; top goes.
    let chains = chain_ids(&[base.diff_id.clone(), top.diff_id.clone()]);
    assert!(store.snapshot(&chains[0]).is_some() && store.snapshot(&chains[1]).is_none());
    assert!(store.has_blob(&base.desc.digest) && !store.has_blob(&top.desc.digest));
    assert_eq!((p.reclaimed.snapshots, p.reclaimed.blobs), (1, 2), "top layer + config");

    // A lease defers reclamation.
    let lease = store.lease().unwrap();
    let r = store.remove("example.com/other:1", false).unwrap();
    assert_eq!(r.deleted, std::slice::from_ref(&img2.id));
    assert!(r.reclaimed.deferred);
    drop(lease);
    let p = store.prune().unwrap();
    assert!(p.reclaimed.snapshots >= 2 && !p.reclaimed.deferred);
    assert!(std::fs::read_dir(dir.path().join("snapshots")).unwrap().next().is_none());
}

/// The config's `created` and each layer's unpacked size are recorded with the image;
/// a record from before they were (NULL) reads the config instead, and gets a layer's size
/// once it is recorded for its snapshot.
#[test]
fn config_created_and_unpacked_sizes_are_recorded_with_fallbacks_for_older_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let l = layer(&tar_with(&[("a", &[1; 300]), ("b", b"xy")]), GZIP);
    let created = r#"{"created":"2024-01-02T03:04:05.5Z","tag":"a"}"#;
    let img = put_config(&store, Some("x:1"), &[&l], "a", created);
    assert_eq!(img.config_created.as_deref(), Some("2024-01-02T03:04:05.5Z"));
    assert_eq!(img.layers[0].unpacked_size, Some(302));
    assert_eq!(store.snapshot_unpacked_size(&l.diff_id), Some(302));
    let none = put_config(&store, Some("x:2"), &[&l], "b", r#"{"created":7}"#);
    assert_eq!(none.config_created, None, "not a string: no creation time");

    // As an older berth left them: nothing recorded, no size file with the snapshot.
    let db = rusqlite::Connection::open(dir.path().join("store.db")).unwrap();
    db.execute_batch(
        "UPDATE images SET config_created = NULL; UPDATE layers SET unpacked_size = NULL",
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("snapshots").join(l.diff_id.hex()).join("unpacked-size"))
        .unwrap();
    let old = store.lookup("x:1").unwrap();
    assert_eq!(
        old.config_created.as_deref(),
        Some("2024-01-02T03:04:05.5Z"),
        "read from the config"
    );
    assert_eq!(old.layers[0].unpacked_size, None);
    assert_eq!(store.lookup("x:2").unwrap().config_created, None);
    store.record_unpacked_size(&l.diff_id, 302).unwrap();
    assert_eq!(store.lookup("x:1").unwrap().layers[0].unpacked_size, Some(302));
    // A new image on that snapshot takes the size another image's row has.
    let again = put_config(&store, Some("x:3"), &[&l], "c", "{}");
    assert_eq!(again.layers[0].unpacked_size, Some(302));
}

#[test]
fn put_image_refuses_missing_content() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let l = layer(&tar_with(&[("x", b"1")]), GZIP);
    let config = Digest::sha256_of(b"{}");
    store.ingest_blob(&config, None, &b"{}"[..]).unwrap();
    let rec = ImageRecord {
        reference: Some("x:1".into()),
        manifest_digest: Digest::sha256_of(b"m"),
        manifest_media_type: "m".into(),
        config_digest: config,
        platform: "linux/amd64".into(),
        layers: vec![LayerRecord {
            digest: l.desc.digest.clone(),
            diff_id: l.diff_id.clone(),
            media_type: GZIP.into(),
            size: l.desc.size,
            unpacked_size: None,
        }],
        size: 1,
    };
    assert!(matches!(store.put_image(&rec), Err(berth_image::RecordError::MissingContent { .. })));
    assert!(store.images().unwrap().is_empty());
}

#[test]
fn parallel_threads_ingest_one_layer_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let l = layer(&tar_with(&[("a", &[1u8; 100_000]), ("b", b"2")]), GZIP);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| ingest(&store, &l, &l.diff_id).unwrap());
        }
    });
    assert_eq!(std::fs::read_dir(dir.path().join("snapshots")).unwrap().count(), 1);
}

// ---- cross-process -------------------------------------------------------------------

/// A layer big enough that a child process is still busy with it when the parent looks.
fn big_layer() -> Layer {
    let files: Vec<(String, Vec<u8>)> = (0..64)
        .map(|i| (format!("d{}/f{i}", i % 4), vec![u8::try_from(i).unwrap(); 64 * 1024]))
        .collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    layer(&tar_with(&refs), GZIP)
}

/// Reader that hands out `limit` bytes then stalls forever (a hung download).
struct StallAfter<'a> {
    data: &'a [u8],
    limit: usize,
}
impl Read for StallAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.limit == 0 {
            std::thread::sleep(Duration::from_secs(3600));
        }
        let n = buf.len().min(self.limit).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.limit -= n;
        Ok(n)
    }
}

/// Runs inside the child processes; a no-op in a normal test run.
#[test]
fn child_entry() {
    let (Some(mode), Some(root)) =
        (std::env::var_os("BERTH_IMAGE_CHILD"), std::env::var_os("BERTH_IMAGE_ROOT"))
    else {
        return;
    };
    let store = Store::open(Path::new(&root)).unwrap();
    let l = big_layer();
    match mode.to_str().unwrap() {
        "ingest" => {
            ingest(&store, &l, &l.diff_id).unwrap();
        }
        "stall" => {
            let r = StallAfter { data: &l.blob, limit: l.blob.len() / 2 };
            let _ = store.ingest_layer(&l.desc, &l.diff_id, &l.diff_id, r);
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn child(mode: &str, root: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("BERTH_IMAGE_CHILD", mode)
        .env("BERTH_IMAGE_ROOT", root)
        .spawn()
        .unwrap()
}

#[test]
fn two_processes_ingest_the_same_layer() {
    let dir = tempfile::tempdir().unwrap();
    let kids: Vec<_> = (0..2).map(|_| child("ingest", dir.path())).collect();
    for mut k in kids {
        assert!(k.wait().unwrap().success());
    }
    let store = Store::open(dir.path()).unwrap();
    let l = big_layer();
    let snap = store.snapshot(&l.diff_id).unwrap();
    assert_eq!(std::fs::read(snap.path.join("d1/f5")).unwrap(), vec![5u8; 64 * 1024]);
    assert_eq!(std::fs::read_dir(dir.path().join("snapshots")).unwrap().count(), 1);
    assert!(tmp_files(dir.path()).is_empty());
}

#[test]
fn sigkill_mid_ingest_leaves_only_tmp_and_next_open_cleans() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = child("stall", dir.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait until the child is mid-layer: its work dir holds a partial unpack.
    loop {
        let busy = std::fs::read_dir(dir.path().join("tmp"))
            .map(|rd| {
                rd.flatten().any(|e| {
                    std::fs::read_dir(e.path()).map(|mut d| d.next().is_some()).unwrap_or(false)
                })
            })
            .unwrap_or(false);
        if busy {
            std::thread::sleep(Duration::from_millis(200));
            break;
        }
        assert!(Instant::now() < deadline, "child never started ingesting");
        std::thread::sleep(Duration::from_millis(20));
    }
    k.kill().unwrap(); // SIGKILL
    k.wait().unwrap();
    let l = big_layer();
    assert!(!tmp_files(dir.path()).is_empty(), "the killed child left work files");
    let store = Store::open(dir.path()).unwrap();
    assert!(tmp_files(dir.path()).is_empty(), "open swept the dead work dir");
    assert!(store.snapshot(&l.diff_id).is_none() && !store.has_blob(&l.desc.digest));
    ingest(&store, &l, &l.diff_id).unwrap();
}
