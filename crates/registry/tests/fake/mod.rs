//! An in-process registry on 127.0.0.1:0 speaking just enough of the distribution API, with
//! knobs for what a real registry will not do (STYLE B6): faults by path, auth modes, a token
//! endpoint, a request log and a connection count. Raw HTTP/1.1 on tokio so a response can
//! lie about its length, stop midway or stall.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::cast_possible_truncation)] // each test binary uses a different part; pub is for them

pub mod image;
pub mod uploads;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub use image::Image;

/// A client configuration for tests against fake servers at `hosts`: plain http, no
/// certificates, quick retries and a short stall timeout.
pub fn client_config(hosts: Vec<String>) -> berth_registry::ClientConfig {
    use berth_registry::{Retries, Timeouts};
    berth_registry::ClientConfig {
        insecure: hosts,
        certs_dir: std::path::PathBuf::from("/nonexistent/berth-test-certs.d"),
        retries: Retries {
            max_retries: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
        },
        timeouts: Timeouts { connect: Duration::from_secs(5), stall: Duration::from_millis(500) },
        ..berth_registry::ClientConfig::default()
    }
}

/// How the server wants clients to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    None,
    Basic {
        user: String,
        pass: String,
    },
    /// `anonymous`: the token endpoint issues tokens without credentials.
    Bearer {
        user: String,
        pass: String,
        anonymous: bool,
    },
    /// 401 with no WWW-Authenticate header.
    NoChallenge,
}

/// A one-shot (or `times`-shot) misbehaviour for requests whose path contains `path`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub path: String,
    pub kind: FaultKind,
    pub times: u32,
}

#[derive(Debug, Clone)]
pub enum FaultKind {
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// Announce the full length, send half, close.
    Truncate,
    /// Send headers and half the body, then nothing.
    Stall,
    /// Flip a byte of the body (same length).
    Corrupt,
    /// Redirect to this base URL + the same path.
    Redirect(String),
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: String,
}

#[derive(Debug)]
pub struct State {
    pub auth: AuthMode,
    pub faults: Mutex<Vec<Fault>>,
    pub log: Mutex<Vec<Logged>>,
    pub connections: AtomicUsize,
    tokens: Mutex<HashSet<String>>,
    /// repository -> image content
    repos: HashMap<String, Image>,
    addr: SocketAddr,
}

/// A running fake registry; stops when dropped.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Starts a server holding `repos` (repository -> image).
    pub async fn start(auth: AuthMode, repos: Vec<(&str, Image)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            auth,
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            tokens: Mutex::new(HashSet::new()),
            repos: repos.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            addr,
        });
        let s = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                s.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, s.clone()));
            }
        });
        Server { addr, state, task }
    }

    /// The `host:port` to use in references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn fault(&self, path: &str, kind: FaultKind, times: u32) {
        self.state.faults.lock().unwrap().push(Fault { path: path.into(), kind, times });
    }

    /// Logged requests whose path contains `part`.
    pub fn requests(&self, part: &str) -> Vec<Logged> {
        self.state.log.lock().unwrap().iter().filter(|l| l.path.contains(part)).cloned().collect()
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    fault: Option<FaultKind>,
}

