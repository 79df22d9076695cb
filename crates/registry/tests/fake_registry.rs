//! berth-registry against the in-process fake registry (tests/fake): resolution, streaming,
//! auth, and every fault a real registry will not produce. Hermetic: 127.0.0.1:0 only.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns are test code too

mod fake;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_registry::{
    Client, ClientConfig, Credentials, Error, Mirror, Platform, Reference, RequestError,
};
use fake::{AuthMode, FaultKind, Image, Server};

fn config(servers: &[&Server]) -> ClientConfig {
    fake::client_config(servers.iter().map(|s| s.host()).collect())
}

fn reference(server: &Server, tag: &str) -> Reference {
    Reference::parse(format!("{}/library/busybox:{tag}", server.host())).unwrap()
}

fn amd64() -> Platform {
    Platform::parse("linux/amd64").unwrap()
}

async fn plain() -> (Server, Image) {
    let img = Image::tiny();
    (Server::start(AuthMode::None, vec![("library/busybox", img.clone())]).await, img)
}

fn auth_file(dir: &Path, host: &str, user: &str, pass: &str, identity: Option<&str>) -> PathBuf {
    let path = dir.join("config.json");
    let mut entry = serde_json::json!({"auth": fake::b64(format!("{user}:{pass}").as_bytes())});
    if let Some(t) = identity {
        entry["identitytoken"] = t.into();
    }
    std::fs::write(&path, serde_json::json!({"auths": {host: entry}}).to_string()).unwrap();
    path
}

