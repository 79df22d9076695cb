//! Tests of the fault registry itself, with a tiny std HTTP/1.1 client; gzip(1) and tar(1)
//! check the layer independently.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The connection ended with an error or timeout (not a clean EOF).
    broken: bool,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn content_length(&self) -> usize {
        self.header("content-length").and_then(|v| v.parse().ok()).expect("Content-Length")
    }
}

fn request(reg: &FaultRegistry, method: &str, path: &str, timeout: Duration) -> Reply {
    let mut c = TcpStream::connect(reg.addr()).expect("connect");
    c.set_read_timeout(Some(timeout)).expect("timeout");
    write!(c, "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\n\r\n", reg.host())
        .expect("send");
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let broken = loop {
        match c.read(&mut buf) {
            Ok(0) => break false,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => break true,
        }
    };
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok());
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply { status: status.expect("status"), headers, body: raw[end + 4..].to_vec(), broken }
}

fn get(reg: &FaultRegistry, path: &str) -> Reply {
    request(reg, "GET", path, Duration::from_secs(10))
}

fn blob_path(d: &str) -> String {
    format!("/v2/{REPOSITORY}/blobs/{d}")
}

fn manifest_path(r: &str) -> String {
    format!("/v2/{REPOSITORY}/manifests/{r}")
}

/// Runs `cmd` with `input` on stdin; (success, stdout).
fn pipe(cmd: &[&str], input: &[u8]) -> (bool, Vec<u8>) {
    let mut child = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (out.status.success(), out.stdout)
}

#[test]
fn serves_a_consistent_image_without_faults() {
    let reg = FaultRegistry::start();
    let img = reg.image().clone();
    let ping = get(&reg, "/v2/");
    assert_eq!((ping.status, ping.body.as_slice()), (200, &b"{}"[..]));

    let index = get(&reg, &manifest_path("latest"));
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), Some(image::INDEX));
    assert_eq!(digest(&index.body), img.index.digest);
    assert_eq!(index.header("docker-content-digest"), Some(img.index.digest.as_str()));
    let idx: serde_json::Value = serde_json::from_slice(&index.body).expect("index json");
    let mdigest = idx["manifests"][0]["digest"].as_str().expect("manifest digest");
    assert_eq!(idx["manifests"][0]["platform"]["architecture"], "amd64");

    let manifest = get(&reg, &manifest_path(mdigest));
    assert_eq!(digest(&manifest.body), mdigest);
    assert_eq!(get(&reg, &manifest_path("single")).body, manifest.body);
    let m: serde_json::Value = serde_json::from_slice(&manifest.body).expect("manifest json");
    let cdigest = m["config"]["digest"].as_str().expect("config digest");
    let ldigest = m["layers"][0]["digest"].as_str().expect("layer digest");
    assert_eq!(m["layers"][0]["mediaType"], image::LAYER_GZIP);

    let config = get(&reg, &blob_path(cdigest));
    assert_eq!(digest(&config.body), cdigest);
    let c: serde_json::Value = serde_json::from_slice(&config.body).expect("config json");
    let layer = get(&reg, &blob_path(ldigest));
    assert_eq!((layer.status, digest(&layer.body)), (200, ldigest.to_string()));
    assert_eq!(m["layers"][0]["size"], layer.body.len());

    // independent tools: gzip inflates it to the diff_id, tar lists the files
    let (ok, tar) = pipe(&["gzip", "-dc"], &layer.body);
    assert!(ok, "gzip -dc failed");
    assert_eq!(c["rootfs"]["diff_ids"][0], digest(&tar).as_str());
    let (ok, list) = pipe(&["tar", "-tvf", "-"], &tar);
    let list = String::from_utf8_lossy(&list);
    assert!(ok, "tar -t failed: {list}");
    for (path, _, _) in FILES {
        assert!(list.contains(path), "{path} missing from {list}");
    }
    assert!(list.contains("-rwxr-xr-x"), "{list}");

    let head = request(&reg, "HEAD", &blob_path(ldigest), Duration::from_secs(5));
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(head.content_length(), layer.body.len());
    assert!(reg.requests().iter().all(|r| r.fault.is_none()));
}

#[test]
fn unknown_names_are_404_with_a_distribution_error() {
    let reg = FaultRegistry::start();
    let zero = format!("sha256:{}", "0".repeat(64));
    let blob = get(&reg, &blob_path(&zero));
    assert_eq!(blob.status, 404);
    assert!(String::from_utf8_lossy(&blob.body).contains("BLOB_UNKNOWN"));
    let tag = get(&reg, &manifest_path("nope"));
    assert_eq!(tag.status, 404);
    assert!(String::from_utf8_lossy(&tag.body).contains("MANIFEST_UNKNOWN"));
    assert_eq!(reg.count(Target::Unknown), 2);
}

#[test]
fn truncated_blob_stops_short_of_its_content_length() {
    let reg =
        FaultRegistry::with_rules(vec![Rule::new(Target::Layer, Fault::Truncate { keep: 10 })]);
    let r = get(&reg, &blob_path(&reg.image().layer.digest));
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), reg.image().layer.bytes.len());
    assert_eq!(r.body, reg.image().layer.bytes[..10]);
    // `keep` beyond the length still leaves the last byte out
    reg.clear();
    reg.inject(Rule::new(Target::Config, Fault::Truncate { keep: usize::MAX }));
    let r = get(&reg, &blob_path(&reg.image().config.digest));
    assert_eq!(r.body.len(), reg.image().config.bytes.len() - 1);
}

