//! `berth` image commands against the real-registry fixture (tests/fixtures/registry):
//! `login`/`logout` with Basic and Bearer registries, `pull` output (`-q`, progress,
//! `--platform`), `image inspect`, `image prune`, `save`/`load` (docker-archive and
//! oci-archive, ours and skopeo's), `import`, and the errors: unknown tag or repository,
//! wrong credentials, unreachable registry, corrupt archive, digest mismatch. Each test has
//! its own store, run state and Docker config directory.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use berth_test_support::engine::Engine;
use berth_test_support::registry::{self, Fixture};
use berth_test_support::{require_container, Bundle, Output, TestCommand};

fn skopeo() -> Option<&'static str> {
    ["/usr/bin/skopeo", "/usr/local/bin/skopeo"].into_iter().find(|p| Path::new(p).exists())
}

/// One line on stderr, exit 125, nothing new in `berth images`.
fn fails_cleanly(env: &Engine, out: &Output, words: &str) {
    assert_eq!(out.code(), Some(125), "{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out}");
    assert!(out.stderr.to_lowercase().contains(words), "stderr names {words:?}: {out}");
    assert_eq!(env.images(), "", "no partial image");
}

/// Docker's `directory.Size`: each non-directory inode's `st_size` once.
fn walked_size(dir: &Path) -> u64 {
    fn walk(dir: &Path, seen: &mut std::collections::HashSet<u64>) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let mut total = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            if m.is_dir() {
                total += walk(&path, seen);
            } else if seen.insert(m.ino()) {
                total += m.size();
            }
        }
        total
    }
    walk(dir, &mut std::collections::HashSet::new())
}

fn login(env: &Engine, fx: &Fixture, host: &str, password: &str) -> Output {
    env.berth(["login", "-u", &fx.user, "-p", password, host])
}

#[test]
fn login_basic_then_pull_works_logout_then_pull_fails() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("images");
    let image = fx.basic.reference("busybox:latest");
    let anonymous = env.berth(["pull", "-q", &image]);
    fails_cleanly(&env, &anonymous, "unauthorized");
    let out = login(&env, fx, &fx.basic.host, &fx.password);
    out.success();
    assert!(out.stdout.contains("Login Succeeded"), "{out}");
    let config = env.path("docker/config.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&config).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "config.json is private");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert!(doc["auths"][&fx.basic.host]["auth"].is_string(), "{doc}");
    env.berth(["pull", "-q", &image]).success();
    env.berth(["rmi", &image]).success();
    let out = env.berth(["logout", &fx.basic.host]);
    out.success();
    assert!(out.stdout.contains("Removing login credentials"), "{out}");
    let again = env.berth(["pull", "-q", &image]);
    fails_cleanly(&env, &again, "unauthorized");
}

#[test]
fn login_bearer_with_password_stdin_pulls_a_private_image() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("images");
    let image = fx.bearer.reference("private/busybox:latest");
    fails_cleanly(&env, &env.berth(["pull", &image]), "unauthorized");
    let pw = env.path("pw");
    std::fs::write(&pw, format!("{}\n", fx.password)).unwrap();
    let out = env
        .command()
        .stdin(std::fs::File::open(&pw).unwrap())
        .args(["login", "-u", &fx.user, "--password-stdin", &fx.bearer.host])
        .output();
    out.success();
    env.berth(["pull", "-q", &image]).success();
    assert!(env.images().contains("private/busybox"));
    env.berth(["logout", &fx.bearer.host]).success();
    env.berth(["rmi", &image]).success();
    fails_cleanly(&env, &env.berth(["pull", &image]), "unauthorized");
}

#[test]
fn login_with_a_wrong_password_fails_unauthorized_and_stores_nothing() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("images");
    for r in [&fx.basic, &fx.bearer] {
        let out = login(&env, fx, &r.host, "wrong-password");
        assert_eq!(out.code(), Some(125), "{out}");
        assert!(out.stderr.contains("unauthorized"), "{out}");
        assert!(!out.stderr.contains("wrong-password"), "the password is not shown: {out}");
        assert!(!env.path("docker/config.json").exists(), "nothing stored");
    }
    let out = env.berth(["logout", &fx.basic.host]);
    out.success();
    assert!(out.stdout.contains("Not logged in"), "{out}");
}

