//! A registry for the request sequence of a push: sessions at *relative* Locations that
//! carry their own `_state` query (as distribution's do, but relative, which the spec
//! allows), Content-Range checked against what the session holds, the digest checked at
//! the closing PUT, `DELETE` of a session (cancel, 204). Knobs for what a real registry
//! will not do on demand (STYLE B6): PATCHes or closing PUTs that fail with 500 or a dropped
//! connection, a DELETE answered otherwise, and Bearer auth whose tokens remember their
//! scope. Raw HTTP/1.1 on tokio, one request per connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The repository every session is in.
pub const REPO: &str = "app";

/// One request as [`Uploads`] saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub range: Option<String>,
    pub len: usize,
    pub authorization: Option<String>,
}

/// How the requests a test makes fail fail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Failure {
    #[default]
    Status500,
    /// The connection closes without an answer.
    Drop,
}

#[derive(Debug, Default)]
pub struct UploadState {
    pub log: Vec<Seen>,
    /// Open sessions by id.
    pub sessions: HashMap<String, Vec<u8>>,
    pub blobs: HashMap<String, Vec<u8>>,
    /// Sessions opened so far (ids are never reused).
    pub opened: usize,
    /// PATCH requests still to fail.
    pub failing_patches: u32,
    /// Closing PUT requests still to fail.
    pub failing_puts: u32,
    /// How they fail.
    pub failure: Failure,
    /// What a session's DELETE gets instead of 204 (the session stays open); 0: the
    /// connection closes without an answer.
    pub delete_answer: Option<u16>,
    /// Requests need a Bearer token from `/token` for `repository:app:pull,push`.
    pub bearer: bool,
    /// Token -> the scopes it was issued for.
    pub tokens: HashMap<String, Vec<String>>,
}

/// A running upload-taking registry; stops when dropped.
#[derive(Debug)]
pub struct Uploads {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<UploadState>>,
    task: JoinHandle<()>,
}

impl Drop for Uploads {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Uploads {
    /// A registry whose first `failing_patches` PATCH requests get 500.
    pub async fn start(failing_patches: u32) -> Uploads {
        Uploads::with(UploadState { failing_patches, ..UploadState::default() }).await
    }

    pub async fn with(state: UploadState) -> Uploads {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(state));
        let s = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_upload(stream, s.clone(), addr));
            }
        });
        Uploads { addr, state, task }
    }

    pub fn log(&self) -> Vec<Seen> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn methods(&self) -> Vec<String> {
        self.log().into_iter().map(|s| s.method).collect()
    }

    /// The targets of the DELETE requests, in order.
    pub fn deletes(&self) -> Vec<String> {
        self.log().into_iter().filter(|s| s.method == "DELETE").map(|s| s.target).collect()
    }
}

/// The Location of session `id`, as the registry hands it out.
pub fn session(id: &str) -> String {
    format!("/v2/{REPO}/blobs/uploads/{id}?_state=s-{id}")
}

/// An answer; status 0 closes the connection without one.
#[derive(Debug, Default)]
struct Reply {
    status: u16,
    location: Option<String>,
    challenge: Option<String>,
    body: String,
}

fn status(status: u16) -> Reply {
    Reply { status, ..Reply::default() }
}

