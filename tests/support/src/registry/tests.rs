//! State file parsing (no root), and checks against the running fixture (skipped when it does
//! not run, failed under `BERTH_TEST_STRICT=1`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::*;
use crate::fault_registry::digest;

const SAMPLE: &str = r#"{
 "version": 1, "dir": "/x", "user": "berth", "password": "pw",
 "ca_cert": "/x/run/tls/ca.crt", "certs_dir": "/x/run/tls/certs.d",
 "token_server": {"url": "http://127.0.0.1:4000/token", "pid": 10},
 "registries": {
  "plain": {"auth": "none", "host": "127.0.0.1:4001", "url": "http://127.0.0.1:4001", "pid": 11},
  "basic": {"auth": "basic", "realm": "berth-fixture", "host": "127.0.0.1:4002",
            "url": "http://127.0.0.1:4002", "pid": 12},
  "bearer": {"auth": "bearer", "realm": "http://127.0.0.1:4000/token", "service": "127.0.0.1:4003",
             "host": "127.0.0.1:4003", "url": "http://127.0.0.1:4003", "pid": 13},
  "tls": {"auth": "none", "host": "127.0.0.1:4004", "url": "https://127.0.0.1:4004", "pid": 14}
 },
 "images": {
  "busybox:latest": {"repository": "busybox", "tag": "latest", "registries": ["plain", "tls"],
   "digest": "sha256:aa", "media_type": "application/vnd.oci.image.manifest.v1+json", "size": 500,
   "config": {"digest": "sha256:cc", "size": 300, "media_type": "application/vnd.oci.image.config.v1+json"},
   "layers": [{"digest": "sha256:ll", "size": 1000, "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
               "diff_id": "sha256:dd", "uncompressed_size": 2000}],
   "platform": {"os": "linux", "architecture": "amd64"}},
  "busybox:multiarch": {"repository": "busybox", "tag": "multiarch", "registries": ["plain"],
   "digest": "sha256:ii", "media_type": "application/vnd.oci.image.index.v1+json", "size": 400,
   "manifests": [
    {"digest": "sha256:aa", "media_type": "application/vnd.oci.image.manifest.v1+json", "size": 500,
     "config": {"digest": "sha256:cc", "size": 300, "media_type": "x"}, "layers": [],
     "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": "sha256:a2", "media_type": "application/vnd.oci.image.manifest.v1+json", "size": 501,
     "config": {"digest": "sha256:c2", "size": 301, "media_type": "x"}, "layers": [],
     "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]}
 }
}"#;

fn sample() -> Fixture {
    let v: Value = serde_json::from_str(SAMPLE).expect("sample json");
    parse(Path::new("/x/state.json"), &v).expect("parse")
}

#[test]
fn parses_the_state_file() {
    let f = sample();
    assert_eq!(f.plain.host, "127.0.0.1:4001");
    assert_eq!(f.plain.reference(BUSYBOX), "127.0.0.1:4001/busybox:latest");
    assert_eq!(f.basic.auth, Auth::Basic { realm: "berth-fixture".into() });
    assert_eq!(
        f.bearer.auth,
        Auth::Bearer {
            realm: "http://127.0.0.1:4000/token".into(),
            service: "127.0.0.1:4003".into()
        }
    );
    assert!(f.tls.is_tls() && !f.plain.is_tls());
    assert_eq!((f.token_pid, f.user.as_str()), (10, "berth"));
    assert_eq!(f.certs_dir, Path::new("/x/run/tls/certs.d"));

    let b = f.image(BUSYBOX).expect("busybox");
    assert!(!b.is_index());
    assert_eq!(b.diff_ids(), ["sha256:dd"]);
    assert_eq!((b.compressed_size(), b.layers[0].uncompressed_size), (1000, Some(2000)));
    assert_eq!(b.registries, ["plain", "tls"]);

    let m = f.image(BUSYBOX_MULTIARCH).expect("multiarch");
    assert!(m.is_index());
    assert_eq!(m.for_platform("linux", "arm64", None).map(|i| i.manifest.size), Some(501));
    assert_eq!(m.for_platform("linux", "arm64", Some("v8")).map(|i| i.manifest.size), Some(501));
    assert!(m.for_platform("linux", "arm64", Some("v7")).is_none());
    assert!(m.for_platform("linux", "s390x", None).is_none());
}

#[test]
fn a_missing_image_lists_what_there_is() {
    let err = sample().image(ETCD).expect_err("no etcd in the sample");
    assert!(err.contains("busybox:latest, busybox:multiarch"), "{err}");
}

#[test]
fn bad_state_files_say_what_is_wrong() {
    let mut v: Value = serde_json::from_str(SAMPLE).expect("sample json");
    v["registries"]["tls"]["auth"] = "kerberos".into();
    let err = parse(Path::new("/s"), &v).expect_err("bad auth");
    assert!(err.contains("unknown auth kerberos"), "{err}");
    v["version"] = 2.into();
    assert!(parse(Path::new("/s"), &v).expect_err("version").contains("version"));
    let err = Fixture::load(Path::new("/nonexistent/state.json")).expect_err("missing");
    assert!(err.contains("/nonexistent/state.json"), "{err}");
}

#[test]
fn host_of_strips_scheme_and_path() {
    assert_eq!(host_of("http://127.0.0.1:5/token"), "127.0.0.1:5");
    assert_eq!(host_of("127.0.0.1:5"), "127.0.0.1:5");
}

/// A plain-http GET: (status, head, body).
fn http_get(host: &str, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let mut c = TcpStream::connect(host).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    // One write: `write!` on a TcpStream sends each formatted piece separately, and a TLS
    // port answers the first plain-text bytes with a 400 and closes, so a later piece would
    // meet EPIPE. A failed send still leaves that answer to be read.
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n");
    let _ = c.write_all(request.as_bytes());
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).expect("read");
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    (status, head, raw[end + 4..].to_vec())
}

const ACCEPT: &str = "Accept: application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json\r\n";

#[test]
fn live_fixture_serves_the_digests_of_its_state_file() {
    let fx = crate::require_registry!();
    for name in
        [BUSYBOX, BUSYBOX_MULTIARCH, BUSYBOX_MULTIARCH_V2S2, BUSYBOX_V2S2, BUSYBOX_ZSTD, LAYERS]
    {
        let img = fx.image(name).expect("image");
        let (repo, tag) = name.split_once(':').expect("repo:tag");
        let (status, _, body) =
            http_get(&fx.plain.host, &format!("/v2/{repo}/manifests/{tag}"), ACCEPT);
        assert_eq!(status, 200, "{name}");
        assert_eq!(digest(&body), img.manifest.digest, "{name}");
    }
    let layers = fx.image(LAYERS).expect("layers");
    assert_eq!(layers.layers.len(), 4);
    let multi = fx.image(BUSYBOX_MULTIARCH).expect("multiarch");
    assert!(multi.for_platform("linux", "arm64", Some("v8")).is_some());
    assert_eq!(
        fx.image(BUSYBOX_ZSTD).expect("zstd").layers[0].blob.media_type,
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    // the small config blob hashes to its digest
    let cfg = fx.image(BUSYBOX).expect("busybox").config.clone().expect("config");
    let (status, _, body) =
        http_get(&fx.plain.host, &format!("/v2/busybox/blobs/{}", cfg.digest), "");
    assert_eq!((status, digest(&body)), (200, cfg.digest));
}

#[test]
fn live_fixture_auth_registries_challenge() {
    let fx = crate::require_registry!();
    let (status, head, _) = http_get(&fx.basic.host, "/v2/", "");
    assert_eq!(status, 401);
    assert!(
        head.to_ascii_lowercase().contains("www-authenticate: basic realm=\"berth-fixture\""),
        "{head}"
    );
    let (status, head, _) = http_get(&fx.bearer.host, "/v2/", "");
    assert_eq!(status, 401);
    let want = format!("bearer realm=\"{}\",service=\"{}\"", fx.token_url, fx.bearer.host);
    assert!(head.to_ascii_lowercase().contains(&want.to_ascii_lowercase()), "{head}");
    assert!(fx.ca_cert.is_file());
    assert!(fx.certs_dir.join(&fx.tls.host).join("ca.crt").is_file());
    // plain http to the TLS port is refused with 400
    assert_eq!(http_get(&fx.tls.host, "/v2/", "").0, 400);
}
