//! Layer unpack throughput: berth's one-pass ingest of a generated gzip layer against GNU
//! `tar -xzf` of the same file into the same filesystem, in one run.
//!
//! The layer (about 5,000 files, ~130 MB of tar, ~50 MB gzip, compressibility close to a
//! Debian rootfs) is generated once into `$BERTH_BENCH_DIR` (default: the temp dir), and every
//! unpack goes to a fresh directory there. Use `BERTH_BENCH_DIR=/dev/shm` to compare on tmpfs.
//! Throughput is in bytes of uncompressed tar.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_image::{Digest, LayerDesc, Store};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// xorshift64*: deterministic content without a rand dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// File content: runs of random bytes mixed with repeated words, ~2.6:1 under gzip -6.
fn content(rng: &mut Rng, len: usize) -> Vec<u8> {
    const WORDS: [&[u8]; 8] = [
        b"lib",
        b"usr/share/",
        b"\x00\x00\x00\x00",
        b"ELF",
        b"debian ",
        b"config=",
        b"\n",
        b"0x7f",
    ];
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let r = rng.next();
        if r % 10 < 2 {
            let n = usize::try_from(r % 12).unwrap_or(0) + 4;
            out.extend((0..n).map(|_| rng.next().to_le_bytes()[0]));
        } else {
            out.extend_from_slice(WORDS[usize::try_from((r >> 8) % 8).unwrap_or(0)]);
        }
    }
    out.truncate(len);
    out
}

struct Layer {
    path: PathBuf,
    desc: LayerDesc,
    diff_id: Digest,
    tar_len: u64,
}

fn generate(dir: &Path) -> Layer {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut b = tar::Builder::new(Vec::new());
    for d in 0..200 {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path(format!("usr/lib/pkg{d}/")).expect("short path");
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, std::io::empty()).expect("in-memory tar");
        for f in 0..25 {
            // Mostly small files, a few large ones, as in a distribution rootfs.
            let len = match rng.next() % 100 {
                0..=59 => usize::try_from(rng.next() % 4096).unwrap_or(0),
                60..=94 => usize::try_from(rng.next() % 65536).unwrap_or(0),
                _ => usize::try_from(rng.next() % (512 << 10)).unwrap_or(0),
            };
            let data = content(&mut rng, len);
            let mut h = tar::Header::new_ustar();
            h.set_path(format!("usr/lib/pkg{d}/file{f}.so")).expect("short path");
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            h.set_cksum();
            b.append(&h, data.as_slice()).expect("in-memory tar");
        }
    }
    let tar = b.into_inner().expect("in-memory tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&tar).expect("in-memory gzip");
    let blob = gz.finish().expect("in-memory gzip");
    let path = dir.join("berth-bench-layer.tar.gz");
    std::fs::write(&path, &blob).expect("write the bench layer");
    let desc = LayerDesc {
        digest: Digest::sha256_of(&blob),
        size: blob.len() as u64,
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
    };
    Layer { path, desc, diff_id: Digest::sha256_of(&tar), tar_len: tar.len() as u64 }
}

fn bench(c: &mut Criterion) {
    let base = std::env::var_os("BERTH_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let work = tempfile::tempdir_in(&base).expect("bench dir");
    let layer = generate(work.path());
    eprintln!(
        "layer: {:.1} MB gzip, {:.1} MB tar, in {}",
        layer.desc.size as f64 / 1e6,
        layer.tar_len as f64 / 1e6,
        base.display()
    );
    let mut g = c.benchmark_group("unpack");
    g.throughput(Throughput::Bytes(layer.tar_len))
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));

    // berth, the pull path: hash + store the blob (fsync), inflate, hash, unpack, publish.
    g.bench_function("berth_ingest_layer", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let root = tempfile::tempdir_in(work.path()).expect("store dir");
                let store = Store::open(root.path()).expect("open store");
                let file = std::fs::File::open(&layer.path).expect("layer");
                let t = Instant::now();
                store
                    .ingest_layer(&layer.desc, &layer.diff_id, &layer.diff_id, file)
                    .expect("ingest");
                total += t.elapsed();
            }
            total
        });
    });

    // GNU tar (with gzip as its child process: two cores, like berth's two threads).
    g.bench_function("gnu_tar_xzf", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dest = tempfile::tempdir_in(work.path()).expect("tar dir");
                let t = Instant::now();
                let ok = Command::new("tar")
                    .arg("-xzf")
                    .arg(&layer.path)
                    .arg("-C")
                    .arg(dest.path())
                    .status()
                    .expect("run tar");
                total += t.elapsed();
                assert!(ok.success(), "tar failed");
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
