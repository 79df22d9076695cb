//! `berth push` against the real-registry fixture (tests/fixtures/registry): an image pulled,
//! tagged into a new repository, pushed, removed and pulled back by its new name; a second
//! push (`Layer already exists`); a cross-repository mount; Basic and Bearer registries
//! before and after `login` (the token must grant push); a layer large enough to go up in
//! chunks, over TLS; `-q` and `-a`; and the errors: unknown local image, no credentials,
//! registry down. Each test has its own store and Docker config, pushes to repositories
//! named after its process and a counter, and deletes the tags it pushed in `Drop`.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use berth_test_support::engine::Engine;
use berth_test_support::registry::{self, Auth, Fixture, Image, Registry};
use berth_test_support::Output;

static N: AtomicU32 = AtomicU32::new(0);

/// A repository name no other test or run uses.
/// A repository name no earlier run used: the fixture's registries keep their data across
/// runs, and a deleted manifest leaves the repository's layer links, so a name reused (the
/// pid alone repeats once pids wrap) would find its layers "already exist".
fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = N.fetch_add(1, Ordering::SeqCst);
    format!("push-{}-{nanos:x}-{n}-{label}", std::process::id())
}

/// Deletes, when dropped, the manifests a test pushed, so the fixture's registries keep only
/// what they started with (blobs stay: the registry's garbage collector would reclaim them,
/// and they are the fixture's own layers).
struct Pushed<'a> {
    fx: &'a Fixture,
    tags: Vec<(&'a Registry, String, String)>,
}

impl<'a> Pushed<'a> {
    fn new(fx: &'a Fixture) -> Self {
        Pushed { fx, tags: Vec::new() }
    }

    /// `repository` on `reg` will hold the manifest `digest` (registered before the push, so
    /// that a failing assertion after it still cleans up).
    fn expect(&mut self, reg: &'a Registry, repository: &str, digest: &str) {
        self.tags.push((reg, repository.to_string(), digest.to_string()));
    }

    fn delete(&self, reg: &Registry, repository: &str, digest: &str) {
        let url = format!("{}/v2/{repository}/manifests/{digest}", reg.url);
        let mut curl = Command::new("curl");
        curl.args(["-sk", "-o", "/dev/null", "-X", "DELETE"]);
        let auth = format!("{}:{}", self.fx.user, self.fx.password);
        match &reg.auth {
            Auth::None => {}
            Auth::Basic { .. } => {
                curl.args(["-u", &auth]);
            }
            Auth::Bearer { realm, service } => {
                let scope = format!("repository:{repository}:delete");
                let token = Command::new("curl")
                    .args(["-sf", "-u", &auth, "-G", realm, "--data-urlencode"])
                    .arg(format!("service={service}"))
                    .args(["--data-urlencode", &format!("scope={scope}")])
                    .output();
                let token = token.ok().and_then(|o| {
                    let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
                    v["token"].as_str().map(str::to_string)
                });
                let Some(token) = token else { return };
                curl.args(["-H", &format!("Authorization: Bearer {token}")]);
            }
        }
        let _ = curl.arg(url).status();
    }
}

impl Drop for Pushed<'_> {
    fn drop(&mut self) {
        for (reg, repository, digest) in &self.tags {
            self.delete(reg, repository, digest);
        }
    }
}

/// The short id Docker's push shows for the image's only layer: its diff id.
fn layer_id(image: &Image) -> String {
    image.layers[0].diff_id[7..19].to_string()
}

/// Exit 125, one error line naming `words` (after, at most, Docker's `The push refers to
/// repository` line), and the store as it was.
fn push_fails(env: &Engine, out: &Output, words: &[&str], images_before: &str) {
    assert_eq!(out.code(), Some(125), "{out}");
    let lines: Vec<&str> = out.stderr.trim().lines().collect();
    let progress = lines.len() == 2 && lines[0].starts_with("The push refers to repository [");
    assert!(lines.len() == 1 || progress, "one error line: {out}");
    let error = lines[lines.len() - 1];
    assert!(error.starts_with("berth: push "), "{out}");
    for w in words {
        assert!(error.contains(w), "the error names {w:?}: {out}");
    }
    assert_eq!(env.images(), images_before, "nothing changed locally");
}

fn pull(env: &Engine, image: &str, flags: &[&str]) {
    let mut args = vec!["pull", "-q"];
    args.extend_from_slice(flags);
    args.push(image);
    env.berth(args).success();
}