#[test]
fn pull_quiet_prints_only_the_digest_and_plain_progress_otherwise() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("images");
    let image = fx.plain.reference("busybox:latest");
    let busybox = fx.image(registry::BUSYBOX).unwrap();
    let out = env.berth(["pull", "-q", &image]);
    out.success();
    assert_eq!(out.stdout, format!("{}\n", busybox.manifest.digest), "{out}");
    assert_eq!(out.stderr, "", "{out}");
    env.berth(["rmi", &image]).success();
    let out = env.berth(["pull", &image]);
    out.success();
    let short = &busybox.layers[0].blob.digest[7..19];
    assert!(out.stderr.contains(&format!("{short}: Pull complete")), "{out}");
    assert!(!out.stderr.contains('\x1b'), "no escapes without a terminal: {out}");
    let out = env.berth(["pull", &image]);
    assert!(out.stderr.contains(&format!("{short}: Already exists")), "{out}");
}

#[test]
fn pull_of_a_missing_platform_lists_the_available_ones() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("images");
    let image = fx.plain.reference(registry::BUSYBOX_MULTIARCH);
    let out = env.berth(["pull", "--platform", "linux/s390x", &image]);
    fails_cleanly(&env, &out, "linux/s390x");
    assert!(out.stderr.contains("linux/amd64") && out.stderr.contains("linux/arm64"), "{out}");
}

#[test]
fn pull_errors_unknown_tag_repository_unreachable_registry() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("images");
    let tag = env.berth(["pull", &fx.plain.reference("busybox:no-such-tag")]);
    fails_cleanly(&env, &tag, "busybox:no-such-tag");
    let repo = env.berth(["pull", &fx.plain.reference("no-such-repo:latest")]);
    fails_cleanly(&env, &repo, "no-such-repo");
    // Port 1 on loopback: nothing listens there.
    let down = env.berth(["pull", "127.0.0.1:1/busybox:latest"]);
    fails_cleanly(&env, &down, "127.0.0.1:1");
}

#[test]
fn image_inspect_is_docker_shaped() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("images");
    let image = fx.plain.reference("busybox:latest");
    let busybox = fx.image(registry::BUSYBOX).unwrap();
    env.berth(["pull", "-q", &image]).success();
    let out = env.berth(["image", "inspect", &image]);
    out.success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let i = &doc[0];
    assert_eq!(i["Id"], busybox.manifest.digest.as_str(), "{i}");
    assert_eq!(i["RepoTags"][0], image.as_str(), "{i}");
    let repo = image.rsplit_once(':').unwrap().0;
    assert_eq!(i["RepoDigests"][0], format!("{repo}@{}", busybox.manifest.digest), "{i}");
    assert_eq!(i["Os"], "linux", "{i}");
    assert!(i["Architecture"].is_string() && i["Created"].is_string(), "{i}");
    assert!(i["Config"].is_object(), "{i}");
    let layers: Vec<&str> =
        i["RootFS"]["Layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(layers, busybox.diff_ids(), "{i}");
    // Docker's Size is the unpacked one: the bytes the layer's snapshot holds, walked here.
    assert_eq!(busybox.layers.len(), 1, "one layer: its chain id is its diff id");
    let snapshot = env.path("data/images/snapshots").join(&busybox.layers[0].diff_id[7..]);
    let unpacked = walked_size(&snapshot.join("fs"));
    assert!(unpacked > busybox.compressed_size(), "{unpacked}");
    assert_eq!(i["Size"], unpacked, "{i}");
    // `images` agrees: the same size, and the config's creation time, not the pull's.
    let listed: serde_json::Value = serde_json::from_str(env.images().trim()).unwrap();
    assert_eq!(listed["Size"], unpacked, "{listed}");
    let created = Command::new("date")
        .args(["-u", "+%s", "-d", i["Created"].as_str().unwrap()])
        .output()
        .unwrap();
    let created: u64 = String::from_utf8(created.stdout).unwrap().trim().parse().unwrap();
    assert_eq!(listed["Created"], created, "{listed} {i}");
    let missing = env.berth(["image", "inspect", "no-such-image"]);
    assert_eq!(missing.code(), Some(125), "{missing}");
    assert!(missing.stderr.contains("no such image"), "{missing}");
}

