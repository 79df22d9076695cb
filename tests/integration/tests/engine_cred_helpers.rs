//! Docker credential helpers (`credHelpers`, `credsStore` in `config.json`) against the
//! registry fixture: the test writes a tiny `docker-credential-berthtest` script into a
//! directory it puts first in `berth`'s PATH. The script logs what it was asked and answers
//! with the fixture's credentials for the registries it knows, "not found" otherwise.
//! `login`/`logout` use a second script, `docker-credential-berthstore`, that keeps what it
//! is given (`store`, `get`, `erase`) in files, as a real helper keeps it in a keyring.

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

/// `docker-credential-berthstore`: stores each server's JSON in `store/` (its name with `/`
/// and `:` as `_`), answers `get` from there and `erase` removes it; every call is logged.
/// Returns (bin dir, log file, store dir).
fn storing_helper(env: &Engine) -> (PathBuf, PathBuf, PathBuf) {
    let bin = env.path("store-bin");
    let store = env.path("store");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&store).unwrap();
    let log = env.path("store.log");
    let script = format!(
        r#"#!/bin/sh
store='{store}'
read -r input
case "$1" in
  store) server=$(printf '%s' "$input" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/') ;;
  *) server=$input ;;
esac
echo "$1 $server" >> '{log}'
file="$store/$(printf '%s' "$server" | tr '/:' '__')"
case "$1" in
  store) printf '%s' "$input" > "$file" ;;
  get|erase)
    if [ ! -f "$file" ]; then echo 'credentials not found in native keychain'; exit 1; fi
    if [ "$1" = get ]; then cat "$file"; else rm "$file"; fi ;;
  *) echo "unknown verb $1" >&2; exit 2 ;;
esac
"#,
        store = store.display(),
        log = log.display()
    );
    let path = bin.join("docker-credential-berthstore");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, log, store)
}

fn with_path(env: &Engine, bin: &std::path::Path) -> berth_test_support::TestCommand {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    env.command().env("PATH", &path)
}

fn config_doc(env: &Engine) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(env.path("docker/config.json")).unwrap()).unwrap()
}

#[test]
fn login_stores_in_creds_store_and_logout_erases_it() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("login-creds-store");
    let (bin, log, store) = storing_helper(&env);
    docker_config(&env, r#"{"credsStore": "berthstore", "berth-test-key": 7}"#);
    let host = &fx.bearer.host;
    let pw = env.path("pw");
    std::fs::write(&pw, format!("{}\n", fx.password)).unwrap();
    let login = |password: &std::path::Path| {
        with_path(&env, &bin)
            .stdin(std::fs::File::open(password).unwrap())
            .args(["login", "-u", &fx.user, "--password-stdin", host])
            .output()
    };
    let out = login(&pw);
    out.success();
    assert!(out.stdout.contains("Login Succeeded"), "{out}");
    assert_eq!(log_lines(&log), [format!("store {host}")], "{out}");
    // The secret is in the helper; the file has Docker's empty entry and keeps its keys.
    let kept = std::fs::read_to_string(store.join(host.replace(':', "_"))).unwrap();
    let kept: serde_json::Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(kept["Username"], fx.user.as_str());
    assert_eq!(kept["Secret"], fx.password.as_str());
    let doc = config_doc(&env);
    assert_eq!(doc["auths"][host], serde_json::json!({}), "{doc}");
    assert_eq!(
        (doc["credsStore"].as_str(), doc["berth-test-key"].as_i64()),
        (Some("berthstore"), Some(7))
    );
    let text = std::fs::read_to_string(env.path("docker/config.json")).unwrap();
    assert!(!text.contains(&fx.password), "no secret in config.json: {text}");
    // pull reads it back from the helper
    let image = fx.bearer.reference("private/busybox:latest");
    with_path(&env, &bin).args(["pull", "-q", &image]).output().success();
    assert!(log_lines(&log).contains(&format!("get {host}")), "{:?}", log_lines(&log));
    env.berth(["rmi", &image]).success();
    // logout erases in the helper and drops the entry
    let out = with_path(&env, &bin).args(["logout", host]).output();
    out.success();
    assert!(out.stdout.contains(&format!("Removing login credentials for {host}")), "{out}");
    assert_eq!(log_lines(&log).last(), Some(&format!("erase {host}")));
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0, "erased");
    assert!(config_doc(&env)["auths"].get(host).is_none());
    let out = with_path(&env, &bin).args(["pull", "-q", &image]).output();
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("HTTP 401"), "{out}");
    // a wrong password is refused before the helper is asked to store anything
    let calls = log_lines(&log).len();
    std::fs::write(&pw, "wrong-password\n").unwrap();
    let out = login(&pw);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("HTTP 401") && out.stderr.contains(host.as_str()), "{out}");
    assert_eq!(log_lines(&log).len(), calls, "helper not asked: {:?}", log_lines(&log));
    assert!(config_doc(&env)["auths"].get(host).is_none());
}

