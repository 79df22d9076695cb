//! berth-registry against the real Debian `docker-registry` fixture (tests/fixtures/registry):
//! plain, Basic, Bearer (token server) and TLS instances holding images built from Debian
//! packages, and one push that fails half way (its upload session must be cancelled). Read
//! through the fixture's state file: `$BERTH_TEST_REGISTRY` (the path
//! scripts/test.sh and the system tests use), else `$BERTH_REGISTRY_DIR/state.json`, else
//! `target/registry-fixture/state.json`; start it with `tests/fixtures/registry/fixture.sh start`.
//!
//! Without a running fixture each test prints why it skipped. Under `BERTH_TEST_STRICT=1` a
//! skip fails when the fixture was expected: its state file exists, `BERTH_TEST_REGISTRY`
//! names one, or `BERTH_REGISTRY_FIXTURE=1` says CI started it.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns are test code too

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use berth_registry::{Client, ClientConfig, Credentials, Platform, Reference, RequestError};
use serde_json::Value;

struct Fixture {
    state: Value,
}

impl Fixture {
    fn registry(&self, name: &str) -> &Value {
        &self.state["registries"][name]
    }
    fn host(&self, name: &str) -> String {
        self.registry(name)["host"].as_str().unwrap().to_owned()
    }
    fn image(&self, name: &str) -> &Value {
        &self.state["images"][name]
    }
    fn reference(&self, registry: &str, image: &str) -> Reference {
        Reference::parse(format!("{}/{image}", self.host(registry))).unwrap()
    }
    fn creds(&self) -> Credentials {
        Credentials {
            username: self.state["user"].as_str().unwrap().to_owned(),
            password: self.state["password"].as_str().unwrap().to_owned(),
            identity_token: None,
        }
    }
    /// A client that reaches every instance: plain http for all but `tls`, whose CA is in the
    /// fixture's certs.d.
    fn config(&self) -> ClientConfig {
        let insecure = ["plain", "basic", "bearer"].iter().map(|n| self.host(n)).collect();
        let certs_dir = PathBuf::from(self.state["certs_dir"].as_str().unwrap());
        ClientConfig { insecure, certs_dir, ..ClientConfig::default() }
    }
}

fn state_path() -> PathBuf {
    if let Some(state) = std::env::var_os("BERTH_TEST_REGISTRY") {
        return PathBuf::from(state);
    }
    match std::env::var_os("BERTH_REGISTRY_DIR") {
        Some(dir) => PathBuf::from(dir).join("state.json"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/registry-fixture/state.json"),
    }
}

/// The running fixture, or why there is none (panicking instead under strict mode when the
/// fixture was expected).
fn fixture() -> Option<Fixture> {
    let path = state_path();
    let expected = path.exists()
        || std::env::var_os("BERTH_TEST_REGISTRY").is_some()
        || std::env::var_os("BERTH_REGISTRY_FIXTURE").is_some_and(|v| v == "1");
    let why = match std::fs::read(&path) {
        Err(e) => format!(
            "no registry fixture state at {} ({e}); run tests/fixtures/registry/fixture.sh start",
            path.display()
        ),
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Err(e) => format!("unreadable fixture state {}: {e}", path.display()),
            Ok(state) => {
                let fixture = Fixture { state };
                let down: Vec<String> = ["plain", "basic", "bearer", "tls"]
                    .iter()
                    .filter(|n| {
                        let addr = fixture.host(n).parse().unwrap();
                        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err()
                    })
                    .map(|n| (*n).to_owned())
                    .collect();
                if down.is_empty() {
                    return Some(fixture);
                }
                format!("registry fixture instances not answering: {}", down.join(", "))
            }
        },
    };
    let strict = std::env::var_os("BERTH_TEST_STRICT").is_some_and(|v| v == "1");
    assert!(
        !(strict && expected),
        "BERTH_TEST_STRICT=1 and the registry fixture was expected: {why}"
    );
    eprintln!("skipped: {why}");
    None
}

fn platform_of(image: &Value) -> Platform {
    let p = &image["platform"];
    Platform::new(
        p["os"].as_str().unwrap(),
        p["architecture"].as_str().unwrap(),
        p["variant"].as_str(),
    )
}

/// Resolves `image` on `registry` and streams its config and every layer, checking digests
/// and sizes against the fixture's state.
async fn pull(client: &Client, f: &Fixture, registry: &str, image: &str) {
    let expect = f.image(image);
    let r = f.reference(registry, image);
    let resolved = client.resolve(&r, &platform_of(expect)).await.unwrap();
    assert_eq!(resolved.manifest_digest.to_string(), expect["digest"].as_str().unwrap());
    assert_eq!(resolved.media_type, expect["media_type"].as_str().unwrap());
    assert_eq!(resolved.config.digest().to_string(), expect["config"]["digest"].as_str().unwrap());
    client.fetch_blob_bytes(&r, &resolved.config).await.unwrap();
    let layers = expect["layers"].as_array().unwrap();
    assert_eq!(resolved.layers.len(), layers.len());
    for (desc, want) in resolved.layers.iter().zip(layers) {
        assert_eq!(desc.digest().to_string(), want["digest"].as_str().unwrap());
        let mut stream = client.fetch_blob(&r, desc).await.unwrap().verify_digest();
        let mut n = 0u64;
        while let Some(chunk) = stream.next_chunk().await.unwrap() {
            n += chunk.len() as u64;
        }
        assert_eq!(n, want["size"].as_u64().unwrap());
    }
}