#[test]
fn image_prune_removes_dangling_images_only() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("images");
    let a = fx.plain.reference("busybox:latest");
    let b = fx.plain.reference(registry::BUSYBOX_ZSTD);
    env.berth(["pull", "-q", &a]).success();
    let id = env.berth(["pull", "-q", &b]).success().stdout.trim().to_string();
    // Re-pointing the tag leaves the zstd image without a name: dangling.
    env.berth(["tag", &a, &b]).success();
    // The filters see it so: `dangling=true` lists only it, in full with --no-trunc.
    let dangling = env.berth(["images", "-q", "--no-trunc", "-f", "dangling=true"]);
    assert_eq!(dangling.stdout, format!("{id}\n"), "{dangling}");
    let named = env.berth(["images", "-q", "--no-trunc", "-f", "dangling=false"]);
    assert!(!named.stdout.contains(&id) && !named.stdout.is_empty(), "{named}");
    // A reference pattern (the name without its tag matches too), as a filter or positional;
    // only the matching tags' rows are shown.
    env.berth(["tag", &a, "localhost/other:v1"]).success();
    let rows = |args: &[&str]| {
        let out = env.berth(["images"].iter().chain(args).copied());
        out.success();
        out.stdout
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(&["localhost/other"]), ["localhost/other"]);
    assert_eq!(rows(&["-f", "reference=localhost/*:v1"]), ["localhost/other"]);
    assert_eq!(rows(&["-f", "reference=nothing*"]), Vec::<String>::new());
    let bad = env.berth(["images", "-f", "color=red"]);
    assert_eq!(bad.code(), Some(125), "{bad}");
    assert!(bad.stderr.contains("color=red") && bad.stderr.trim().lines().count() == 1, "{bad}");
    env.berth(["rmi", "localhost/other:v1"]).success();
    let out = env.berth(["image", "prune", "-f"]);
    out.success();
    assert!(out.stdout.contains(&format!("deleted: {id}")), "{out}");
    assert!(out.stdout.contains("Total reclaimed space"), "{out}");
    let left = env.images();
    assert!(!left.contains(&id), "{left}");
    assert!(left.contains(&a), "tagged images stay: {left}");
}

/// Pulls busybox, saves it in `format`, removes it and loads the archive back.
fn save_rmi_load(env: &Engine, fx: &Fixture, format: &str) -> String {
    let image = fx.plain.reference("busybox:latest");
    let id = env.berth(["pull", "-q", &image]).success().stdout.trim().to_string();
    let file = env.path(&format!("{format}.tar"));
    let f = file.display().to_string();
    env.berth(["save", "--format", format, "-o", &f, &image]).success();
    env.berth(["rmi", &image]).success();
    assert_eq!(env.images(), "");
    let out = env.berth(["load", "-i", &f]);
    out.success();
    assert!(out.stdout.contains(&format!("Loaded image: {image}")), "{out}");
    let _ = id;
    image
}

#[test]
fn save_docker_archive_and_load_it_back_then_run() {
    require_container!();
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("images");
    let image = save_rmi_load(&env, fx, "docker-archive");
    let list = tar_list(&env.path("docker-archive.tar"));
    assert!(list.iter().any(|n| n == "manifest.json"), "{list:?}");
    let busybox = fx.image(registry::BUSYBOX).unwrap();
    let diff = &busybox.layers[0].diff_id[7..];
    assert!(list.iter().any(|n| n == &format!("{diff}.tar")), "{list:?}");
    let out = env.run_image(&image, &["sh", "-c", "echo loaded"]);
    out.success();
    assert_eq!(out.stdout, "loaded\n", "{out}");
}