#[test]
fn wrong_digest_serves_a_valid_body_with_another_hash() {
    let reg = FaultRegistry::with_rules(vec![Rule::new(Target::Blobs, Fault::WrongDigest)]);
    let layer = &reg.image().layer;
    let r = get(&reg, &blob_path(&layer.digest));
    assert_eq!((r.status, r.body.len()), (200, layer.bytes.len()));
    assert_eq!(r.header("docker-content-digest"), Some(layer.digest.as_str()));
    assert_ne!(digest(&r.body), layer.digest);
    assert!(pipe(&["gzip", "-t"], &r.body).0, "the tampered layer is still valid gzip");
    let cfg = get(&reg, &blob_path(&reg.image().config.digest));
    assert_ne!(digest(&cfg.body), reg.image().config.digest);
    serde_json::from_slice::<serde_json::Value>(&cfg.body).expect("still JSON");
    // manifests are not a blob target
    let m = get(&reg, &manifest_path("single"));
    assert_eq!(digest(&m.body), reg.image().manifest.digest);
}

#[test]
fn unauthorized_has_no_challenge() {
    let reg = FaultRegistry::with_rules(vec![Rule::new(Target::Any, Fault::Unauthorized)]);
    for path in ["/v2/".to_string(), manifest_path("latest")] {
        let r = get(&reg, &path);
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.header("www-authenticate"), None);
        assert!(String::from_utf8_lossy(&r.body).contains("UNAUTHORIZED"));
    }
}

#[test]
fn not_found_fault_hides_an_existing_manifest() {
    let reg = FaultRegistry::with_rules(vec![Rule::new(Target::Manifests, Fault::NotFound)]);
    let r = get(&reg, &manifest_path("latest"));
    assert_eq!(r.status, 404);
    assert!(String::from_utf8_lossy(&r.body).contains("MANIFEST_UNKNOWN"));
    assert_eq!(get(&reg, &blob_path(&reg.image().layer.digest)).status, 200);
}

#[test]
fn too_many_requests_then_success() {
    let rule = Rule::new(Target::Index, Fault::TooManyRequests { retry_after: 2 }).times(2);
    let reg = FaultRegistry::with_rules(vec![rule]);
    for _ in 0..2 {
        let r = get(&reg, &manifest_path("latest"));
        assert_eq!((r.status, r.header("retry-after")), (429, Some("2")));
    }
    assert_eq!(get(&reg, &manifest_path("latest")).status, 200);
    let statuses: Vec<u16> = reg.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
}

#[test]
fn server_error_then_success_and_the_request_log() {
    let reg =
        FaultRegistry::with_rules(vec![Rule::new(Target::Layer, Fault::ServerError).times(1)]);
    let path = blob_path(&reg.image().layer.digest);
    assert_eq!(get(&reg, &path).status, 500);
    let ok = get(&reg, &path);
    assert_eq!((ok.status, digest(&ok.body)), (200, reg.image().layer.digest.clone()));
    let log = reg.requests();
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].method.as_str(), log[0].path.as_str()), ("GET", path.as_str()));
    assert_eq!((log[0].status, log[0].fault.clone()), (500, Some(Fault::ServerError)));
    assert_eq!((log[1].status, log[1].fault.clone()), (200, None));
    assert_eq!(log[0].header("Host"), Some(reg.host().as_str()));
    assert_eq!(reg.count(Target::Layer), 2);
    assert_eq!(reg.count(Target::Blobs), 2);
    assert_eq!(reg.count(Target::Config), 0);
}

#[test]
fn stalled_body_sends_headers_and_part_then_nothing() {
    let stall = Fault::Stall { after: 5, duration: Duration::from_secs(30) };
    let reg = FaultRegistry::with_rules(vec![Rule::new(Target::Layer, stall)]);
    let t0 = Instant::now();
    let r = request(&reg, "GET", &blob_path(&reg.image().layer.digest), Duration::from_millis(400));
    assert!(r.broken, "the read should time out, not end");
    assert_eq!((r.status, r.body.len()), (200, 5));
    assert_eq!(r.content_length(), reg.image().layer.bytes.len());
    assert!(t0.elapsed() < Duration::from_secs(5));
    // dropping the server ends the stalled handler long before 30 s
    let t1 = Instant::now();
    drop(reg);
    assert!(t1.elapsed() < Duration::from_secs(5));
}

#[test]
fn head_requests_skip_body_faults() {
    let reg =
        FaultRegistry::with_rules(vec![Rule::new(Target::Layer, Fault::WrongDigest).times(1)]);
    let path = blob_path(&reg.image().layer.digest);
    let head = request(&reg, "HEAD", &path, Duration::from_secs(5));
    assert_eq!((head.status, head.body.len()), (200, 0));
    // the rule was not used up by HEAD
    assert_ne!(digest(&get(&reg, &path).body), reg.image().layer.digest);
    assert_eq!(digest(&get(&reg, &path).body), reg.image().layer.digest);
}

#[test]
fn drop_stops_the_server() {
    let reg = FaultRegistry::start();
    let addr = reg.addr();
    assert_eq!(get(&reg, "/v2/").status, 200);
    drop(reg);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}