#[tokio::test]
async fn fixture_plain_pulls_busybox() {
    let Some(f) = fixture() else { return };
    let client = Client::new(f.config());
    pull(&client, &f, "plain", "busybox:latest").await;
    pull(&client, &f, "plain", "busybox:v2s2").await;
}

#[tokio::test]
async fn fixture_plain_index_and_manifest_list() {
    let Some(f) = fixture() else { return };
    let client = Client::new(f.config());
    for tag in ["busybox:multiarch", "busybox:multiarch-v2s2"] {
        let index = f.image(tag);
        let r = f.reference("plain", tag);
        for entry in index["manifests"].as_array().unwrap() {
            let resolved = client.resolve(&r, &platform_of(entry)).await.unwrap();
            assert_eq!(resolved.manifest_digest.to_string(), entry["digest"].as_str().unwrap());
            assert_eq!(
                resolved.index_digest.unwrap().to_string(),
                index["digest"].as_str().unwrap()
            );
        }
        let err = client.resolve(&r, &Platform::parse("linux/s390x").unwrap()).await.unwrap_err();
        assert!(err.to_string().contains("available: linux/"), "{err}");
    }
}

#[tokio::test]
async fn fixture_basic_auth() {
    let Some(f) = fixture() else { return };
    let r = f.reference("basic", "busybox:latest");
    let err = Client::new(f.config())
        .resolve(&r, &platform_of(f.image("busybox:latest")))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    let client = Client::new(f.config());
    let mut wrong = f.creds();
    wrong.password.push('x');
    assert!(client.login(&f.host("basic"), &wrong, &file).await.unwrap_err().is_unauthorized());
    client.login(&f.host("basic"), &f.creds(), &file).await.unwrap();
    let client = Client::new(ClientConfig { auth_files: vec![file], ..f.config() });
    pull(&client, &f, "basic", "busybox:latest").await;
}

#[tokio::test]
async fn fixture_bearer_auth() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth.json");
    let client = Client::new(f.config());
    let mut wrong = f.creds();
    wrong.password.push('x');
    let err = client.login(&f.host("bearer"), &wrong, &file).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    client.login(&f.host("bearer"), &f.creds(), &file).await.unwrap();
    let client = Client::new(ClientConfig { auth_files: vec![file], ..f.config() });
    pull(&client, &f, "bearer", "busybox:latest").await;
    pull(&client, &f, "bearer", "private/busybox:latest").await;
}

#[tokio::test]
async fn fixture_tls_with_certs_d_ca() {
    let Some(f) = fixture() else { return };
    pull(&Client::new(f.config()), &f, "tls", "busybox:latest").await;

    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(ClientConfig { certs_dir: dir.path().to_owned(), ..f.config() });
    let r = f.reference("tls", "busybox:latest");
    let err = client.resolve(&r, &platform_of(f.image("busybox:latest"))).await.unwrap_err();
    let tls = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<RequestError>());
    assert!(matches!(tls, Some(RequestError::Tls { .. })), "{err}: {tls:?}");
    let mut chain = String::new();
    let mut cur: Option<&dyn std::error::Error> = Some(&err);
    while let Some(e) = cur {
        chain.push_str(&format!("{e}: "));
        cur = e.source();
    }
    assert!(chain.contains("UnknownIssuer"), "{chain}");

    let insecure = Client::new(ClientConfig {
        certs_dir: dir.path().to_owned(),
        tls_verify: false,
        ..f.config()
    });
    pull(&insecure, &f, "tls", "busybox:latest").await;
}

/// The files distribution keeps for the open upload sessions of `repository` on `registry`
/// (its storage layout: `_uploads/UUID/{data,startedat,hashstates/…}`): `data` and
/// `startedat` go when a session is cancelled (a hash state may stay behind).
fn open_sessions(f: &Fixture, registry: &str, repository: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(f.state["dir"].as_str().unwrap()).join("data").join(registry);
    let uploads = dir.join("docker/registry/v2/repositories").join(repository).join("_uploads");
    // The session's POST made the directory: without it, this is not the registry's storage.
    let sessions = std::fs::read_dir(&uploads).unwrap_or_else(|e| panic!("{uploads:?}: {e}"));
    let files = sessions.flat_map(|s| {
        let s = s.unwrap().path();
        [s.join("data"), s.join("startedat")]
    });
    files.filter(|p| p.exists()).collect()
}

#[tokio::test]
async fn fixture_a_push_that_fails_after_a_chunk_cancels_its_session() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth.json");
    let chunk = usize::try_from(berth_registry::CHUNK).unwrap();
    let blob = dir.path().join("blob");
    std::fs::write(&blob, vec![7u8; chunk]).unwrap();
    let digest: berth_registry::Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    for registry in ["plain", "bearer"] {
        Client::new(f.config()).login(&f.host(registry), &f.creds(), &file).await.unwrap();
        let client = Client::new(ClientConfig { auth_files: vec![file.clone()], ..f.config() });
        let repository = format!("cancel/{registry}-{}", nanos.as_nanos());
        let r = Reference::parse(format!("{}/{repository}:v1", f.host(registry))).unwrap();
        // One chunk more than the file holds: the first PATCH goes up (and moves the
        // session's Location), then reading the second fails. The cancel must go to the
        // moved Location: distribution refuses a stale one (404) and keeps the session.
        let size = berth_registry::CHUNK + 10;
        let err = client.push_blob(&r, &digest, size, &blob, &[]).await.unwrap_err();
        assert!(matches!(err, berth_registry::Error::ReadBlob { .. }), "{registry}: {err:?}");
        assert_eq!(open_sessions(&f, registry, &repository), Vec::<PathBuf>::new(), "{registry}");
    }
}
