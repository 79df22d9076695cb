//! Docker credential helpers (`credHelpers`, `credsStore` in `config.json`) against the
//! registry fixture: the test writes a tiny `docker-credential-berthtest` script into a
//! directory it puts first in `berth`'s PATH. The script logs what it was asked and answers
//! with the fixture's credentials for the registries it knows, "not found" otherwise.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use berth_test_support::engine::Engine;
use berth_test_support::registry::{Fixture, BUSYBOX};
use berth_test_support::Output;

/// The helper script for `hosts`; returns (bin dir, log file).
fn helper(env: &Engine, fx: &Fixture, hosts: &[&str], reply: Option<&str>) -> (PathBuf, PathBuf) {
    let bin = env.path("helper-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = env.path("helper.log");
    let known = hosts.join(" ");
    let answer = match reply {
        Some(r) => format!("printf '%s' '{r}'"),
        None => format!(
            "printf '{{\"ServerURL\":\"%s\",\"Username\":\"{}\",\"Secret\":\"{}\"}}' \"$server\"",
            fx.user, fx.password
        ),
    };
    let script = format!(
        "#!/bin/sh\nread -r server\necho \"$1 $server\" >> '{}'\n\
         for h in {known}; do\n  if [ \"$server\" = \"$h\" ]; then {answer}; exit 0; fi\ndone\n\
         echo 'credentials not found in native keychain'\nexit 1\n",
        log.display()
    );
    let path = bin.join("docker-credential-berthtest");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, log)
}

fn docker_config(env: &Engine, json: &str) {
    std::fs::create_dir_all(env.path("docker")).unwrap();
    std::fs::write(env.path("docker/config.json"), json).unwrap();
}

fn pull(env: &Engine, bin: &std::path::Path, image: &str) -> Output {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    env.command().env("PATH", &path).args(["pull", "-q", image]).output()
}

fn log_lines(log: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().map(str::to_string).collect()
}

#[test]
fn cred_helpers_answer_for_their_registry_once_per_pull() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("cred-helpers");
    let (bin, log) = helper(&env, fx, &[&fx.basic.host], None);
    docker_config(&env, &format!(r#"{{"credHelpers": {{"{}": "berthtest"}}}}"#, fx.basic.host));
    let image = fx.basic.reference(BUSYBOX);
    let out = pull(&env, &bin, &image);
    out.success();
    assert_eq!(log_lines(&log), [format!("get {}", fx.basic.host)], "asked once: {out}");
    // The registry without a helper entry is not asked about.
    let plain = fx.plain.reference(BUSYBOX);
    pull(&env, &bin, &plain).success();
    assert_eq!(log_lines(&log).len(), 1, "{:?}", log_lines(&log));
}

#[test]
fn creds_store_serves_a_bearer_registrys_private_image() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("creds-store");
    let (bin, log) = helper(&env, fx, &[&fx.bearer.host], None);
    docker_config(&env, r#"{"auths": {}, "credsStore": "berthtest"}"#);
    let image = fx.bearer.reference("private/busybox:latest");
    pull(&env, &bin, &image).success();
    assert!(log_lines(&log).contains(&format!("get {}", fx.bearer.host)), "{:?}", log_lines(&log));
}

#[test]
fn a_helper_without_credentials_or_failing_or_missing_fails_the_pull_clearly() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("cred-helper-errors");
    let image = fx.basic.reference(BUSYBOX);
    docker_config(&env, &format!(r#"{{"credHelpers": {{"{}": "berthtest"}}}}"#, fx.basic.host));
    // Not found: anonymous, and the registry says unauthorized.
    let (bin, _) = helper(&env, fx, &["other:1"], None);
    let out = pull(&env, &bin, &image);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("unauthorized") || out.stderr.contains("401"), "{out}");
    // Garbage on stdout.
    let (bin, _) = helper(&env, fx, &[&fx.basic.host], Some("user=berth"));
    let out = pull(&env, &bin, &image);
    assert_eq!(out.code(), Some(125), "{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out}");
    let named = format!("credential helper docker-credential-berthtest get {}", fx.basic.host);
    assert!(out.stderr.contains(&named), "{out}");
    assert!(out.stderr.contains("printed no credentials JSON"), "{out}");
    // Not installed.
    docker_config(&env, &format!(r#"{{"credHelpers": {{"{}": "berth-absent"}}}}"#, fx.basic.host));
    let out = pull(&env, &bin, &image);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("docker-credential-berth-absent"), "{out}");
    assert!(out.stderr.contains("No such file or directory"), "{out}");
    assert_eq!(env.images(), "", "nothing pulled");
}
