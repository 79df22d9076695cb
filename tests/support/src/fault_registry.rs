//! `FaultRegistry`: an in-process OCI distribution server for the faults a real registry will not
//! produce on demand: a truncated body, a body that does not match its digest, 401 without a
//! challenge, 404, 429 with `Retry-After`, 500 (then success), a body that stalls.
//!
//! Each test starts its own server (std threads, `127.0.0.1:0`, one request per connection,
//! `Connection: close`). It serves one minimal image ([`FaultImage`]: index → manifest → config
//! + one gzip layer, built in memory) under any repository name:
//!
//! | path | serves |
//! |---|---|
//! | `/v2/` | `200 {}` |
//! | `/v2/NAME/manifests/latest` or the index digest | the image index |
//! | `/v2/NAME/manifests/single` or the manifest digest | the linux/amd64 manifest |
//! | `/v2/NAME/blobs/<config digest>`, `/v2/NAME/blobs/<layer digest>` | the config, the layer |
//! | anything else | 404 with a distribution error body |
//!
//! Faults are [`Rule`]s (a [`Target`], a [`Fault`], optionally a number of times), checked in
//! order; every request is logged ([`FaultRegistry::requests`]) with its status and the fault
//! applied. Dropping the server stops it; a stalled response ends early when it does.
//!
//! ```no_run
//! use berth_test_support::fault_registry::{Fault, FaultRegistry, Rule, Target};
//! let reg = FaultRegistry::start();
//! reg.inject(Rule::new(Target::Layer, Fault::ServerError).times(1)); // 500, then the layer
//! let reference = reg.reference("latest"); // "127.0.0.1:PORT/fault/busybox:latest"
//! // ... pull `reference` over plain http ...
//! assert_eq!(reg.count(Target::Layer), 2);
//! ```

mod image;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use image::{
    crc32, digest, gzip, sha256, Blob, FaultImage, CONFIG, FILES, INDEX, LAYER_GZIP, MANIFEST,
};

/// The repository name [`FaultRegistry::reference`] uses (any name is served).
pub const REPOSITORY: &str = "fault/busybox";

/// What a request asks for; a rule's target may also be a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// `GET /v2/`.
    Ping,
    /// The image index (tag `latest` or its digest).
    Index,
    /// The image manifest (tag `single` or its digest).
    Manifest,
    /// The config blob.
    Config,
    /// The layer blob.
    Layer,
    /// Anything the server does not have (answered 404).
    Unknown,
    /// Rule target: [`Target::Index`] or [`Target::Manifest`].
    Manifests,
    /// Rule target: [`Target::Config`] or [`Target::Layer`].
    Blobs,
    /// Rule target: every request.
    Any,
}

impl Target {
    fn matches(self, kind: Target) -> bool {
        match self {
            Target::Any => true,
            Target::Manifests => matches!(kind, Target::Index | Target::Manifest),
            Target::Blobs => matches!(kind, Target::Config | Target::Layer),
            t => t == kind,
        }
    }
}

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 200 with the full `Content-Length`, but only `keep` body bytes (at most all but one),
    /// then the connection closes.
    Truncate {
        /// Body bytes sent before closing.
        keep: usize,
    },
    /// 200 with a body of the right length whose digest is wrong (a tampered twin: for the
    /// layer still a valid gzip tar, for JSON still valid JSON).
    WrongDigest,
    /// 401 with no `WWW-Authenticate` header.
    Unauthorized,
    /// 404 with a distribution error body (`MANIFEST_UNKNOWN` or `BLOB_UNKNOWN`).
    NotFound,
    /// 429 with `Retry-After: <retry_after>` (seconds).
    TooManyRequests {
        /// The `Retry-After` value in seconds.
        retry_after: u64,
    },
    /// 500.
    ServerError,
    /// 200, headers and `after` body bytes, then nothing for `duration`, then the connection
    /// closes (mid-body).
    Stall {
        /// Body bytes sent before the stall.
        after: usize,
        /// How long to stay silent.
        duration: Duration,
    },
}

