//! Registry authentication: anonymous, Basic, and Bearer tokens from the challenge's realm
//! (distribution's token spec: GET with Basic credentials, or OAuth2 POST with a refresh
//! token or password), cached per (registry, scope) until they expire.

pub(crate) mod challenge;
pub(crate) mod file;
mod helper;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode, Uri};
use tokio::time::Instant;

use crate::base64;
use crate::config::Retries;
use crate::error::RequestError;
use crate::transport::request::{self, Req};
use crate::transport::Transport;
use challenge::Challenge;
pub use file::{
    default_auth_files, default_login_file, remove_credentials, store_credentials, Credentials,
};

/// Token replies are small; anything larger is not a token.
const TOKEN_LIMIT: u64 = 1 << 20;
/// The spec's default and minimum token lifetime.
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Renew this long before expiry so a token does not lapse in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// What a request is for: the registry endpoint and the token scope.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// The endpoint's `host[:port]`: key of the challenge and token caches.
    pub(crate) host: String,
    /// `repository:NAME:pull`, or empty (login); several scopes are separated by spaces
    /// (a push that mounts from another repository needs pull on that one too).
    pub(crate) scope: String,
}

impl Scope {
    pub(crate) fn pull(host: &str, repository: &str) -> Self {
        Self { host: host.to_owned(), scope: format!("repository:{repository}:pull") }
    }

    /// Push to `repository`, and with `mount_from` pull from that repository of the same
    /// registry (distribution checks both before it mounts a blob across repositories).
    pub(crate) fn push(host: &str, repository: &str, mount_from: Option<&str>) -> Self {
        let mut scope = format!("repository:{repository}:pull,push");
        if let Some(from) = mount_from {
            scope.push_str(&format!(" repository:{from}:pull"));
        }
        Self { host: host.to_owned(), scope }
    }
}

/// The scopes to ask a token server for: ours, then the one the challenge named if it is
/// not among them.
fn token_scopes<'a>(ours: &'a str, asked: Option<&'a str>) -> Vec<&'a str> {
    let mut scopes: Vec<&str> = ours.split(' ').filter(|s| !s.is_empty()).collect();
    if let Some(a) = asked.filter(|a| !a.is_empty() && !scopes.contains(a)) {
        scopes.push(a);
    }
    scopes
}

#[derive(Debug)]
struct Token {
    header: HeaderValue,
    expires: Instant,
}