#[test]
fn push_to_a_new_repository_then_pull_it_back_by_that_name_and_run_it() {
    berth_test_support::require_container!();
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("push");
    let busybox = fx.image(registry::BUSYBOX).unwrap();
    let source = fx.plain.reference(registry::BUSYBOX);
    let repository = format!("{}/busybox", unique("roundtrip"));
    let target = fx.plain.reference(&format!("{repository}:v1"));
    let mut pushed = Pushed::new(fx);
    pushed.expect(&fx.plain, &repository, &busybox.manifest.digest);
    pull(&env, &source, &[]);
    env.berth(["tag", &source, &target]).success();
    let out = env.berth(["push", &target]);
    out.success();
    let digest = &busybox.manifest.digest;
    assert_eq!(out.stdout, format!("v1: digest: {digest} size: {}\n", busybox.manifest.size));
    let repo_line = format!("The push refers to repository [{}/{repository}]", fx.plain.host);
    assert!(out.stderr.contains(&repo_line), "{out}");
    // The image came from `busybox` on the same registry: its layer is mounted from there.
    let mounted = format!("{}: Mounted from busybox", layer_id(busybox));
    assert!(out.stderr.contains(&mounted), "{out}");
    env.berth(["rmi", &target]).success();
    env.berth(["rmi", &source]).success();
    assert_eq!(env.images(), "", "nothing left locally");
    let out = env.berth(["pull", "-q", &target]);
    out.success();
    assert_eq!(out.stdout.trim(), digest.as_str(), "same manifest digest: {out}");
    let out = env.run_image(&target, &["echo", "pushed and pulled back"]);
    out.success();
    assert_eq!(out.stdout, "pushed and pulled back\n", "{out}");
}

#[test]
fn second_push_says_layer_already_exists_and_quiet_prints_the_reference() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("push");
    let busybox = fx.image(registry::BUSYBOX).unwrap();
    let source = fx.plain.reference(registry::BUSYBOX);
    let repository = unique("twice");
    let target = fx.plain.reference(&format!("{repository}:latest"));
    let mut pushed = Pushed::new(fx);
    pushed.expect(&fx.plain, &repository, &busybox.manifest.digest);
    pull(&env, &source, &[]);
    env.berth(["tag", &source, &target]).success();
    // Without its source reference there is nothing to mount from: a real upload.
    env.berth(["rmi", &source]).success();
    let out = env.berth(["push", &target]);
    out.success();
    assert!(out.stderr.contains(&format!("{}: Pushed", layer_id(busybox))), "{out}");
    let line =
        format!("latest: digest: {} size: {}\n", busybox.manifest.digest, busybox.manifest.size);
    assert_eq!(out.stdout, line, "{out}");
    let out = env.berth(["push", &target]);
    out.success();
    assert!(out.stderr.contains(&format!("{}: Layer already exists", layer_id(busybox))), "{out}");
    assert_eq!(out.stdout, line, "{out}");
    let out = env.berth(["push", "-q", &target]);
    out.success();
    assert_eq!(out.stdout, format!("{target}\n"), "{out}");
    assert_eq!(out.stderr, "", "{out}");
}

#[test]
fn push_all_tags_pushes_every_stored_tag_of_the_repository() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("push");
    let busybox = fx.image(registry::BUSYBOX).unwrap();
    let source = fx.plain.reference(registry::BUSYBOX);
    let repository = unique("alltags");
    let mut pushed = Pushed::new(fx);
    pushed.expect(&fx.plain, &repository, &busybox.manifest.digest);
    pull(&env, &source, &[]);
    for tag in ["a", "b"] {
        env.berth(["tag", &source, &fx.plain.reference(&format!("{repository}:{tag}"))]).success();
    }
    let name = fx.plain.reference(&repository);
    let out = env.berth(["push", "-a", &name]);
    out.success();
    let d = &busybox.manifest.digest;
    let size = busybox.manifest.size;
    assert_eq!(out.stdout, format!("a: digest: {d} size: {size}\nb: digest: {d} size: {size}\n"));
    let out = env.berth(["push", "-a", &format!("{name}:a")]);
    push_fails(&env, &out, &["--all-tags"], &env.images());
}

#[test]
fn push_to_basic_fails_unauthorized_until_login() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("push");
    let busybox = fx.image(registry::BUSYBOX).unwrap();
    let source = fx.plain.reference(registry::BUSYBOX);
    let repository = format!("{}/busybox", unique("basic"));
    let target = fx.basic.reference(&format!("{repository}:v1"));
    let mut pushed = Pushed::new(fx);
    pushed.expect(&fx.basic, &repository, &busybox.manifest.digest);
    pull(&env, &source, &[]);
    env.berth(["tag", &source, &target]).success();
    let before = env.images();
    let out = env.berth(["push", &target]);
    push_fails(&env, &out, &["push ", &target, "unauthorized", &fx.basic.host], &before);
    env.berth(["login", "-u", &fx.user, "-p", &fx.password, &fx.basic.host]).success();
    let out = env.berth(["push", &target]);
    out.success();
    assert!(out.stderr.contains(&format!("{}: Pushed", layer_id(busybox))), "{out}");
    env.berth(["rmi", &target]).success();
    let out = env.berth(["pull", "-q", &target]);
    out.success();
    assert_eq!(out.stdout.trim(), busybox.manifest.digest, "{out}");
}