async fn serve_upload(stream: TcpStream, state: Arc<Mutex<UploadState>>, addr: SocketAddr) {
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        stream.read_line(&mut h).await.unwrap();
        let Some((k, v)) = h.trim_end().split_once(':') else { break };
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let len: usize = headers.get("content-length").map_or(0, |l| l.parse().unwrap());
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await.unwrap();
    let range = headers.get("content-range").cloned();
    let authorization = headers.get("authorization").cloned();
    let reply = {
        let mut st = state.lock().unwrap();
        st.log.push(Seen {
            method: method.clone(),
            target: target.clone(),
            range: range.clone(),
            len,
            authorization: authorization.clone(),
        });
        match refused(&mut st, &target, authorization.as_deref(), addr) {
            Some(r) => r,
            None => answer(&mut st, &method, &target, range.as_deref(), &body),
        }
    };
    if reply.status == 0 {
        return;
    }
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    if let Some(l) = reply.location {
        head.push_str(&format!("Location: {l}\r\n"));
    }
    if let Some(c) = reply.challenge {
        head.push_str(&format!("WWW-Authenticate: {c}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(&reply.body);
    let _ = stream.get_mut().write_all(head.as_bytes()).await;
}

/// Under Bearer auth: a token for `/token`, a 401 for a request without one.
fn refused(
    st: &mut UploadState,
    target: &str,
    auth: Option<&str>,
    addr: SocketAddr,
) -> Option<Reply> {
    if !st.bearer {
        return None;
    }
    if let Some(query) = target.strip_prefix("/token?") {
        let scopes = query.split('&').filter_map(|p| p.strip_prefix("scope="));
        let scopes = scopes.map(|s| s.replace("%3A", ":").replace("%2C", ",")).collect();
        let token = format!("tok-{}", st.tokens.len());
        st.tokens.insert(token.clone(), scopes);
        return Some(Reply { body: format!(r#"{{"token":"{token}"}}"#), ..status(200) });
    }
    let token = auth.and_then(|a| a.strip_prefix("Bearer "));
    if token.is_some_and(|t| st.tokens.contains_key(t)) {
        return None;
    }
    let realm = format!("http://{addr}/token");
    let scope = format!("repository:{REPO}:pull,push");
    let challenge = Some(format!(r#"Bearer realm="{realm}",service="fake",scope="{scope}""#));
    Some(Reply { challenge, ..status(401) })
}

/// The answer to one registry request.
fn answer(
    st: &mut UploadState,
    method: &str,
    target: &str,
    range: Option<&str>,
    body: &[u8],
) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param = |k: &str| query.split('&').find_map(|p| p.strip_prefix(&format!("{k}=")));
    let uploads = format!("/v2/{REPO}/blobs/uploads/");
    let blobs = format!("/v2/{REPO}/blobs/");
    if method == "HEAD" && path.starts_with(&format!("{blobs}sha256:")) {
        return status(if st.blobs.contains_key(&path[blobs.len()..]) { 200 } else { 404 });
    }
    if method == "POST" && path == uploads {
        // A mount (`?mount=&from=`) is never possible here: it opens a session too.
        let id = format!("u{}", st.opened);
        st.opened += 1;
        st.sessions.insert(id.clone(), Vec::new());
        return Reply { location: Some(session(&id)), ..status(202) };
    }
    let Some(id) = path.strip_prefix(&uploads).map(str::to_owned) else { return status(404) };
    if param("_state") != Some(&format!("s-{id}")) {
        return status(400); // the session's own query was lost
    }
    match method {
        "DELETE" => match st.delete_answer {
            Some(s) => status(s),
            None => status(if st.sessions.remove(&id).is_some() { 204 } else { 404 }),
        },
        "PATCH" if st.failing_patches > 0 => {
            st.failing_patches -= 1;
            failed(st.failure)
        }
        "PUT" if st.failing_puts > 0 => {
            st.failing_puts -= 1;
            failed(st.failure)
        }
        "PATCH" | "PUT" => take(st, method, &id, range, body, param("digest")),
        _ => status(405),
    }
}

fn failed(how: Failure) -> Reply {
    status(if how == Failure::Drop { 0 } else { 500 })
}

/// A PATCH's or closing PUT's bytes into session `id`.
fn take(
    st: &mut UploadState,
    method: &str,
    id: &str,
    range: Option<&str>,
    body: &[u8],
    digest: Option<&str>,
) -> Reply {
    let Some(held) = st.sessions.get_mut(id) else { return status(404) };
    if let Some(r) = range {
        let start: usize = r.split('-').next().unwrap().parse().unwrap();
        if start != held.len() {
            return status(416);
        }
    }
    held.extend_from_slice(body);
    if method == "PATCH" {
        return Reply { location: Some(session(id)), ..status(202) };
    }
    let held = st.sessions.remove(id).unwrap();
    let actual = format!("sha256:{}", hex(&held));
    if digest != Some(actual.as_str()) {
        return status(400);
    }
    st.blobs.insert(actual, held);
    status(201)
}

pub fn hex(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
