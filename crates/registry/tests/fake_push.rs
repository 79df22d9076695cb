//! Pushes against in-process registries (127.0.0.1:0): what a real registry will not do on
//! demand. The pull fake (tests/fake) refuses uploads: each error names the step, the
//! reference, the URL and the status, once. `Uploads` (tests/fake/uploads.rs) takes them,
//! with relative Locations that carry a query, and fails chunks when told: the request
//! sequence of monolithic and chunked uploads, the restart of a broken one, and the cancel
//! (`DELETE`) of every session given up on. The real registry fixture runs in
//! `tests/integration/tests/engine_push.rs`.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns are test code too

mod fake;

use std::path::PathBuf;
use std::time::Duration;

use berth_registry::{BlobPushed, Client, ClientConfig, Digest, Error, Reference, Retries, CHUNK};
use fake::uploads::{hex, session, Failure, UploadState, Uploads, REPO};
use fake::{AuthMode, FaultKind, Image, Server};

fn client(server: &Server) -> Client {
    Client::new(fake::client_config(vec![server.host()]))
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

// ------------------------------------------------------------------ a registry that takes uploads

/// `size` bytes of a pattern on disk and their digest.
fn big_blob(dir: &tempfile::TempDir, size: usize) -> (PathBuf, Digest) {
    let data: Vec<u8> = (0..size).map(|i| u8::try_from(i % 251).unwrap()).collect();
    let path = dir.path().join("big");
    std::fs::write(&path, &data).unwrap();
    (path, format!("sha256:{}", hex(&data)).parse().unwrap())
}

fn uploads_client(server: &Uploads) -> Client {
    Client::new(ClientConfig {
        insecure: vec![server.addr.to_string()],
        certs_dir: PathBuf::from("/nonexistent/berth-test-certs.d"),
        retries: Retries {
            max_retries: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(1),
        },
        ..ClientConfig::default()
    })
}

#[tokio::test]
async fn a_large_blob_goes_up_in_chunks_to_relative_locations_keeping_their_query() {
    let server = Uploads::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let size = 2 * chunk() + 1000;
    let (path, digest) = big_blob(&dir, size);
    let r = r_at(&server);
    let client = uploads_client(&server);
    let done = client.push_blob(&r, &digest, size as u64, &path, &[]).await.unwrap();
    assert_eq!(done, BlobPushed::Uploaded);
    assert_eq!(server.methods(), ["HEAD", "POST", "PATCH", "PATCH", "PATCH", "PUT"]);
    let log = server.log();
    let c = chunk();
    let ranges: Vec<_> = log.iter().filter_map(|s| s.range.clone()).collect();
    assert_eq!(
        ranges,
        [format!("0-{}", c - 1), format!("{c}-{}", 2 * c - 1), format!("{}-{}", 2 * c, size - 1)]
    );
    let put = &log[5];
    assert_eq!(put.target, format!("/v2/app/blobs/uploads/u0?_state=s-u0&digest={digest}"));
    assert_eq!(put.len, 0, "the bytes went in the PATCHes");
    assert_eq!(server.state.lock().unwrap().blobs[&digest.to_string()].len(), size);
    // Now the registry has it.
    let again = client.push_blob(&r, &digest, size as u64, &path, &[]).await.unwrap();
    assert_eq!(again, BlobPushed::Exists);
}

#[tokio::test]
async fn a_small_blob_goes_up_in_one_put() {
    let server = Uploads::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob(&dir);
    let r = r_at(&server);
    let done = uploads_client(&server).push_blob(&r, &digest, 5, &path, &[]).await.unwrap();
    assert_eq!(done, BlobPushed::Uploaded);
    assert_eq!(server.methods(), ["HEAD", "POST", "PUT"]);
    assert_eq!(server.log()[2].len, 5);
}

#[tokio::test]
async fn an_upload_whose_chunk_keeps_failing_starts_over_once_in_a_new_session() {
    // The first PATCH and its 3 retries get 500: the session is cancelled, the upload starts
    // over and succeeds.
    let server = Uploads::start(4).await;
    let dir = tempfile::tempdir().unwrap();
    let size = chunk() + 10;
    let (path, digest) = big_blob(&dir, size);
    let r = r_at(&server);
    let client = uploads_client(&server);
    let done = client.push_blob(&r, &digest, size as u64, &path, &[]).await.unwrap();
    assert_eq!(done, BlobPushed::Uploaded);
    let methods = server.methods();
    let four = ["PATCH"; 4];
    let want = [&["HEAD", "POST"][..], &four, &["DELETE", "POST", "PATCH", "PATCH", "PUT"]];
    assert_eq!(methods, want.concat());
    assert_eq!(server.deletes(), [session("u0")], "exactly the Location the session was given");
    assert!(server.log()[10].target.starts_with("/v2/app/blobs/uploads/u1?_state=s-u1&digest="));
    // Failing for ever: one restart, then the error, naming the status; both sessions are
    // cancelled.
    let server = Uploads::start(100).await;
    let r = r_at(&server);
    let err = uploads_client(&server).push_blob(&r, &digest, size as u64, &path, &[]).await;
    let err = err.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500), "{err:?}");
    assert_eq!(server.methods().iter().filter(|m| *m == "POST").count(), 2);
    assert_eq!(server.deletes(), [session("u0"), session("u1")]);
    assert!(server.state.lock().unwrap().sessions.is_empty(), "none left to expire");
}