async fn read_all(
    client: &Client,
    r: &Reference,
    desc: &berth_registry::Descriptor,
) -> Result<Vec<u8>, Error> {
    let mut stream = client.fetch_blob(r, desc).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next_chunk().await? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[tokio::test]
async fn resolves_index_to_platform_manifest_and_streams_blobs() {
    let (server, img) = plain().await;
    let client = Client::new(config(&[&server]));
    let r = reference(&server, "latest");
    let resolved = client.resolve(&r, &amd64()).await.unwrap();
    assert_eq!(resolved.manifest_digest.to_string(), img.amd64_digest);
    assert_eq!(
        resolved.index_digest.as_ref().map(ToString::to_string),
        Some(img.index_digest.clone())
    );
    assert_eq!(resolved.media_type, berth_registry::OCI_MANIFEST);
    assert_eq!(resolved.platform.as_ref().map(ToString::to_string).as_deref(), Some("linux/amd64"));
    assert_eq!(resolved.config.digest().to_string(), img.config_digest);
    assert_eq!(resolved.layers.len(), 1);
    assert_eq!(fake::image::sha256(&resolved.raw_manifest), img.amd64_digest);

    let config = client.fetch_blob_bytes(&r, &resolved.config).await.unwrap();
    assert_eq!(&config[..], img.config());
    let layer = read_all(&client, &r, &resolved.layers[0]).await.unwrap();
    assert_eq!(layer, img.layer);
    // index, manifest, config, layer: one kept-alive connection
    assert_eq!(server.connections(), 1);

    let arm = client.resolve(&r, &Platform::parse("linux/arm64").unwrap()).await.unwrap();
    assert_eq!(arm.manifest_digest.to_string(), img.arm64_digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_downloads_use_parallel_connections() {
    let (server, img) = plain().await;
    let client = Client::new(config(&[&server]));
    let r = reference(&server, "single");
    let resolved = client.resolve(&r, &amd64()).await.unwrap();
    let layer = &resolved.layers[0];
    // Three downloads open at once: none has read its body, so none has given its
    // connection back, whatever the timing (reading them one by one could reuse one).
    let (a, b, c) = tokio::join!(
        client.fetch_blob(&r, layer),
        client.fetch_blob(&r, layer),
        client.fetch_blob(&r, layer)
    );
    for stream in [a, b, c] {
        let mut stream = stream.unwrap();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next_chunk().await.unwrap() {
            bytes.extend_from_slice(&chunk);
        }
        assert_eq!(bytes, img.layer);
    }
    assert!(server.connections() >= 3, "{}", server.connections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_reader_feeds_a_blocking_thread() {
    let (server, img) = plain().await;
    let client = Client::new(config(&[&server]));
    let r = reference(&server, "single");
    let resolved = client.resolve(&r, &amd64()).await.unwrap();
    assert_eq!(resolved.index_digest, None);
    let stream = client.fetch_blob(&r, &resolved.layers[0]).await.unwrap().verify_digest();
    assert_eq!(stream.content_length(), Some(img.layer.len() as u64));
    let mut reader = stream.into_reader();
    let bytes = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 7777];
        loop {
            match reader.read(&mut buf).unwrap() {
                0 => break out,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(bytes, img.layer);
}

#[tokio::test]
async fn docker_schema2_list_and_digest_references() {
    let (server, img) = plain().await;
    let client = Client::new(config(&[&server]));
    let resolved = client.resolve(&reference(&server, "docker"), &amd64()).await.unwrap();
    assert_eq!(resolved.media_type, berth_registry::DOCKER_MANIFEST);
    assert_eq!(resolved.manifest_digest.to_string(), img.docker_manifest_digest);
    assert_eq!(resolved.layers[0].digest().to_string(), img.layer_digest);

    let pinned =
        Reference::parse(format!("{}/library/busybox@{}", server.host(), img.amd64_digest))
            .unwrap();
    let resolved = client.resolve(&pinned, &amd64()).await.unwrap();
    assert_eq!(resolved.manifest_digest.to_string(), img.amd64_digest);
}

#[tokio::test]
async fn missing_platform_lists_available_ones() {
    let (server, _) = plain().await;
    let client = Client::new(config(&[&server]));
    let err = client
        .resolve(&reference(&server, "latest"), &Platform::parse("linux/s390x").unwrap())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::PlatformNotFound { .. }), "{text}");
    assert!(
        text.contains("linux/s390x") && text.contains("available: linux/amd64, linux/arm64/v8"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_tag_and_repository_are_404_with_the_registry_text() {
    let (server, _) = plain().await;
    let client = Client::new(config(&[&server]));
    let r = reference(&server, "nope");
    let err = client.resolve(&r, &amd64()).await.unwrap_err();
    assert!(err.is_not_found());
    let text = chain(&err);
    assert!(text.contains(&r.to_string()) && text.contains("/manifests/nope"), "{text}");
    assert!(text.contains("HTTP 404 Not Found (MANIFEST_UNKNOWN: manifest unknown)"), "{text}");

    let other = Reference::parse(format!("{}/nobody/here:1", server.host())).unwrap();
    let text = chain(&client.resolve(&other, &amd64()).await.unwrap_err());
    assert!(text.contains("NAME_UNKNOWN"), "{text}");
}

#[tokio::test]
async fn basic_auth_from_auth_file() {
    let img = Image::tiny();
    let mode = AuthMode::Basic { user: "alice".into(), pass: "pw".into() };
    let server = Server::start(mode, vec![("library/busybox", img)]).await;
    let dir = tempfile::tempdir().unwrap();
    let r = reference(&server, "latest");

    let anonymous = Client::new(config(&[&server]));
    let err = anonymous.resolve(&r, &amd64()).await.unwrap_err();
    assert!(err.is_unauthorized());
    assert!(chain(&err).contains("authentication required: log in to"), "{}", chain(&err));

    let mut cfg = config(&[&server]);
    cfg.auth_files = vec![auth_file(dir.path(), &server.host(), "alice", "wrong", None)];
    let err = Client::new(cfg).resolve(&r, &amd64()).await.unwrap_err();
    assert!(err.is_unauthorized());
    assert!(chain(&err).contains("refused the credentials of user \"alice\""), "{}", chain(&err));

    let mut cfg = config(&[&server]);
    cfg.auth_files = vec![auth_file(dir.path(), &server.host(), "alice", "pw", None)];
    let client = Client::new(cfg);
    let resolved = client.resolve(&r, &amd64()).await.unwrap();
    read_all(&client, &r, &resolved.layers[0]).await.unwrap();
    // Basic is sent up front once the host has challenged: 401s only on the first request
    let unauthorized = server.requests("/v2/").iter().filter(|l| l.authorization.is_none()).count();
    assert_eq!(unauthorized, 3, "two from the failed clients, one from this one");
}

#[tokio::test]
async fn bearer_tokens_are_fetched_once_per_scope() {
    let img = Image::tiny();
    let mode = AuthMode::Bearer { user: "bob".into(), pass: "pw".into(), anonymous: true };
    let server =
        Server::start(mode, vec![("library/busybox", img.clone()), ("team/other", img)]).await;
    let client = Client::new(config(&[&server]));
    let r = reference(&server, "latest");
    let resolved = client.resolve(&r, &amd64()).await.unwrap();
    client.fetch_blob_bytes(&r, &resolved.config).await.unwrap();
    read_all(&client, &r, &resolved.layers[0]).await.unwrap();
    let tokens = server.requests("/token");
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert!(tokens[0].path.contains("scope=repository%3Alibrary%2Fbusybox%3Apull"), "{tokens:?}");
    assert!(tokens[0].path.contains("service=fake"));
    assert_eq!(tokens[0].authorization, None);

    // another repository: its own token, fetched up front, for its scope only
    let other = Reference::parse(format!("{}/team/other:single", server.host())).unwrap();
    client.resolve(&other, &amd64()).await.unwrap();
    let tokens = server.requests("/token");
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert!(tokens[1].path.contains("team%2Fother") && !tokens[1].path.contains("busybox"));
    assert_eq!(
        server.requests("/v2/team/other/").iter().filter(|l| l.authorization.is_none()).count(),
        0
    );
}

#[tokio::test]
async fn bearer_with_credentials_get_and_oauth2_post() {
    let img = Image::tiny();
    let mode = AuthMode::Bearer { user: "bob".into(), pass: "pw".into(), anonymous: false };
    let server = Server::start(mode, vec![("library/busybox", img)]).await;
    let dir = tempfile::tempdir().unwrap();
    let r = reference(&server, "latest");

    let err = Client::new(config(&[&server])).resolve(&r, &amd64()).await.unwrap_err();
    assert!(err.is_unauthorized());
    assert!(chain(&err).contains("refused anonymous access"), "{}", chain(&err));

    let mut cfg = config(&[&server]);
    cfg.auth_files = vec![auth_file(dir.path(), &server.host(), "bob", "bad", None)];
    let err = Client::new(cfg).resolve(&r, &amd64()).await.unwrap_err();
    let text = chain(&err);
    assert!(
        err.is_unauthorized() && text.contains("token from http://") && text.contains("\"bob\""),
        "{text}"
    );

    let mut cfg = config(&[&server]);
    cfg.auth_files = vec![auth_file(dir.path(), &server.host(), "bob", "pw", None)];
    Client::new(cfg).resolve(&r, &amd64()).await.unwrap();
    assert!(server
        .requests("/token")
        .iter()
        .any(|l| l.method == "GET" && l.authorization.is_some()));

    // an identity (refresh) token is exchanged by OAuth2 POST
    let mut cfg = config(&[&server]);
    cfg.auth_files = vec![auth_file(dir.path(), &server.host(), "bob", "", Some("good-refresh"))];
    Client::new(cfg).resolve(&r, &amd64()).await.unwrap();
    let post = server.requests("/token").into_iter().find(|l| l.method == "POST").unwrap();
    assert!(
        post.body.contains("grant_type=refresh_token") && post.body.contains("client_id=berth"),
        "{post:?}"
    );
}

#[tokio::test]
async fn unauthorized_without_challenge() {
    let server =
        Server::start(AuthMode::NoChallenge, vec![("library/busybox", Image::tiny())]).await;
    let err = Client::new(config(&[&server]))
        .resolve(&reference(&server, "latest"), &amd64())
        .await
        .unwrap_err();
    assert!(err.is_unauthorized());
    assert!(chain(&err).contains("no WWW-Authenticate challenge"), "{}", chain(&err));
}

#[tokio::test]
async fn retries_429_honouring_retry_after() {
    let (server, _) = plain().await;
    server.fault(
        "/manifests/latest",
        FaultKind::Status { status: 429, retry_after: Some("1".into()) },
        1,
    );
    let client = Client::new(config(&[&server]));
    let start = Instant::now();
    client.resolve(&reference(&server, "latest"), &amd64()).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(950), "{:?}", start.elapsed());
    assert_eq!(server.requests("/manifests/latest").len(), 2);

    // a Retry-After beyond the limit fails at once, naming it
    server.fault(
        "/manifests/latest",
        FaultKind::Status { status: 429, retry_after: Some("3600".into()) },
        1,
    );
    let err = client.resolve(&reference(&server, "latest"), &amd64()).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(429));
    assert!(chain(&err).contains("retry after 3600s"), "{}", chain(&err));
}

#[tokio::test]
async fn retries_5xx_then_succeeds_or_gives_up() {
    let (server, img) = plain().await;
    server.fault(&img.layer_digest, FaultKind::Status { status: 500, retry_after: None }, 2);
    let client = Client::new(config(&[&server]));
    let r = reference(&server, "single");
    let resolved = client.resolve(&r, &amd64()).await.unwrap();
    assert_eq!(read_all(&client, &r, &resolved.layers[0]).await.unwrap(), img.layer);
    assert_eq!(server.requests(&img.layer_digest).len(), 3);

    server.fault(&img.layer_digest, FaultKind::Status { status: 503, retry_after: None }, 10);
    let err = read_all(&client, &r, &resolved.layers[0]).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    let text = chain(&err);
    assert!(
        text.starts_with(&format!("fetch blob {} of {r} from http://", img.layer_digest)),
        "{text}"
    );
    assert_eq!(server.requests(&img.layer_digest).len(), 3 + 4, "first try + 3 retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_blob_is_an_error_not_a_short_read() {
    let (server, img) = plain().await;
    server.fault(&img.layer_digest, FaultKind::Truncate, 2);
    let client = Client::new(config(&[&server]));
    let r = reference(&server, "single");
    let resolved = client.resolve(&r, &amd64()).await.unwrap();
    let err = read_all(&client, &r, &resolved.layers[0]).await.unwrap_err();
    assert!(matches!(err, Error::FetchBlob { .. }), "{}", chain(&err));

    let mut reader = client.fetch_blob(&r, &resolved.layers[0]).await.unwrap().into_reader();
    let io = tokio::task::spawn_blocking(move || reader.read_to_end(&mut Vec::new()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(io.get_ref().is_some_and(|e| e.is::<Error>()), "{io}");
}

#[tokio::test]
async fn wrong_digests_are_refused() {
    let (server, img) = plain().await;
    let client = Client::new(config(&[&server]));
    server.fault("/manifests/single", FaultKind::Corrupt, 1);
    let err = client.resolve(&reference(&server, "single"), &amd64()).await.unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { what: "manifest", .. }), "{}", chain(&err));
    assert!(err.to_string().contains(&format!("expected {}", img.amd64_digest)), "{err}");

    // the child manifest of an index is checked against the index entry
    server.fault(&format!("/manifests/{}", img.amd64_digest), FaultKind::Corrupt, 1);
    let err = client.resolve(&reference(&server, "latest"), &amd64()).await.unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{}", chain(&err));

    let r = reference(&server, "single");
    let resolved = client.resolve(&r, &amd64()).await.unwrap();
    server.fault(&img.layer_digest, FaultKind::Corrupt, 1);
    let mut stream = client.fetch_blob(&r, &resolved.layers[0]).await.unwrap().verify_digest();
    let err = loop {
        match stream.next_chunk().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("corrupt blob accepted"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::DigestMismatch { what: "blob", .. }), "{}", chain(&err));
}

#[tokio::test]
async fn stalled_body_times_out() {
    let (server, img) = plain().await;
    server.fault(&img.layer_digest, FaultKind::Stall, 1);
    let client = Client::new(config(&[&server]));
    let r = reference(&server, "single");
    let resolved = client.resolve(&r, &amd64()).await.unwrap();
    let start = Instant::now();
    let err = read_all(&client, &r, &resolved.layers[0]).await.unwrap_err();
    assert!(
        matches!(err, Error::FetchBlob { source: RequestError::Stalled(_), .. }),
        "{}",
        chain(&err)
    );
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn connection_refused_fails_fast_and_names_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = config(&[]);
    cfg.insecure = vec![format!("127.0.0.1:{port}")];
    let r = Reference::parse(format!("127.0.0.1:{port}/app:1")).unwrap();
    let start = Instant::now();
    let err = Client::new(cfg).resolve(&r, &amd64()).await.unwrap_err();
    let text = chain(&err);
    assert!(text.contains(&format!("http://127.0.0.1:{port}/v2/app/manifests/1")), "{text}");
    assert!(text.contains("Connection refused"), "{text}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn login_verifies_and_writes_docker_config() {
    use std::os::unix::fs::PermissionsExt;
    let mode = AuthMode::Basic { user: "alice".into(), pass: "pw".into() };
    let basic = Server::start(mode, vec![]).await;
    let mode = AuthMode::Bearer { user: "bob".into(), pass: "pw".into(), anonymous: false };
    let bearer = Server::start(mode, vec![]).await;
    let client = Client::new(config(&[&basic, &bearer]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker/config.json");
    let creds = |u: &str, p: &str| Credentials {
        username: u.into(),
        password: p.into(),
        identity_token: None,
    };

    let err = client.login(&basic.host(), &creds("alice", "nope"), &file).await.unwrap_err();
    assert!(err.is_unauthorized(), "{}", chain(&err));
    assert!(!file.exists());
    let err = client.login(&bearer.host(), &creds("bob", "nope"), &file).await.unwrap_err();
    assert!(err.is_unauthorized(), "{}", chain(&err));

    client.login(&basic.host(), &creds("alice", "pw"), &file).await.unwrap();
    client.login(&bearer.host(), &creds("bob", "pw"), &file).await.unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(doc["auths"][basic.host()]["auth"], fake::b64(b"alice:pw"));
    assert_eq!(doc["auths"][bearer.host()]["auth"], fake::b64(b"bob:pw"));

    assert!(client.logout(&basic.host(), &file).unwrap());
    assert!(!client.logout(&basic.host(), &file).unwrap());
}

#[tokio::test]
async fn mirrors_first_then_the_registry() {
    let (origin, img) = plain().await;
    let (good_mirror, _) = plain().await;
    let empty_mirror = Server::start(AuthMode::None, vec![]).await;
    let r = reference(&origin, "single");

    let mut cfg = config(&[&origin, &good_mirror, &empty_mirror]);
    cfg.mirrors = vec![Mirror {
        registry: origin.host(),
        endpoints: vec![empty_mirror.host(), good_mirror.host()],
    }];
    let client = Client::new(cfg);
    let resolved = client.resolve(&r, &amd64()).await.unwrap();
    assert_eq!(read_all(&client, &r, &resolved.layers[0]).await.unwrap(), img.layer);
    assert_eq!(origin.requests("/v2/").len(), 0);
    assert_eq!(empty_mirror.requests("/manifests/single").len(), 1);

    // a mirror with a path prefix, over an explicit http:// scheme, failing: origin serves
    let mut cfg = config(&[&origin]);
    let spec = format!("http://{}/hub", empty_mirror.host());
    cfg.mirrors = vec![Mirror { registry: origin.host(), endpoints: vec![spec] }];
    Client::new(cfg).resolve(&r, &amd64()).await.unwrap();
    assert_eq!(empty_mirror.requests("/v2/hub/library/busybox/manifests/single").len(), 1);
    assert_eq!(origin.requests("/manifests/single").len(), 1);
}

#[tokio::test]
async fn blob_redirects_drop_credentials_on_other_hosts() {
    let img = Image::tiny();
    let mode = AuthMode::Basic { user: "alice".into(), pass: "pw".into() };
    let server = Server::start(mode, vec![("library/busybox", img.clone())]).await;
    let storage = Server::start(AuthMode::None, vec![("library/busybox", img.clone())]).await;
    server.fault(&img.layer_digest, FaultKind::Redirect(format!("http://{}", storage.host())), 1);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&[&server, &storage]);
    cfg.auth_files = vec![auth_file(dir.path(), &server.host(), "alice", "pw", None)];
    let client = Client::new(cfg);
    let r = reference(&server, "single");
    let resolved = client.resolve(&r, &amd64()).await.unwrap();
    assert_eq!(read_all(&client, &r, &resolved.layers[0]).await.unwrap(), img.layer);
    let at_storage = storage.requests(&img.layer_digest);
    assert_eq!(at_storage.len(), 1);
    assert_eq!(at_storage[0].authorization, None);
}
