//! Push failures a real registry will not produce on demand, against the in-process fake
//! registry (tests/fake), which refuses uploads: each error names the step, the reference,
//! the URL and the status, once. The successful paths run against the real registry
//! fixture in `tests/integration/tests/engine_push.rs`.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns are test code too

mod fake;

use std::path::PathBuf;
use std::time::Duration;

use berth_registry::{Client, ClientConfig, Digest, Error, Reference, Retries, Timeouts};
use fake::{AuthMode, FaultKind, Image, Server};

fn client(server: &Server) -> Client {
    Client::new(ClientConfig {
        insecure: vec![server.host()],
        certs_dir: PathBuf::from("/nonexistent/berth-test-certs.d"),
        retries: Retries {
            max_retries: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
        },
        timeouts: Timeouts { connect: Duration::from_secs(5), stall: Duration::from_millis(500) },
        ..ClientConfig::default()
    })
}

/// A 5-byte blob on disk and its digest.
fn blob(dir: &tempfile::TempDir) -> (PathBuf, Digest) {
    let path = dir.path().join("blob");
    std::fs::write(&path, b"hello").unwrap();
    let digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    (path, digest.parse().unwrap())
}

fn chain(e: &Error) -> String {
    let mut out = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        out.push_str(&format!(": {s}"));
        cur = s.source();
    }
    out
}

#[tokio::test]
async fn an_upload_the_registry_refuses_names_the_step_reference_url_and_status() {
    let server = Server::start(AuthMode::None, vec![("library/busybox", Image::tiny())]).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob(&dir);
    let r = Reference::parse(format!("{}/library/busybox:pushed", server.host())).unwrap();
    // The fake answers the HEAD with 404 (not there) and the upload POST with 404 too.
    let err = client(&server).push_blob(&r, &digest, 5, &path, &[]).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let text = chain(&err);
    let url = format!("http://{}/v2/library/busybox/blobs/uploads/", server.host());
    assert!(text.starts_with(&format!("upload blob {digest} of {r} to {url}: HTTP 404")), "{text}");
    assert_eq!(server.requests("/blobs/").len(), 2, "HEAD, then POST");
    assert_eq!(server.requests("/blobs/")[1].method, "POST");
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_with_the_status() {
    let server = Server::start(AuthMode::None, vec![("library/busybox", Image::tiny())]).await;
    server.fault("/blobs/", FaultKind::Status { status: 500, retry_after: None }, 100);
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob(&dir);
    let r = Reference::parse(format!("{}/library/busybox:pushed", server.host())).unwrap();
    let err = client(&server).push_blob(&r, &digest, 5, &path, &[]).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500), "{err:?}");
    // A HEAD has no body, so no error text from the registry: the status alone.
    assert!(chain(&err).ends_with("HTTP 500 Internal Server Error"), "{}", chain(&err));
    assert_eq!(server.requests("/blobs/").len(), 4, "the HEAD and 3 retries");
}

#[tokio::test]
async fn without_credentials_a_push_is_unauthorized_naming_the_registry() {
    let auth = AuthMode::Basic { user: "u".into(), pass: "p".into() };
    let server = Server::start(auth, vec![("library/busybox", Image::tiny())]).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob(&dir);
    let r = Reference::parse(format!("{}/library/busybox:pushed", server.host())).unwrap();
    let err = client(&server).push_blob(&r, &digest, 5, &path, &[]).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    let want = format!("authentication required: log in to {}", server.host());
    assert!(chain(&err).contains(&want), "{err}");
}

#[tokio::test]
async fn a_refused_manifest_put_names_the_manifest_url_and_status() {
    let server = Server::start(AuthMode::None, vec![("library/busybox", Image::tiny())]).await;
    server.fault("/manifests/", FaultKind::Status { status: 400, retry_after: None }, 1);
    let r = Reference::parse(format!("{}/library/busybox:pushed", server.host())).unwrap();
    let manifest = bytes::Bytes::from_static(br#"{"schemaVersion":2}"#);
    let err = client(&server)
        .push_manifest(&r, berth_registry::OCI_MANIFEST, manifest)
        .await
        .unwrap_err();
    let url = format!("http://{}/v2/library/busybox/manifests/pushed", server.host());
    assert!(chain(&err).starts_with(&format!("put manifest {r} at {url}: HTTP 400")), "{err}");
    let put = &server.requests("/manifests/")[0];
    assert_eq!((put.method.as_str(), put.body.as_str()), ("PUT", r#"{"schemaVersion":2}"#));
}
