use std::os::unix::fs::PermissionsExt;

use super::*;

fn creds(u: &str, p: &str) -> Credentials {
    Credentials { username: u.into(), password: p.into(), identity_token: None }
}

fn write(dir: &Path, name: &str, json: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, json).unwrap();
    p
}

#[test]
fn docker_config_json() {
    let d = tempfile::tempdir().unwrap();
    // "alice:s3cret:with:colons" and "bob:pw"
    let f = write(
        d.path(),
        "config.json",
        r#"{
        "auths": {
            "https://index.docker.io/v1/": {"auth": "YWxpY2U6czNjcmV0OndpdGg6Y29sb25z"},
            "localhost:5000": {"auth": "Ym9iOnB3"},
            "quay.io": {"username": "carol", "password": "x", "identitytoken": "rt"}
        },
        "credsStore": "desktop"
    }"#,
    );
    let files = [f];
    let hub = lookup(&files, "docker.io", Some("library/busybox")).unwrap().unwrap();
    assert_eq!((hub.username.as_str(), hub.password.as_str()), ("alice", "s3cret:with:colons"));
    assert_eq!(lookup(&files, "localhost:5000", None).unwrap(), Some(creds("bob", "pw")));
    let quay = lookup(&files, "quay.io", Some("org/app")).unwrap().unwrap();
    assert_eq!(quay.identity_token.as_deref(), Some("rt"));
    assert_eq!(lookup(&files, "localhost:5001", None).unwrap(), None);
    assert!(!format!("{hub:?}").contains("s3cret"));
}

#[test]
fn containers_auth_json_repository_keys_and_order() {
    let d = tempfile::tempdir().unwrap();
    let a = write(
        d.path(),
        "auth.json",
        r#"{"auths": {
        "reg.io": {"auth": "Z2VuZXJhbDpn"},
        "reg.io/team": {"auth": "dGVhbTp0"},
        "reg.io/team/app": {"auth": "YXBwOmE="}
    }}"#,
    );
    let b = write(d.path(), "config.json", r#"{"auths": {"other.io": {"auth": "b3RoZXI6bw=="}}}"#);
    let files = [d.path().join("missing.json"), a, b];
    let get = |repo| lookup(&files, "reg.io", repo).unwrap().unwrap().username;
    assert_eq!(get(Some("team/app")), "app");
    assert_eq!(get(Some("team/other")), "team");
    assert_eq!(get(Some("teamx/app")), "general");
    assert_eq!(get(None), "general");
    assert_eq!(lookup(&files, "other.io", Some("x")).unwrap().unwrap().username, "other");
}

#[test]
fn malformed_files() {
    let d = tempfile::tempdir().unwrap();
    let bad = write(d.path(), "bad.json", "{not json");
    let err = lookup(&[bad], "x.io", None).unwrap_err();
    assert!(err.to_string().contains("bad.json"), "{err}");
    let empty = write(d.path(), "empty.json", "\n");
    assert_eq!(lookup(&[empty], "x.io", None).unwrap(), None);
    let undecodable = write(d.path(), "u.json", r#"{"auths":{"x.io":{"auth":"!!"}}}"#);
    assert_eq!(lookup(&[undecodable], "x.io", None).unwrap(), None);
}

#[test]
fn store_and_remove_keep_other_content() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        d.path(),
        "config.json",
        r#"{"auths": {"index.docker.io": {"auth": "b2xkOm8="},
        "keep.io": {"auth": "a2VlcDpr"}}, "psFormat": "table"}"#,
    );
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    store_credentials(&f, "docker.io", &creds("new", "pw")).unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert_eq!(doc["psFormat"], "table");
    let auths = doc["auths"].as_object().unwrap();
    assert_eq!(auths.len(), 2, "{auths:?}");
    assert_eq!(auths["https://index.docker.io/v1/"]["auth"], "bmV3OnB3");
    let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let files = [f.clone()];
    assert_eq!(lookup(&files, "docker.io", None).unwrap(), Some(creds("new", "pw")));

    assert!(remove_credentials(&f, "docker.io").unwrap());
    assert!(!remove_credentials(&f, "docker.io").unwrap());
    assert_eq!(lookup(&files, "docker.io", None).unwrap(), None);
    assert_eq!(lookup(&files, "keep.io", None).unwrap().unwrap().username, "keep");
    assert!(!remove_credentials(&d.path().join("none.json"), "x").unwrap());
}

#[test]
fn store_creates_private_file_and_dir() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("sub/dir/auth.json");
    let mut c = creds("u", "p");
    c.identity_token = Some("tok".into());
    store_credentials(&f, "localhost:5000", &c).unwrap();
    let mode = std::fs::metadata(f.parent().unwrap()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(lookup(&[f], "localhost:5000", None).unwrap(), Some(c));
    let leftovers: Vec<_> = std::fs::read_dir(d.path().join("sub/dir")).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
}

#[test]
fn key_normalisation() {
    assert_eq!(normalize_key("https://index.docker.io/v1/"), "docker.io");
    assert_eq!(normalize_key("registry-1.docker.io"), "docker.io");
    assert_eq!(normalize_key("http://localhost:5000/v2/"), "localhost:5000");
    assert_eq!(normalize_key("quay.io/org/"), "quay.io/org");
    assert_eq!(normalize_key("docker.io/library/busybox"), "docker.io/library/busybox");
}

#[test]
fn cred_helpers_come_first_and_a_missing_one_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        d.path(),
        "config.json",
        r#"{"auths": {"r.io": {"auth": "Ym9iOnB3"}, "s.io": {"auth": "Ym9iOnB3"}},
            "credHelpers": {"https://r.io/v1/": "berth-no-such-helper"},
            "credsStore": "berth-no-such-store"}"#,
    );
    let files = [f];
    let err = lookup(&files, "r.io", Some("app")).unwrap_err();
    assert!(err.to_string().contains("docker-credential-berth-no-such-helper get r.io"), "{err}");
    // the auths entry wins over credsStore; a credsStore not installed counts as nothing
    assert_eq!(lookup(&files, "s.io", None).unwrap(), Some(creds("bob", "pw")));
    assert_eq!(lookup(&files, "t.io", None).unwrap(), None);
}

#[test]
fn a_helper_that_cannot_store_or_erase_leaves_the_file_untouched() {
    let d = tempfile::tempdir().unwrap();
    let json = r#"{"auths": {"r.io": {}, "s.io": {"auth": "Ym9iOnB3"}},
        "credHelpers": {"r.io": "berth-no-such-helper"}, "credsStore": "berth-no-such-store"}"#;
    let f = write(d.path(), "config.json", json);
    let err = store_credentials(&f, "r.io", &creds("u", "p")).unwrap_err();
    assert!(err.to_string().contains("docker-credential-berth-no-such-helper store r.io"), "{err}");
    // credsStore keeps every other registry's secret, also one stored in the file before
    let err = store_credentials(&f, "s.io", &creds("u", "p")).unwrap_err();
    assert!(err.to_string().contains("docker-credential-berth-no-such-store store s.io"), "{err}");
    let err = remove_credentials(&f, "r.io").unwrap_err();
    assert!(err.to_string().contains("docker-credential-berth-no-such-helper erase r.io"), "{err}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), json, "untouched");
    // not logged in: the helper is not asked
    assert!(!remove_credentials(&f, "t.io").unwrap());
    // a credsStore that is not installed holds nothing: logout drops the file's entry
    assert!(remove_credentials(&f, "s.io").unwrap());
    assert_eq!(lookup(std::slice::from_ref(&f), "s.io", None).unwrap(), None);
}
