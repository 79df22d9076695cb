//! Disk full: `berth pull` into a store on a small tmpfs, and `berth run` with its data dir
//! full. Each fails with one line naming the operation, the path and ENOSPC, exit 125, and
//! leaves nothing half-written: no image, no container record, no temp files; once space is
//! freed the same command works.
//!
//! Each test re-executes itself under `unshare --mount --propagation private` and mounts its
//! tmpfs there, on its engine's data dir: the host's mount table never sees it, and the
//! mount goes away with the namespace even if the test dies.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_test_support::engine::Engine;
use berth_test_support::registry;
use berth_test_support::{require, require_container, Output};

const INSIDE: &str = "BERTH_DISK_FULL_INSIDE";
/// The mount namespace of the outer run, which the inner run checks it has left.
const OUTER_NS: &str = "BERTH_DISK_FULL_OUTER_MNTNS";
const NO_SPACE: &str = "No space left on device (os error 28)";

fn mnt_ns() -> PathBuf {
    std::fs::read_link("/proc/self/ns/mnt").unwrap()
}

/// True inside the private mount namespace; otherwise runs `test` there and returns false.
fn inside(test: &str) -> bool {
    if std::env::var(INSIDE).as_deref() == Ok(test) {
        let outer = std::env::var_os(OUTER_NS).map(PathBuf::from);
        assert!(outer.is_some_and(|o| o != mnt_ns()), "not in a private mount namespace");
        return true;
    }
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INSIDE, test)
        .env(OUTER_NS, mnt_ns())
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    assert!(out.status.success(), "{test} failed in its mount namespace");
    assert!(text.contains("1 passed"), "{test} did not run in its mount namespace");
    false
}

/// A tmpfs of the test's private mount namespace; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        mount(&["-t", "tmpfs", "-o", &format!("size={size},mode=0711"), "tmpfs"], dir);
        Tmpfs(dir.to_owned())
    }

    fn resize(&self, size: &str) {
        mount(&["-o", &format!("remount,size={size}")], &self.0);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("--lazy").arg(&self.0).status();
    }
}

fn mount(args: &[&str], dir: &Path) {
    let st = Command::new("mount").args(args).arg(dir).status().unwrap();
    assert!(st.success(), "mount {args:?} {}", dir.display());
}

/// One line on stderr naming `op`, `path` and ENOSPC; exit 125.
fn fails_with_enospc(out: &Output, op: &str, path: &Path) {
    eprintln!("expected failure: {}", out.stderr.trim());
    assert_eq!(out.code(), Some(125), "{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out}");
    assert!(out.stderr.contains(op), "names the operation {op:?}: {out}");
    assert!(out.stderr.contains(&path.display().to_string()), "names a path under {path:?}: {out}");
    assert!(out.stderr.contains(NO_SPACE), "says ENOSPC: {out}");
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Files inside the store's work dirs (half-written layers).
fn work_files(data: &Path) -> Vec<PathBuf> {
    entries(&data.join("images/tmp")).iter().flat_map(|w| entries(w)).collect()
}

#[test]
fn pull_into_a_full_store_fails_with_enospc_and_a_later_pull_works() {
    require!(root, unshare);
    let fx = berth_test_support::require_registry!();
    if !inside("pull_into_a_full_store_fails_with_enospc_and_a_later_pull_works") {
        return;
    }
    let env = Engine::new("disk-full-pull");
    let data = env.path("data");
    // debian is ~28 MB compressed and ~77 MB unpacked: far more than 24 MiB.
    let fs = Tmpfs::mount(&data, "24m");
    // busybox (~1 MB) fits and is listed before and after the failed pull.
    env.berth(["pull", "-q", &fx.plain.reference(registry::BUSYBOX)]).success();
    let before = env.images();
    let image = fx.plain.reference(registry::DEBIAN);
    let out = env.berth(["pull", "-q", &image]);
    fails_with_enospc(&out, &format!("pull {image}"), &data);
    assert_eq!(env.images(), before, "the image list is unchanged");
    assert_eq!(work_files(&data), Vec::<PathBuf>::new(), "no half-written layer");
    fs.resize("512m");
    env.berth(["pull", "-q", &image]).success();
    assert!(env.images().contains(&image), "{}", env.images());
    assert_eq!(work_files(&data), Vec::<PathBuf>::new(), "no temp files");
}

/// Writes zeros into `path` until the filesystem is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 1 << 16];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("fill {}: {e}", path.display()),
        }
    }
}

#[test]
fn run_with_a_full_data_dir_fails_with_enospc_and_leaves_no_record() {
    require_container!(unshare);
    let fx = berth_test_support::require_registry!();
    if !inside("run_with_a_full_data_dir_fails_with_enospc_and_leaves_no_record") {
        return;
    }
    let env = Engine::new("disk-full-run");
    let data = env.path("data");
    let _fs = Tmpfs::mount(&data, "64m");
    let image = fx.plain.reference(registry::BUSYBOX);
    env.berth(["pull", "-q", &image]).success();
    let filler = data.join("filler");
    fill(&filler);
    let out = env.run_image(&image, &["echo", "ran"]);
    fails_with_enospc(&out, "", &data);
    std::fs::remove_file(&filler).unwrap();
    let ps = env.berth(["ps", "-aq"]);
    assert_eq!(ps.success().stdout, "", "no container record");
    assert_eq!(entries(&data.join("containers")), Vec::<PathBuf>::new(), "no container dir");
    let run = env.run_image(&image, &["echo", "ran"]);
    run.success();
    assert_eq!(run.stdout, "ran\n", "{run}");
}

#[test]
fn run_with_a_full_run_dir_fails_with_enospc_and_leaves_no_record() {
    require_container!(unshare);
    let fx = berth_test_support::require_registry!();
    if !inside("run_with_a_full_run_dir_fails_with_enospc_and_leaves_no_record") {
        return;
    }
    let env = Engine::new("disk-full-rundir");
    let image = fx.plain.reference(registry::BUSYBOX);
    env.berth(["pull", "-q", &image]).success();
    let run_dir = env.path("run");
    let _fs = Tmpfs::mount(&run_dir, "4m");
    let filler = run_dir.join("filler");
    fill(&filler);
    let out = env.run_image(&image, &["echo", "ran"]);
    fails_with_enospc(&out, "", &run_dir);
    std::fs::remove_file(&filler).unwrap();
    let ps = env.berth(["ps", "-aq"]);
    assert_eq!(ps.success().stdout, "", "no container record");
    assert_eq!(entries(&env.path("data/containers")), Vec::<PathBuf>::new(), "no container dir");
    let run = env.run_image(&image, &["echo", "ran"]);
    run.success();
    assert_eq!(run.stdout, "ran\n", "{run}");
}