// ------------------------------------------------------------- cancelling a session given up on

/// A registry whose closing PUTs fail `times` times, as `failure` says.
async fn failing_puts(times: u32, failure: Failure) -> Uploads {
    Uploads::with(UploadState { failing_puts: times, failure, ..UploadState::default() }).await
}

/// The closing PUT of session `id` of `digest` at `server`.
fn put_url(server: &Uploads, id: &str, digest: &Digest) -> String {
    format!("http://{}{}&digest={digest}", server.addr, session(id))
}

#[tokio::test]
async fn a_put_whose_connection_drops_cancels_the_session_before_starting_over() {
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob(&dir);
    // The PUT and its 3 retries lose their connection: cancel, start over, succeed.
    let server = failing_puts(4, Failure::Drop).await;
    let r = r_at(&server);
    let done = uploads_client(&server).push_blob(&r, &digest, 5, &path, &[]).await.unwrap();
    assert_eq!(done, BlobPushed::Uploaded);
    let want = [&["HEAD", "POST"][..], &["PUT"; 4], &["DELETE", "POST", "PUT"]];
    assert_eq!(server.methods(), want.concat());
    assert_eq!(server.deletes(), [session("u0")]);
    // For ever: both sessions cancelled, and the error is the PUT's, not the cancel's.
    let server = failing_puts(100, Failure::Drop).await;
    let r = r_at(&server);
    let err = uploads_client(&server).push_blob(&r, &digest, 5, &path, &[]).await.unwrap_err();
    let put = put_url(&server, "u1", &digest);
    assert!(chain(&err).starts_with(&format!("upload blob {digest} of {r} to {put}: ")), "{err}");
    assert_eq!(server.deletes(), [session("u0"), session("u1")]);
    assert!(server.state.lock().unwrap().sessions.is_empty());
}

#[tokio::test]
async fn a_cancel_that_fails_is_tried_once_and_never_replaces_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob(&dir);
    // The DELETE answered 204 (the reference), 404, 500, or its connection dropped.
    let mut errors = Vec::new();
    for answer in [None, Some(404), Some(500), Some(0)] {
        let state =
            UploadState { failing_puts: 100, delete_answer: answer, ..UploadState::default() };
        let server = Uploads::with(state).await;
        let r = r_at(&server);
        let err = uploads_client(&server).push_blob(&r, &digest, 5, &path, &[]).await;
        let err = err.unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(500), "{answer:?}: {err:?}");
        assert_eq!(server.deletes(), [session("u0"), session("u1")], "{answer:?}: no retries");
        errors.push(chain(&err).replace(&server.addr.to_string(), "HOST"));
    }
    let put = format!("http://HOST{}&digest={digest}", session("u1"));
    let r = "HOST/app:v1";
    let want = format!("upload blob {digest} of {r} to {put}: HTTP 500 Internal Server Error");
    assert_eq!(errors, [want.as_str(); 4]);
}