#[test]
fn save_oci_archive_keeps_the_manifest_digest_and_loads_back() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("images");
    let image = save_rmi_load(&env, fx, "oci-archive");
    let busybox = fx.image(registry::BUSYBOX).unwrap();
    let list = tar_list(&env.path("oci-archive.tar"));
    assert!(list.iter().any(|n| n == "oci-layout") && list.iter().any(|n| n == "index.json"));
    let inspect = env.berth(["image", "inspect", &image]);
    assert!(inspect.stdout.contains(&busybox.manifest.digest), "same image id: {inspect}");
}

fn tar_list(file: &Path) -> Vec<String> {
    let out = Command::new("tar").arg("-tf").arg(file).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

#[test]
fn load_archives_made_by_skopeo() {
    let fx = berth_test_support::require_registry!();
    let Some(skopeo) = skopeo() else {
        eprintln!("skip: skopeo is not installed");
        return;
    };
    let env = Engine::new("images");
    let src = format!("docker://{}", fx.plain.reference("busybox:latest"));
    for (format, name) in
        [("docker-archive", "skopeo/busybox:docker"), ("oci-archive", "skopeo/busybox:oci")]
    {
        let file = env.path(&format!("skopeo-{format}.tar"));
        let dest = format!("{format}:{}:{name}", file.display());
        let st = Command::new(skopeo)
            .args(["copy", "-q", "--src-tls-verify=false", &src, &dest])
            .status()
            .unwrap();
        assert!(st.success(), "skopeo copy to {format}");
        let out = env.berth(["load", "-i", &file.display().to_string()]);
        out.success();
        assert!(out.stdout.contains("Loaded image"), "{out}");
        assert!(env.berth(["image", "inspect", name]).code() == Some(0), "{name} is in the store");
    }
}

#[test]
fn load_refuses_corrupt_archives_and_digest_mismatches() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("images");
    let image = fx.plain.reference("busybox:latest");
    env.berth(["pull", "-q", &image]).success();
    let good = env.path("good.tar");
    env.berth(["save", "-o", &good.display().to_string(), &image]).success();
    env.berth(["rmi", &image]).success();
    // Truncated in the middle of the layer.
    let bytes = std::fs::read(&good).unwrap();
    let cut = env.path("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    fails_cleanly(&env, &env.berth(["load", "-i", &cut.display().to_string()]), "load");
    // Not an archive at all.
    let junk = env.path("junk.tar");
    std::fs::write(&junk, b"this is not a tar archive").unwrap();
    fails_cleanly(&env, &env.berth(["load", "-i", &junk.display().to_string()]), "load");
    // One byte of the layer changed: its diff id no longer matches the config.
    let dir = env.path("unpacked");
    std::fs::create_dir(&dir).unwrap();
    assert!(Command::new("tar")
        .arg("-xf")
        .arg(&good)
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap()
        .success());
    let layer = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "tar"))
        .unwrap();
    let mut data = std::fs::read(&layer).unwrap();
    let last = data.iter().rposition(|b| *b != 0).unwrap();
    data[last] ^= 0x20;
    std::fs::write(&layer, data).unwrap();
    let bad = env.path("bad.tar");
    assert!(Command::new("tar")
        .arg("-cf")
        .arg(&bad)
        .arg("-C")
        .arg(&dir)
        .arg(".")
        .status()
        .unwrap()
        .success());
    fails_cleanly(&env, &env.berth(["load", "-i", &bad.display().to_string()]), "diff id");
}