impl Fault {
    /// Faults that change the body of a 200 (not applied to `HEAD`).
    fn is_body_fault(&self) -> bool {
        matches!(self, Fault::Truncate { .. } | Fault::WrongDigest | Fault::Stall { .. })
    }
}

/// A fault for the requests matching `target`, `times` times (or always).
#[derive(Debug, Clone)]
pub struct Rule {
    /// Which requests.
    pub target: Target,
    /// What goes wrong.
    pub fault: Fault,
    /// How many matching requests get the fault; `None` is every one.
    pub times: Option<u32>,
}

impl Rule {
    /// A rule applied to every matching request.
    pub fn new(target: Target, fault: Fault) -> Rule {
        Rule { target, fault, times: None }
    }

    /// Applies to the first `n` matching requests only (`500 then success` is `.times(1)`).
    pub fn times(mut self, n: u32) -> Rule {
        self.times = Some(n);
        self
    }
}

/// One logged request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target as sent (with any query).
    pub path: String,
    /// What it asked for.
    pub target: Target,
    /// Request headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The status sent.
    pub status: u16,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// When the request was read.
    pub at: Instant,
}

impl Request {
    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Shared {
    image: FaultImage,
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Request>>,
    stop: AtomicBool,
}

/// Locks, ignoring poisoning: a panicking handler must not hide the log from the test.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The server; stops on drop.
#[derive(Debug)]
pub struct FaultRegistry {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultRegistry {
    /// Starts a server without faults on a free `127.0.0.1` port.
    pub fn start() -> FaultRegistry {
        FaultRegistry::with_rules(Vec::new())
    }

