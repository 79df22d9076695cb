//! `berth pull` killed with SIGKILL, at each of its fault points (`BERTH_ENGINE_FAULT`,
//! crates/engine/src/fault.rs) and at a random instant in the middle of a big layer, and two
//! pulls of one image at once. After a kill `berth images` tells the truth (no image), every
//! blob in the store hashes to its name, the next command that opens the store (`pull`,
//! `images`, `image prune`) removes the dead pull's temp files, `image prune` its orphaned
//! blobs and snapshots, and a second pull works and its image runs.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_test_support::engine::Engine;
use berth_test_support::registry;
use berth_test_support::require_container;
use sha2::{Digest as _, Sha256};

/// The pull points of `crates/engine/src/fault.rs`, in the order a pull passes them.
const PULL_POINTS: [&str; 5] = [
    "pull-after-config",
    "pull-layer-partial",
    "pull-layer-verified",
    "pull-layer-blob-published",
    "pull-before-record",
];

/// Points where the dead pull leaves files in its work dir (a layer in progress).
const LEAVES_WORK_FILES: [&str; 3] =
    ["pull-layer-partial", "pull-layer-verified", "pull-layer-blob-published"];

fn store(env: &Engine) -> PathBuf {
    env.path("data/images")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Every file under `blobs/sha256/` hashes to its name: nothing unverified is visible.
fn assert_blobs_verify(store: &Path, when: &str) {
    for blob in entries(&store.join("blobs/sha256")) {
        let data = std::fs::read(&blob).unwrap();
        let name = blob.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(format!("{:x}", Sha256::digest(&data)), name, "{when}: unverified blob");
    }
}

/// Files inside the work dirs under `tmp/` (a live or dead pull's half-done work).
fn work_files(store: &Path) -> Vec<PathBuf> {
    entries(&store.join("tmp")).iter().flat_map(|w| entries(w)).collect()
}

/// (blobs, snapshots) in the store.
fn content(store: &Path) -> (usize, usize) {
    (entries(&store.join("blobs/sha256")).len(), entries(&store.join("snapshots")).len())
}

fn image_count(env: &Engine) -> usize {
    env.images().lines().filter(|l| !l.trim().is_empty()).count()
}

#[test]
fn pull_killed_at_each_fault_point_leaves_no_image_and_the_next_pull_works() {
    require_container!();
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("pull-kill");
    let image = fx.plain.reference(registry::BUSYBOX);
    let store = store(&env);
    for (i, point) in PULL_POINTS.into_iter().enumerate() {
        let out = env.command().env("BERTH_ENGINE_FAULT", point).args(["pull", &image]).output();
        assert_eq!(out.code(), None, "{point}: killed by SIGKILL: {out}");
        assert_blobs_verify(&store, point);
        if LEAVES_WORK_FILES.contains(&point) {
            assert!(!work_files(&store).is_empty(), "{point}: the kill left work files");
        }
        // Any command that opens the store sweeps the dead pull's work dir: half the points
        // check that `image prune` also reclaims its content, the others `images` first.
        if i % 2 == 0 {
            env.berth(["image", "prune", "-f"]).success();
            assert_eq!(work_files(&store), Vec::<PathBuf>::new(), "{point}: prune swept tmp");
            assert_eq!(content(&store), (0, 0), "{point}: prune reclaimed the dead pull's content");
        }
        assert_eq!(env.images(), "", "{point}: no image after the kill");
        assert_eq!(work_files(&store), Vec::<PathBuf>::new(), "{point}: images swept tmp");
        env.berth(["pull", "-q", &image]).success();
        assert_eq!(work_files(&store), Vec::<PathBuf>::new(), "{point}: pull swept tmp");
        assert_blobs_verify(&store, point);
        let run = env.run_image(&image, &["echo", "ran"]);
        run.success();
        assert_eq!(run.stdout, "ran\n", "{point}: {run}");
        env.berth(["rmi", &image]).success();
        assert_eq!(content(&store), (0, 0), "{point}: rmi reclaimed everything");
    }
}

/// A number in 0..n that differs from run to run (no rand crate for one number).
fn random_below(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    u64::from(nanos.subsec_nanos()) % n
}

/// Bytes of the biggest file in the store's work dirs (a layer's temp blob).
fn biggest_work_file(store: &Path) -> u64 {
    let layer_files = work_files(store).into_iter().flat_map(|d| entries(&d));
    layer_files.filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).max().unwrap_or(0)
}

#[test]
fn pull_killed_at_a_random_instant_mid_layer_leaves_no_image_and_the_next_pull_works() {
    require_container!();
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("pull-kill-random");
    let image = fx.plain.reference(registry::DEBIAN);
    let store = store(&env);
    let mut child = env
        .command()
        .args(["pull", "-q", &image])
        .into_command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the layer's temp blob to pass 1 MiB (of ~28), then a random 0–300 ms more.
    let deadline = Instant::now() + Duration::from_secs(60);
    while biggest_work_file(&store) < 1 << 20 {
        assert!(child.try_wait().unwrap().is_none(), "the pull ended before it was killed");
        assert!(Instant::now() < deadline, "the pull never started the layer");
        std::thread::sleep(Duration::from_millis(5));
    }
    let delay = random_below(300);
    std::thread::sleep(Duration::from_millis(delay));
    assert!(child.try_wait().unwrap().is_none(), "the pull ended within {delay} ms: too fast");
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("killed {delay} ms after 1 MiB of the layer");
    assert_blobs_verify(&store, "after the kill");
    assert!(!work_files(&store).is_empty(), "the kill left the half layer in tmp");
    // The next pull sweeps the dead pull's work dir first thing.
    env.berth(["pull", "-q", &image]).success();
    assert_eq!(work_files(&store), Vec::<PathBuf>::new(), "the next pull swept tmp");
    assert_eq!(image_count(&env), 1, "{}", env.images());
    assert_blobs_verify(&store, "after the second pull");
    let run = env.run_image(&image, &["cat", "/etc/debian_version"]);
    run.success();
    assert!(run.stdout.starts_with("12."), "{run}");
}

#[test]
fn two_pulls_of_one_image_at_once_end_with_one_copy() {
    require_container!();
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("pull-twice");
    let image = fx.plain.reference(registry::DEBIAN);
    let debian = fx.image(registry::DEBIAN).unwrap();
    let store = store(&env);
    let pulls: Vec<_> = (0..2)
        .map(|_| {
            let mut c = env.command().args(["pull", "-q", &image]).into_command();
            c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for p in pulls {
        let out = p.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(text.trim(), debian.manifest.digest, "both print the image id");
    }
    assert_eq!(image_count(&env), 1, "one image: {}", env.images());
    // config + manifest + the layers, each once; one snapshot per layer
    let layers = debian.layers.len();
    assert_eq!(content(&store), (2 + layers, layers), "one copy of the content");
    assert_eq!(work_files(&store), Vec::<PathBuf>::new(), "no temp files");
    assert_blobs_verify(&store, "after both pulls");
    let run = env.run_image(&image, &["cat", "/etc/debian_version"]);
    run.success();
}