#[tokio::test]
async fn a_session_opened_instead_of_a_mount_is_cancelled_when_its_upload_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob(&dir);
    let server = failing_puts(100, Failure::Status500).await;
    let r = r_at(&server);
    let from = ["other".to_owned()];
    let err = uploads_client(&server).push_blob(&r, &digest, 5, &path, &from).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500), "{err:?}");
    let log = server.log();
    assert!(log[1].target.contains("mount=") && log[1].target.contains("from=other"), "{log:?}");
    assert_eq!(log[6].target, session("u0"), "cancelled right after the last PUT: {log:?}");
    // Then uploaded anew as without a mount, with its one restart: every session cancelled.
    assert_eq!(server.deletes(), [session("u0"), session("u1"), session("u2")]);
    assert!(server.state.lock().unwrap().sessions.is_empty());
}

#[tokio::test]
async fn a_broken_session_opened_instead_of_a_mount_is_followed_by_a_new_upload() {
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob(&dir);
    // The mount's session: its PUT and 3 retries fail; the new session's PUT succeeds.
    let server = failing_puts(4, Failure::Status500).await;
    let r = r_at(&server);
    let from = ["other".to_owned()];
    let done = uploads_client(&server).push_blob(&r, &digest, 5, &path, &from).await.unwrap();
    assert_eq!(done, BlobPushed::Uploaded);
    let want = [&["HEAD", "POST"][..], &["PUT"; 4], &["DELETE", "POST", "PUT"]];
    assert_eq!(server.methods(), want.concat());
    assert_eq!(server.deletes(), [session("u0")]);
}

#[tokio::test]
async fn a_blob_that_cannot_be_read_cancels_the_session_it_opened() {
    let server = Uploads::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob(&dir);
    let r = r_at(&server);
    // 10 bytes announced, 5 on disk: the read fails after the POST.
    let err = uploads_client(&server).push_blob(&r, &digest, 10, &path, &[]).await.unwrap_err();
    assert!(matches!(err, Error::ReadBlob { .. }), "{err:?}");
    assert_eq!(server.methods(), ["HEAD", "POST", "DELETE"]);
    assert_eq!(server.deletes(), [session("u0")]);
}

#[tokio::test]
async fn a_cancel_under_bearer_auth_carries_the_push_token() {
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = blob(&dir);
    let state = UploadState { failing_puts: 100, bearer: true, ..UploadState::default() };
    let server = Uploads::with(state).await;
    let r = r_at(&server);
    let err = uploads_client(&server).push_blob(&r, &digest, 5, &path, &[]).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500), "{err:?}");
    let st = server.state.lock().unwrap();
    let deletes: Vec<_> = st.log.iter().filter(|s| s.method == "DELETE").collect();
    assert_eq!(deletes.len(), 2, "{:?}", st.log);
    for d in deletes {
        let token = d.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer "));
        let scopes = token.and_then(|t| st.tokens.get(t));
        let push = format!("repository:{REPO}:pull,push");
        assert!(scopes.is_some_and(|s| s.contains(&push)), "{d:?}: {:?}", st.tokens);
    }
    assert!(st.sessions.is_empty(), "both cancelled, none refused");
}

fn chunk() -> usize {
    usize::try_from(CHUNK).unwrap()
}

fn r_at(server: &Uploads) -> Reference {
    Reference::parse(format!("{}/app:v1", server.addr)).unwrap()
}