#[test]
fn import_a_rootfs_tarball_and_run_it() {
    require_container!();
    let env = Engine::new("images");
    let bundle = Bundle::new("images-import");
    let tarball = env.path("rootfs.tar.gz");
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(bundle.rootfs())
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let out = env.berth(["import", &tarball.display().to_string(), "localhost/imported:v1"]);
    out.success();
    let id = out.stdout.trim().to_string();
    assert!(id.starts_with("sha256:"), "{out}");
    let inspect = env.berth(["image", "inspect", "localhost/imported:v1"]);
    inspect.success();
    let doc: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(doc[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1, "{doc}");
    let run = env.run_image("localhost/imported:v1", &["sh", "-c", "echo imported"]);
    run.success();
    assert_eq!(run.stdout, "imported\n", "{run}");
    // From stdin, untagged.
    let out =
        env.command().stdin(std::fs::File::open(&tarball).unwrap()).args(["import", "-"]).output();
    out.success();
    assert!(out.stdout.trim().starts_with("sha256:"), "{out}");
    let dangling = env.berth(["images"]).success().stdout.clone();
    assert!(dangling.contains("<none>"), "an untagged import: {dangling}");
    let ids = env.berth(["images", "-q"]).success().stdout.clone();
    // A tarball whose entry leaves the root: refused by the store's unpacking, in one line
    // that names `import` and the file; nothing new in the store.
    let evil = env.path("evil.tar");
    let bytes = berth_test_support::tarfile::Tar::new().file(b"../evil", b"x", 0o644).end();
    std::fs::write(&evil, bytes).unwrap();
    let out = env.berth(["import", &evil.display().to_string(), "localhost/evil:v1"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.starts_with("berth: import "), "names the operation: {out}");
    assert!(out.stderr.contains("evil.tar"), "names the file: {out}");
    assert_eq!(env.berth(["images", "-q"]).success().stdout, ids, "nothing stored");
}

/// `podman` with its own store (vfs: no mounts on the host).
fn podman(env: &Engine, args: &[&str]) -> Output {
    let mut c = Command::new("podman");
    c.arg("--root")
        .arg(env.path("podman-root"))
        .arg("--runroot")
        .arg(env.path("podman-run"))
        .args(["--storage-driver", "vfs"]);
    TestCommand::new(c).args(args).output()
}

#[test]
fn podman_loads_our_archives_and_we_load_podmans() {
    let fx = berth_test_support::require_registry!();
    if !Path::new("/usr/bin/podman").exists() {
        eprintln!("skip: podman is not installed");
        return;
    }
    let env = Engine::new("images");
    let image = fx.plain.reference("busybox:latest");
    env.berth(["pull", "-q", &image]).success();
    for format in ["docker-archive", "oci-archive"] {
        let ours = env.path(&format!("ours-{format}.tar")).display().to_string();
        env.berth(["save", "--format", format, "-o", &ours, &image]).success();
        let out = podman(&env, &["load", "-i", &ours]);
        out.success();
        assert!(out.stdout.contains(&format!("Loaded image: {image}")), "{format}: {out}");
        let theirs = env.path(&format!("podman-{format}.tar")).display().to_string();
        podman(&env, &["save", "--format", format, "-o", &theirs, &image]).success();
        podman(&env, &["rmi", "-f", &image]).success();
        env.berth(["rmi", &image]).success();
        let out = env.berth(["load", "-i", &theirs]);
        out.success();
        assert!(out.stdout.contains("Loaded image"), "{format}: {out}");
        env.berth(["image", "inspect", &image]).success();
    }
}

/// Another `berth` opening the store while a `load` streams in must not sweep away the
/// load's unpacked archive (it lived directly under `tmp/`, where every store open removes
/// what no process holds; it is now in the loading process's own flock-held work dir).
#[test]
fn load_survives_another_berth_opening_the_store() {
    require_container!();
    let env = Engine::new("images-load-race");
    let bundle = Bundle::new("images-load-race");
    let tarball = env.path("rootfs.tar");
    let mut tar = Command::new("tar");
    tar.arg("-cf").arg(&tarball).arg("-C").arg(bundle.rootfs()).arg(".");
    assert!(tar.status().unwrap().success());
    env.berth(["import", &tarball.display().to_string(), "localhost/race:v1"]).success();
    let archive = env.path("race.tar");
    env.berth(["save", "-o", &archive.display().to_string(), "localhost/race:v1"]).success();
    env.berth(["rmi", "localhost/race:v1"]).success();
    let bytes = std::fs::read(&archive).unwrap();
    let mut load = env.command().args(["load"]).into_command();
    load.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = load.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, &bytes[..1024]).unwrap();
    // The load has made its scratch directory and waits for the rest of the archive.
    std::thread::sleep(std::time::Duration::from_millis(500));
    env.berth(["images"]).success();
    std::io::Write::write_all(&mut stdin, &bytes[1024..]).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(env.images().contains("localhost/race:v1"));
}