/// Challenge and token caches, shared by all requests of one client.
#[derive(Debug, Default)]
pub(crate) struct Auth {
    /// host -> the challenge it sent last; lets a new scope get its token without a 401 first.
    challenges: Mutex<HashMap<String, Challenge>>,
    /// (host, scope) -> token; written after each token fetch, read before each request.
    tokens: Mutex<HashMap<(String, String), Token>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Auth {
    /// The Authorization header to send up front, if this host challenged before.
    pub(crate) async fn up_front(
        &self,
        transport: &Transport,
        retries: &Retries,
        scope: &Scope,
        creds: Option<&Credentials>,
    ) -> Result<Option<HeaderValue>, RequestError> {
        let known = lock(&self.challenges).get(&scope.host).cloned();
        match known {
            None => Ok(None),
            Some(c) => self.answer(transport, retries, scope, &[c], creds).await.map(Some),
        }
    }

    /// Answers a 401's challenges (Bearer preferred over Basic).
    pub(crate) async fn answer(
        &self,
        transport: &Transport,
        retries: &Retries,
        scope: &Scope,
        challenges: &[Challenge],
        creds: Option<&Credentials>,
    ) -> Result<HeaderValue, RequestError> {
        let chosen = challenges
            .iter()
            .find(|c| matches!(c, Challenge::Bearer { .. }))
            .or_else(|| challenges.first())
            .ok_or_else(|| RequestError::Unauthorized {
                detail: "the registry sent no WWW-Authenticate challenge berth can answer".into(),
            })?;
        // Remembered without its scope: the next request may be for another repository.
        let remembered = match chosen {
            Challenge::Bearer { realm, service, .. } => {
                Challenge::Bearer { realm: realm.clone(), service: service.clone(), scope: None }
            }
            Challenge::Basic => Challenge::Basic,
        };
        lock(&self.challenges).insert(scope.host.clone(), remembered);
        match chosen {
            Challenge::Basic => match creds {
                Some(c) => Ok(basic(c)),
                None => Err(RequestError::Unauthorized {
                    detail: format!("authentication required: log in to {}", scope.host),
                }),
            },
            Challenge::Bearer { realm, service, scope: asked } => {
                let key = (scope.host.clone(), scope.scope.clone());
                if let Some(t) = lock(&self.tokens).get(&key) {
                    if t.expires > Instant::now() {
                        return Ok(t.header.clone());
                    }
                }
                let scopes = token_scopes(&scope.scope, asked.as_deref());
                let target = TokenTarget { realm, service: service.as_deref(), scopes: &scopes };
                let token = fetch_token(transport, retries, &target, creds).await?;
                let header = token.header.clone();
                lock(&self.tokens).insert(key, token);
                Ok(header)
            }
        }
    }

    /// Forgets a token the registry refused, so the next attempt fetches a fresh one.
    pub(crate) fn forget(&self, scope: &Scope) {
        lock(&self.tokens).remove(&(scope.host.clone(), scope.scope.clone()));
    }
}

pub(crate) fn basic(c: &Credentials) -> HeaderValue {
    let raw = format!("{}:{}", c.username, c.password);
    let mut v = HeaderValue::from_str(&format!("Basic {}", base64::encode(raw.as_bytes())))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    v.set_sensitive(true);
    v
}

struct TokenTarget<'a> {
    realm: &'a str,
    service: Option<&'a str>,
    scopes: &'a [&'a str],
}

async fn fetch_token(
    transport: &Transport,
    retries: &Retries,
    target: &TokenTarget<'_>,
    creds: Option<&Credentials>,
) -> Result<Token, RequestError> {
    let wrap =
        |source| RequestError::Token { realm: target.realm.to_owned(), source: Box::new(source) };
    let refresh = creds.and_then(|c| c.identity_token.as_deref());
    let resp = if let Some(refresh) = refresh {
        post_token(
            transport,
            retries,
            target,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await
    } else {
        let mut params: Vec<(&str, &str)> =
            target.service.map(|s| ("service", s)).into_iter().collect();
        params.extend(target.scopes.iter().map(|s| ("scope", *s)));
        let mut req = Req::get(with_query(target.realm, &params).map_err(wrap)?);
        if let Some(c) = creds {
            req.headers.insert(AUTHORIZATION, basic(c));
        }
        let resp = request::send(transport, retries, &req).await.map_err(wrap)?;
        match (resp.status(), creds) {
            // Token servers that only speak OAuth2 answer GET with 404 or 405.
            (StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED, Some(c)) => {
                let form = [
                    ("grant_type", "password"),
                    ("username", &c.username),
                    ("password", &c.password),
                ];
                post_token(transport, retries, target, &form).await
            }
            _ => Ok(resp),
        }
    }
    .map_err(wrap)?;
    match resp.status() {
        s if s.is_success() => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            let detail = match creds {
                Some(c) => {
                    format!("the token server refused the credentials of user {:?}", c.username)
                }
                None => "the token server refused anonymous access; log in first".to_owned(),
            };
            return Err(wrap(RequestError::Unauthorized { detail }));
        }
        _ => return Err(wrap(request::status_error(resp).await)),
    }
    let body = resp.into_body().collect(TOKEN_LIMIT).await.map_err(wrap)?;
    parse_token(&body).map_err(wrap)
}