impl Reply {
    fn new(status: u16) -> Self {
        Reply { status, headers: Vec::new(), body: Vec::new(), fault: None }
    }
    fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    fn json(status: u16, body: &str) -> Self {
        let mut r = Reply::new(status).header("Content-Type", "application/json");
        r.body = body.as_bytes().to_vec();
        r
    }
    fn error(status: u16, code: &str, message: &str) -> Self {
        Reply::json(status, &format!(r#"{{"errors":[{{"code":"{code}","message":"{message}"}}]}}"#))
    }
}

async fn serve(stream: TcpStream, state: Arc<State>) {
    let mut stream = BufReader::new(stream);
    loop {
        let Some((method, path, headers, body)) = read_request(&mut stream).await else { return };
        let authorization = headers.get("authorization").cloned();
        state.log.lock().unwrap().push(Logged {
            method: method.clone(),
            path: path.clone(),
            authorization: authorization.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let mut reply = route(&state, &method, &path, authorization.as_deref(), &body);
        if let Some(kind) = take_fault(&state, &path) {
            reply = apply_fault(reply, kind, &path);
        }
        if !write_reply(stream.get_mut(), reply, method == "HEAD").await {
            return;
        }
    }
}

async fn read_request(
    stream: &mut BufReader<TcpStream>,
) -> Option<(String, String, HashMap<String, String>, Vec<u8>)> {
    let mut line = String::new();
    if stream.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        stream.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await.ok()?;
    Some((method, path, headers, body))
}

fn take_fault(state: &State, path: &str) -> Option<FaultKind> {
    let mut faults = state.faults.lock().unwrap();
    let i = faults.iter().position(|f| path.contains(&f.path) && f.times > 0)?;
    faults[i].times -= 1;
    Some(faults[i].kind.clone())
}

fn apply_fault(reply: Reply, kind: FaultKind, path: &str) -> Reply {
    match kind {
        FaultKind::Status { status, retry_after } => {
            let mut r = Reply::error(status, "FAULT", "injected");
            if let Some(ra) = retry_after {
                r = r.header("Retry-After", &ra);
            }
            r
        }
        FaultKind::Corrupt => {
            let mut r = reply;
            if let Some(b) = r.body.last_mut() {
                *b ^= 0xff;
            }
            r
        }
        FaultKind::Redirect(base) => Reply::new(307).header("Location", &format!("{base}{path}")),
        kind => Reply { fault: Some(kind), ..reply },
    }
}

/// Writes `reply`; a reply to HEAD has the GET's headers (Content-Length included) and no
/// body, or the next response on the connection would start inside it.
async fn write_reply(stream: &mut TcpStream, reply: Reply, head_only: bool) -> bool {
    let reason = match reply.status {
        200 => "OK",
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let mut head =
        format!("HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\n", reply.status, reply.body.len());
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    if head_only {
        return true;
    }
    let half = reply.body.len() / 2;
    match reply.fault {
        Some(FaultKind::Truncate) => {
            let _ = stream.write_all(&reply.body[..half]).await;
            let _ = stream.shutdown().await;
            false
        }
        Some(FaultKind::Stall) => {
            let _ = stream.write_all(&reply.body[..half]).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            false
        }
        _ => stream.write_all(&reply.body).await.is_ok(),
    }
}

fn route(state: &State, method: &str, path: &str, auth: Option<&str>, body: &[u8]) -> Reply {
    if path.starts_with("/token") {
        return token(state, method, path, auth, body);
    }
    if let Some(denied) = check_auth(state, path, auth) {
        return denied;
    }
    if path == "/v2/" {
        return Reply::json(200, "{}");
    }
    let Some(rest) = path.strip_prefix("/v2/") else { return Reply::new(404) };
    let (repo, kind, what) = match (rest.rfind("/manifests/"), rest.rfind("/blobs/")) {
        (Some(i), _) => (&rest[..i], "manifests", &rest[i + 11..]),
        (_, Some(i)) => (&rest[..i], "blobs", &rest[i + 7..]),
        _ => return Reply::new(404),
    };
    let Some(image) = state.repos.get(repo) else {
        return Reply::error(404, "NAME_UNKNOWN", "repository name not known to registry");
    };
    if kind == "blobs" {
        return match image.blob(what) {
            Some(b) => {
                let mut r = Reply::new(200).header("Content-Type", "application/octet-stream");
                r.body = b.to_vec();
                r
            }
            None => Reply::error(404, "BLOB_UNKNOWN", "blob unknown to registry"),
        };
    }
    match image.manifest(what) {
        Some((media, bytes, digest)) => {
            let mut r = Reply::new(200)
                .header("Content-Type", media)
                .header("Docker-Content-Digest", digest);
            r.body = bytes.to_vec();
            r
        }
        None => Reply::error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
    }
}

fn basic_value(user: &str, pass: &str) -> String {
    let raw = format!("{user}:{pass}");
    format!("Basic {}", b64(raw.as_bytes()))
}

fn check_auth(state: &State, path: &str, auth: Option<&str>) -> Option<Reply> {
    let repo = path.strip_prefix("/v2/").and_then(|r| r.split("/manifests/").next()).unwrap_or("");
    let repo = repo.split("/blobs/").next().unwrap_or("");
    match &state.auth {
        AuthMode::None => None,
        AuthMode::NoChallenge => Some(Reply::error(401, "UNAUTHORIZED", "authentication required")),
        AuthMode::Basic { user, pass } => {
            (auth != Some(basic_value(user, pass).as_str())).then(|| {
                Reply::error(401, "UNAUTHORIZED", "authentication required")
                    .header("WWW-Authenticate", r#"Basic realm="fake""#)
            })
        }
        AuthMode::Bearer { .. } => {
            let ok = auth
                .and_then(|a| a.strip_prefix("Bearer "))
                .is_some_and(|t| state.tokens.lock().unwrap().contains(t));
            (!ok).then(|| {
                let scope = if repo.is_empty() {
                    String::new()
                } else {
                    format!(r#","scope="repository:{repo}:pull""#)
                };
                let challenge =
                    format!(r#"Bearer realm="http://{}/token",service="fake"{scope}"#, state.addr);
                Reply::error(401, "UNAUTHORIZED", "authentication required")
                    .header("WWW-Authenticate", &challenge)
            })
        }
    }
}

fn token(state: &State, method: &str, path: &str, auth: Option<&str>, body: &[u8]) -> Reply {
    let AuthMode::Bearer { user, pass, anonymous } = &state.auth else { return Reply::new(404) };
    let form = String::from_utf8_lossy(body);
    let ok = if method == "POST" {
        form.contains("grant_type=refresh_token") && form.contains("refresh_token=good-refresh")
            || form.contains(&format!("username={user}"))
                && form.contains(&format!("password={pass}"))
    } else {
        match auth {
            Some(a) => a == basic_value(user, pass),
            None => *anonymous,
        }
    };
    if !ok {
        return Reply::error(401, "UNAUTHORIZED", "bad credentials");
    }
    let mut tokens = state.tokens.lock().unwrap();
    let token = format!("tok-{}", tokens.len());
    tokens.insert(token.clone());
    let _ = path;
    let field = if method == "POST" { "access_token" } else { "token" };
    Reply::json(200, &format!(r#"{{"{field}":"{token}","expires_in":300}}"#))
}

pub fn b64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() { A[(n >> (18 - 6 * i)) as usize & 63] as char } else { '=' });
        }
    }
    out
}