#[test]
fn login_uses_the_cred_helper_of_its_registry_and_a_failing_helper_stores_nothing() {
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("login-cred-helpers");
    let (bin, log, _) = storing_helper(&env);
    let host = &fx.basic.host;
    docker_config(&env, &format!(r#"{{"credHelpers": {{"{host}": "berthstore"}}}}"#));
    let login = |bin: &std::path::Path| {
        with_path(&env, bin).args(["login", "-u", &fx.user, "-p", &fx.password, host]).output()
    };
    login(&bin).success();
    // only the registry named in credHelpers goes to the helper
    let plain = &fx.plain.host;
    with_path(&env, &bin)
        .args(["login", "-u", "someone", "-p", "anything", plain])
        .output()
        .success();
    assert_eq!(log_lines(&log), [format!("store {host}")]);
    let doc = config_doc(&env);
    assert_eq!(doc["auths"][host], serde_json::json!({}), "{doc}");
    assert!(doc["auths"][plain]["auth"].is_string(), "{doc}");
    with_path(&env, &bin).args(["pull", "-q", &fx.basic.reference(BUSYBOX)]).output().success();
    // A helper that fails: exit 125 naming it and what it said; the file is untouched.
    let broken = env.path("broken-bin");
    std::fs::create_dir_all(&broken).unwrap();
    let script = "#!/bin/sh\ncat >/dev/null\necho 'keyring locked' >&2\nexit 1\n";
    let path = broken.join("docker-credential-berthstore");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = std::fs::read_to_string(env.path("docker/config.json")).unwrap();
    let out = login(&broken);
    assert_eq!(out.code(), Some(125), "{out}");
    let named = format!("credential helper docker-credential-berthstore store {host}");
    assert!(out.stderr.contains(&named) && out.stderr.contains("keyring locked"), "{out}");
    let out = with_path(&env, &broken).args(["logout", host]).output();
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains(&format!("docker-credential-berthstore erase {host}")), "{out}");
    let after = std::fs::read_to_string(env.path("docker/config.json")).unwrap();
    assert_eq!(before, after, "config.json untouched");
    with_path(&env, &bin).args(["logout", host]).output().success();
    assert_eq!(log_lines(&log).last(), Some(&format!("erase {host}")));
}

#[test]
fn login_asks_on_a_terminal_without_echoing_the_password() {
    berth_test_support::require!(setsid);
    let fx = berth_test_support::require_registry!();
    let env = Engine::new("login-prompt");
    let host = &fx.basic.host;
    let cmd = env.command().args(["login", host]).into_command();
    let mut term = berth_test_support::terminal::TerminalSession::spawn(&cmd, 24, 80);
    let t = std::time::Duration::from_secs(20);
    term.expect("Username: ", t);
    term.send(format!("{}\r", fx.user).as_bytes());
    term.expect("Password: ", t);
    term.send(format!("{}\r", fx.password).as_bytes());
    term.expect("Login Succeeded", t);
    assert_eq!(term.wait(t).code(), Some(0), "{}", term.text());
    assert!(!term.text().contains(&fx.password), "echoed: {}", term.text());
    assert!(config_doc(&env)["auths"][host]["auth"].is_string());
    // Without a terminal there is nobody to ask.
    let out = env.berth(["login", host]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("non TTY device"), "{out}");
}