async fn post_token(
    transport: &Transport,
    retries: &Retries,
    target: &TokenTarget<'_>,
    grant: &[(&str, &str)],
) -> Result<http::Response<crate::transport::Body>, RequestError> {
    let mut form: Vec<(&str, &str)> = grant.to_vec();
    form.extend(target.service.map(|s| ("service", s)));
    form.push(("client_id", "berth"));
    let scopes = target.scopes.join(" ");
    if !scopes.is_empty() {
        form.push(("scope", &scopes));
    }
    let mut req = Req::get(target.realm.parse().map_err(|_| invalid(target.realm))?);
    req.method = Method::POST;
    req.body = Bytes::from(encode_form(&form));
    req.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
    request::send(transport, retries, &req).await
}

fn parse_token(body: &[u8]) -> Result<Token, RequestError> {
    #[derive(serde::Deserialize)]
    struct Reply {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let reply: Reply = serde_json::from_slice(body).map_err(RequestError::TokenBody)?;
    let token = reply.token.or(reply.access_token).unwrap_or_default();
    let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| RequestError::Unauthorized { detail: "token is not a valid header".into() })?;
    header.set_sensitive(true);
    let lifetime = reply.expires_in.map_or(MIN_TOKEN_LIFETIME, Duration::from_secs);
    let lifetime = lifetime.max(MIN_TOKEN_LIFETIME) - EXPIRY_MARGIN;
    Ok(Token { header, expires: Instant::now() + lifetime })
}

fn invalid(url: &str) -> RequestError {
    RequestError::InvalidUrl { url: url.to_owned() }
}

/// `url` with `params` appended to its query string.
fn with_query(url: &str, params: &[(&str, &str)]) -> Result<Uri, RequestError> {
    let mut out = url.to_owned();
    if !params.is_empty() {
        out.push(if url.contains('?') { '&' } else { '?' });
        out.push_str(&encode_form(params));
    }
    out.parse().map_err(|_| invalid(url))
}

fn encode_form(params: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut o = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                o.push(char::from(b));
            } else {
                o.push_str(&format!("%{b:02X}"));
            }
        }
        o
    };
    params.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_form_encoding() {
        let u = with_query(
            "https://a/token",
            &[("service", "reg io"), ("scope", "repository:x/y:pull")],
        )
        .unwrap();
        assert_eq!(
            u.to_string(),
            "https://a/token?service=reg%20io&scope=repository%3Ax%2Fy%3Apull"
        );
        let u = with_query("https://a/token?x=1", &[("a", "b")]).unwrap();
        assert_eq!(u.to_string(), "https://a/token?x=1&a=b");
    }

    #[test]
    fn token_replies() {
        let t = parse_token(br#"{"token":"abc","expires_in":300}"#).unwrap();
        assert_eq!(t.header, "Bearer abc");
        let left = t.expires - Instant::now();
        assert!(left > Duration::from_secs(280) && left <= Duration::from_secs(290), "{left:?}");
        let t = parse_token(br#"{"access_token":"xyz","expires_in":1}"#).unwrap();
        assert_eq!(t.header, "Bearer xyz");
        assert!(t.expires - Instant::now() > Duration::from_secs(45));
        assert!(parse_token(b"nope").is_err());
    }

    #[test]
    fn push_scopes_ask_for_pull_and_push() {
        let s = Scope::push("r:5000", "team/app", None);
        assert_eq!(s.scope, "repository:team/app:pull,push");
        let s = Scope::push("r:5000", "team/app", Some("library/busybox"));
        assert_eq!(s.scope, "repository:team/app:pull,push repository:library/busybox:pull");
        assert_eq!(
            token_scopes(&s.scope, Some("repository:team/app:pull,push")),
            ["repository:team/app:pull,push", "repository:library/busybox:pull"]
        );
        assert_eq!(
            token_scopes("repository:a:pull", Some("repository:b:pull")),
            ["repository:a:pull", "repository:b:pull"]
        );
        assert_eq!(token_scopes("", None), Vec::<&str>::new());
        assert_eq!(Scope::pull("h", "a").scope, "repository:a:pull");
    }

    #[test]
    fn basic_header() {
        let c = Credentials { username: "u".into(), password: "p".into(), identity_token: None };
        assert_eq!(basic(&c), "Basic dTpw");
        assert!(basic(&c).is_sensitive());
    }
}
