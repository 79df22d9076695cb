//! `berth.toml` (`BERTH_CONFIG`) against the registry fixture: a mirror that is down falls
//! through to the registry with its reason kept, a plain-http mirror serves a registry name
//! that does not exist, `insecure` reaches the TLS registry without its CA and the plain one
//! over http after https fails, and a bad file is one error line naming the file and line.
//! The user's file (`$XDG_CONFIG_HOME/berth/berth.toml`, else `~/.config/…`) is read
//! without `BERTH_CONFIG` and ignored with it; how it layers over `/etc/berth/berth.toml` is
//! tested in `crates/engine/src/config.rs` (a test must not write `/etc`).

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use berth_test_support::engine::Engine;
use berth_test_support::registry;
use berth_test_support::{Output, TestCommand};

/// Writes `text` as the engine's berth.toml.
fn config(env: &Engine, text: &str) -> PathBuf {
    let path = env.path("berth.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn berth_with(env: &Engine, config: &std::path::Path, args: &[&str]) -> Output {
    let c: TestCommand = env.command().env("BERTH_CONFIG", &config.display().to_string());
    c.args(args).output()
}

#[test]
fn a_mirror_that_is_down_falls_through_to_the_registry_with_the_reason_kept() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("toml-mirror-down");
    // Port 1 on loopback: nothing listens there.
    let file = config(
        &env,
        &format!("[registries.mirrors]\n\"{}\" = [\"http://127.0.0.1:1\"]\n", fx.plain.host),
    );
    let image = fx.plain.reference(registry::BUSYBOX);
    let out = berth_with(&env, &file, &["pull", "-q", &image]);
    out.success();
    assert_eq!(out.stdout.trim(), fx.image(registry::BUSYBOX).unwrap().manifest.digest);
    assert_eq!(out.stderr.lines().filter(|l| l.starts_with("warning: ")).count(), 1, "{out}");
    assert!(out.stderr.contains("http://127.0.0.1:1/v2/busybox/manifests/latest"), "{out}");
    assert!(out.stderr.contains("Connection refused"), "the reason is kept: {out}");
    assert!(out.stderr.contains(&format!("used http://{}", fx.plain.host)), "{out}");
    // When the registry fails too, its error comes with the mirror's.
    let missing = fx.plain.reference("busybox:no-such-tag");
    let out = berth_with(&env, &file, &["pull", "-q", &missing]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out}");
    assert!(out.stderr.contains("after fetch manifest"), "{out}");
    assert!(out.stderr.contains("Connection refused") && out.stderr.contains("404"), "{out}");
}

#[test]
fn a_plain_http_mirror_serves_a_registry_name_that_does_not_exist() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("toml-mirror-name");
    // `.invalid` never resolves (RFC 2606): only the mirror can serve these. The second
    // registry's mirror has a path, put before the repository: library/busybox.
    let file = config(
        &env,
        &format!(
            "[registries.mirrors]\n\"registry.invalid:5000\" = [\"http://{0}\"]\n\
             \"hub.invalid\" = [\"http://{0}/library\"]\n",
            fx.plain.host
        ),
    );
    let digest = &fx.image(registry::BUSYBOX).unwrap().manifest.digest;
    for image in ["registry.invalid:5000/busybox:latest", "hub.invalid/busybox:latest"] {
        let out = berth_with(&env, &file, &["pull", "-q", image]);
        out.success();
        assert_eq!(&out.stdout.trim(), digest, "{image}: {out}");
        assert_eq!(out.stderr, "", "{image}: no warning, the mirror served: {out}");
        let images = berth_with(&env, &file, &["images"]);
        let repo = image.rsplit_once(':').unwrap().0;
        assert!(images.stdout.contains(repo), "{images}");
    }
}