    /// Starts a server with these rules.
    pub fn with_rules(rules: Vec<Rule>) -> FaultRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared {
            image: FaultImage::build(),
            rules: Mutex::new(rules),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name(format!("fault-registry-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &s))
            .expect("spawn the accept thread");
        FaultRegistry { addr, shared, accept: Some(accept) }
    }

    /// Adds a rule after the existing ones.
    pub fn inject(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, the registry part of a reference.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT/fault/busybox:<tag>` (`latest`: the index, `single`: the manifest).
    pub fn reference(&self, tag: &str) -> String {
        format!("{}/{REPOSITORY}:{tag}", self.addr)
    }

    /// The served image (digests, bytes, the expected tar).
    pub fn image(&self) -> &FaultImage {
        &self.shared.image
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.log).clone()
    }

    /// How many requests matched `target` (a group target counts its members).
    pub fn count(&self, target: Target) -> usize {
        lock(&self.shared.log).iter().filter(|r| target.matches(r.target)).count()
    }
}

impl Drop for FaultRegistry {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // wake the blocking accept()
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else { continue };
        let s = Arc::clone(shared);
        // handlers are detached: a stalled one notices `stop` within 20 ms
        let _ = std::thread::Builder::new()
            .name("fault-registry-conn".into())
            .spawn(move || handle(&conn, &s));
    }
}

struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

fn read_head(conn: &TcpStream) -> Option<Head> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    for _ in 0..100 {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            break;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Some(Head { method, path, headers })
}

/// What the path asks for, and the blob that answers it.
fn classify<'a>(path: &str, img: &'a FaultImage) -> (Target, Option<&'a Blob>) {
    let path = path.split('?').next().unwrap_or(path);
    if path == "/v2/" || path == "/v2" {
        return (Target::Ping, None);
    }
    let Some(rest) = path.strip_prefix("/v2/") else { return (Target::Unknown, None) };
    if let Some((_, r)) = rest.rsplit_once("/manifests/") {
        if r == "latest" || r == img.index.digest {
            return (Target::Index, Some(&img.index));
        }
        if r == "single" || r == img.manifest.digest {
            return (Target::Manifest, Some(&img.manifest));
        }
    } else if let Some((_, d)) = rest.rsplit_once("/blobs/") {
        if d == img.config.digest {
            return (Target::Config, Some(&img.config));
        }
        if d == img.layer.digest {
            return (Target::Layer, Some(&img.layer));
        }
    }
    (Target::Unknown, None)
}

/// The first live rule for this request; counts it down.
fn take_fault(shared: &Shared, target: Target, head_only: bool) -> Option<Fault> {
    let mut rules = lock(&shared.rules);
    let rule = rules.iter_mut().find(|r| {
        r.target.matches(target)
            && r.times != Some(0)
            && !(head_only && r.fault.is_body_fault())
            && !(r.fault.is_body_fault() && matches!(target, Target::Ping | Target::Unknown))
    })?;
    if let Some(n) = rule.times.as_mut() {
        *n -= 1;
    }
    Some(rule.fault.clone())
}

fn error_body(code: &str, message: &str) -> Vec<u8> {
    serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string().into_bytes()
}

/// The answer before any body fault: status, extra headers, body.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn decide(fault: Option<&Fault>, target: Target, blob: Option<&Blob>, path: &str) -> Answer {
    let answer = |status, headers, body| Answer { status, headers, body };
    let unknown = if path.contains("/blobs/") { "BLOB_UNKNOWN" } else { "MANIFEST_UNKNOWN" };
    match (fault, blob) {
        (Some(Fault::Unauthorized), _) => {
            answer(401, vec![], error_body("UNAUTHORIZED", "authentication required"))
        }
        (Some(Fault::TooManyRequests { retry_after }), _) => answer(
            429,
            vec![("Retry-After", retry_after.to_string())],
            error_body("TOOMANYREQUESTS", "slow down"),
        ),
        (Some(Fault::ServerError), _) => answer(500, vec![], b"internal server error\n".to_vec()),
        (Some(Fault::NotFound), _) => answer(404, vec![], error_body(unknown, "not found (fault)")),
        (_, None) if target == Target::Ping => answer(200, vec![], b"{}".to_vec()),
        (_, None) => answer(404, vec![], error_body(unknown, "unknown to the fault registry")),
        (f, Some(b)) => {
            let bytes = if f == Some(&Fault::WrongDigest) { &b.tampered } else { &b.bytes };
            answer(200, vec![("Docker-Content-Digest", b.digest.clone())], bytes.clone())
        }
    }
}

fn handle(conn: &TcpStream, shared: &Shared) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(head) = read_head(conn) else { return };
    let head_only = head.method == "HEAD";
    let (target, blob) = classify(&head.path, &shared.image);
    let fault = take_fault(shared, target, head_only);
    let Answer { status, headers, body } = decide(fault.as_ref(), target, blob, &head.path);
    let content_type = match blob {
        Some(b) if status == 200 => b.media_type.as_str(),
        _ => "application/json",
    };
    lock(&shared.log).push(Request {
        method: head.method,
        path: head.path,
        target,
        headers: head.headers,
        status,
        fault: fault.clone(),
        at: Instant::now(),
    });
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Docker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut w = conn;
    if w.write_all(out.as_bytes()).is_err() || head_only {
        return finish(conn);
    }
    let sent = match &fault {
        Some(Fault::Truncate { keep }) => (*keep).min(body.len().saturating_sub(1)),
        Some(Fault::Stall { after, .. }) => (*after).min(body.len()),
        _ => body.len(),
    };
    if w.write_all(&body[..sent]).is_err() || w.flush().is_err() {
        return finish(conn);
    }
    if let Some(Fault::Stall { duration, .. }) = fault {
        let end = Instant::now() + duration;
        while Instant::now() < end && !shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    finish(conn);
}

fn finish(conn: &TcpStream) {
    let _ = conn.shutdown(Shutdown::Both);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests;