#[test]
fn push_to_bearer_asks_the_token_server_for_push_and_mounts_with_login() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("push");
    let busybox = fx.image(registry::BUSYBOX).unwrap();
    // Anonymous pull is allowed here, push is not.
    let source = fx.bearer.reference(registry::BUSYBOX);
    let repository = format!("{}/busybox", unique("bearer"));
    let target = fx.bearer.reference(&format!("{repository}:v1"));
    let mut pushed = Pushed::new(fx);
    pushed.expect(&fx.bearer, &repository, &busybox.manifest.digest);
    pull(&env, &source, &[]);
    env.berth(["tag", &source, &target]).success();
    let before = env.images();
    let out = env.berth(["push", &target]);
    push_fails(&env, &out, &["push ", &target, "unauthorized", &fx.bearer.host], &before);
    let pw = env.path("pw");
    std::fs::write(&pw, format!("{}\n", fx.password)).unwrap();
    env.command()
        .stdin(std::fs::File::open(&pw).unwrap())
        .args(["login", "-u", &fx.user, "--password-stdin", &fx.bearer.host])
        .output()
        .success();
    // One token for push here and pull on `busybox`: the mount needs both.
    let out = env.berth(["push", &target]);
    out.success();
    assert!(out.stderr.contains(&format!("{}: Mounted from busybox", layer_id(busybox))), "{out}");
    assert!(out.stdout.contains(&busybox.manifest.digest), "{out}");
}

#[test]
fn a_layer_over_the_chunk_size_goes_up_in_chunks_over_tls() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("push");
    let debian = fx.image(registry::DEBIAN).unwrap();
    assert!(debian.layers[0].blob.size > 2 * (8 << 20), "debian's layer spans chunks");
    let source = fx.plain.reference(registry::DEBIAN);
    let repository = unique("chunks");
    let target = fx.tls.reference(&format!("{repository}:slim"));
    let mut pushed = Pushed::new(fx);
    pushed.expect(&fx.tls, &repository, &debian.manifest.digest);
    pull(&env, &source, &[]);
    env.berth(["tag", &source, &target]).success();
    env.berth(["rmi", &source]).success();
    // A loopback registry is plain http unless berth.toml lists it: https, unverified.
    let config = env.path("berth.toml");
    std::fs::write(&config, format!("[registries]\ninsecure = [\"{}\"]\n", fx.tls.host)).unwrap();
    let berth = |args: &[&str]| {
        env.command().env("BERTH_CONFIG", &config.display().to_string()).args(args).output()
    };
    let out = berth(&["push", &target]);
    out.success();
    assert!(out.stderr.contains(&format!("{}: Pushed", layer_id(debian))), "{out}");
    let log = fx.state_path.parent().unwrap().join("run/tls.log");
    let log = std::fs::read_to_string(log).unwrap();
    let patches = log
        .lines()
        .filter(|l| l.contains(&format!("\"PATCH /v2/{repository}/blobs/uploads/")))
        .count();
    let want = debian.layers[0].blob.size.div_ceil(8 << 20);
    assert_eq!(patches as u64, want, "one PATCH per 8 MiB chunk");
    env.berth(["rmi", &target]).success();
    let out = berth(&["pull", "-q", &target]);
    out.success();
    assert_eq!(out.stdout.trim(), debian.manifest.digest, "{out}");
}

#[test]
fn push_errors_are_one_line_exit_1_and_change_nothing() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("push");
    let missing = fx.plain.reference(&format!("{}:v1", unique("missing")));
    let out = env.berth(["push", &missing]);
    push_fails(&env, &out, &[&format!("push {missing}: no such image")], "");
    let source = fx.plain.reference(registry::BUSYBOX);
    pull(&env, &source, &[]);
    // Port 1 on loopback: nothing listens, the connection is refused.
    let down = "127.0.0.1:1/berth-push-test:v1";
    env.berth(["tag", &source, down]).success();
    let before = env.images();
    let out = env.berth(["push", down]);
    push_fails(&env, &out, &[&format!("push {down}: "), "127.0.0.1:1", "connect"], &before);
    let digest = format!(
        "{}@{}",
        fx.plain.reference("busybox"),
        fx.image(registry::BUSYBOX).unwrap().manifest.digest
    );
    let out = env.berth(["push", &digest]);
    push_fails(&env, &out, &["digest reference"], &before);
    let out = env.berth(["push", "-a", &fx.plain.reference(&unique("none"))]);
    push_fails(&env, &out, &["no such image"], &before);
    // A layer blob gone from the store (by hand: berth keeps every blob an image names).
    let layer = &fx.image(registry::BUSYBOX).unwrap().layers[0].blob.digest;
    let blob = env.path("data/images/blobs/sha256").join(&layer[7..]);
    std::fs::remove_file(&blob).unwrap();
    let target = fx.plain.reference(&format!("{}:v1", unique("lost")));
    env.berth(["tag", &source, &target]).success();
    let before = env.images();
    let out = env.berth(["push", &target]);
    let words = [target.as_str(), layer.as_str(), "not in the local store"];
    push_fails(&env, &out, &words, &before);
}