#[test]
fn insecure_reaches_tls_without_its_ca_and_plain_http_after_https_fails() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("toml-insecure");
    let tls = fx.tls.reference(registry::BUSYBOX);
    let plain = fx.plain.reference(registry::BUSYBOX);
    // A loopback registry is plain http by default: the TLS one refuses that.
    let empty = config(&env, "");
    assert_eq!(berth_with(&env, &empty, &["pull", "-q", &tls]).code(), Some(125));
    let file = config(
        &env,
        &format!("[registries]\ninsecure = [\"{}\", \"{}\"]\n", fx.tls.host, fx.plain.host),
    );
    let out = berth_with(&env, &file, &["pull", "-q", &tls]);
    out.success();
    assert_eq!(out.stderr, "", "https without verification, no fallback: {out}");
    let out = berth_with(&env, &file, &["pull", "-q", &plain]);
    out.success();
    assert!(out.stderr.contains(&format!("https://{}", fx.plain.host)), "{out}");
    assert!(out.stderr.contains(&format!("used http://{}", fx.plain.host)), "{out}");
    let images = berth_with(&env, &file, &["images", "-q"]);
    assert_eq!(images.stdout.lines().count(), 1, "the same busybox twice: {images}");
}

#[test]
fn a_bad_berth_toml_is_one_error_naming_the_file_and_the_line() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("toml-bad");
    let image = fx.plain.reference(registry::BUSYBOX);
    for (text, words) in [
        ("[registries]\n\ninsecure = [\"a:1\", 7]\n", "line 3"),
        ("[registries]\nmirror = {}\n", "unknown field `mirror`"),
        ("[registries.mirrors]\n\"docker.io\" = [\"ftp://m:21\"]\n", "\"ftp\""),
    ] {
        let file = config(&env, text);
        let out = berth_with(&env, &file, &["pull", "-q", &image]);
        assert_eq!(out.code(), Some(125), "{out}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out}");
        let named = format!("config file {}, line ", file.display());
        assert!(out.stderr.contains(&named), "names the file and line: {out}");
        assert!(out.stderr.contains(words), "{words}: {out}");
    }
    let missing = env.path("no-such.toml");
    let out = berth_with(&env, &missing, &["pull", "-q", &image]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains(&format!("read config file {}", missing.display())), "{out}");
    assert_eq!(env.images(), "", "nothing pulled");
}

#[test]
fn the_users_berth_toml_is_read_from_xdg_config_home_or_home_unless_berth_config_is_set() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("toml-user");
    // Only a mirror can serve this registry: the user's file is read or the pull fails.
    let image = "registry.invalid:5000/busybox:latest";
    let text = format!(
        "[registries.mirrors]\n\"registry.invalid:5000\" = [\"http://{}\"]\n",
        fx.plain.host
    );
    let xdg = env.path("xdg");
    let user_file = |dir: &std::path::Path| {
        std::fs::create_dir_all(dir.join("berth")).unwrap();
        dir.join("berth/berth.toml")
    };
    std::fs::write(user_file(&xdg), &text).unwrap();
    let xdg_env = xdg.display().to_string();
    let pull = |xdg: &str, berth_config: Option<&std::path::Path>| {
        let mut c = env.command().env("XDG_CONFIG_HOME", xdg);
        if let Some(f) = berth_config {
            c = c.env("BERTH_CONFIG", &f.display().to_string());
        }
        c.args(["pull", "-q", image]).output()
    };
    pull(&xdg_env, None).success();
    env.berth(["rmi", image]).success();
    // BERTH_CONFIG is the only file then, as CONTAINERS_CONF is for podman.
    let empty = config(&env, "");
    let out = pull(&xdg_env, Some(&empty));
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("registry.invalid"), "{out}");
    // Unset, empty or relative XDG_CONFIG_HOME: ~/.config (HOME is the engine's dir).
    let home_file = user_file(&env.path(".config"));
    assert_eq!(pull("", None).code(), Some(125), "no file under ~/.config yet");
    std::fs::write(&home_file, &text).unwrap();
    for xdg in ["", "relative/dir"] {
        pull(xdg, None).success();
        env.berth(["rmi", image]).success();
    }
    // A bad user file is an error naming it.
    std::fs::write(user_file(&xdg), "[registries]\ninsecure = 3\n").unwrap();
    let out = pull(&xdg_env, None);
    assert_eq!(out.code(), Some(125), "{out}");
    let named = format!("config file {}, line 2", user_file(&xdg).display());
    assert!(out.stderr.contains(&named), "{out}");
    assert_eq!(env.images(), "", "nothing left");
}
