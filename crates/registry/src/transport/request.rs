//! One logical request: retries with backoff on 429/5xx and transient network errors
//! (honouring Retry-After), and redirects (blob storage often lives elsewhere).

use std::time::{Duration, SystemTime};

use super::{Body, Transport, Upload};
use crate::config::Retries;
use crate::error::RequestError;
use bytes::Bytes;
use http::header::{AUTHORIZATION, LOCATION, RETRY_AFTER};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};

const MAX_REDIRECTS: u32 = 5;
/// Error bodies are read for their text up to this size.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// A request that can be sent more than once.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) url: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Req {
    pub(crate) fn get(url: Uri) -> Self {
        Self { method: Method::GET, url, headers: HeaderMap::new(), body: Bytes::new() }
    }

    fn build(&self) -> Result<Request<Upload>, RequestError> {
        let mut req = Request::builder()
            .method(self.method.clone())
            .uri(self.url.clone())
            .body(Upload::new(self.body.clone()))
            .map_err(|_| RequestError::InvalidUrl { url: self.url.to_string() })?;
        *req.headers_mut() = self.headers.clone();
        Ok(req)
    }
}

/// Sends `req`, following redirects and retrying per `retries`. Returns any final response
/// that is not a redirect, 429 or 5xx (so 2xx, 401, 403, 404 ... reach the caller).
pub(crate) async fn send(
    transport: &Transport,
    retries: &Retries,
    req: &Req,
) -> Result<Response<Body>, RequestError> {
    let mut req = req.clone();
    let (mut attempt, mut redirects) = (0u32, 0u32);
    loop {
        let resp = match transport.send(req.build()?).await {
            Ok(resp) => resp,
            Err(e) if e.is_transient() && attempt < retries.max_retries => {
                tracing::debug!(url = %req.url, error = %e, attempt, "retrying");
                tokio::time::sleep(retries.backoff(attempt)).await;
                attempt += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let status = resp.status();
        if status.is_redirection() && resp.headers().contains_key(LOCATION) {
            redirects += 1;
            let next = location(&req.url, resp.headers())?;
            if redirects > MAX_REDIRECTS {
                return Err(RequestError::TooManyRedirects { location: next.to_string() });
            }
            // Credentials are for the registry; presigned storage URLs refuse extra ones.
            if next.authority() != req.url.authority() {
                req.headers.remove(AUTHORIZATION);
            }
            let _ = resp.into_body().collect(ERROR_BODY_LIMIT).await;
            req.url = next;
            continue;
        }
        if !retryable(status) {
            return Ok(resp);
        }
        let retry_after = retry_after(resp.headers());
        let detail = error_detail(resp.into_body()).await;
        let too_long = retry_after.is_some_and(|d| d > retries.max_delay);
        if attempt >= retries.max_retries || too_long {
            return Err(match status {
                StatusCode::TOO_MANY_REQUESTS => {
                    RequestError::TooManyRequests { retry_after, detail }
                }
                status => RequestError::Status { status, detail },
            });
        }
        let wait = retry_after.unwrap_or_else(|| retries.backoff(attempt));
        tracing::debug!(url = %req.url, %status, ?wait, attempt, "retrying");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// Resolves a Location header (absolute, or relative to `base`).
pub(crate) fn location(base: &Uri, headers: &HeaderMap) -> Result<Uri, RequestError> {
    let raw = headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let invalid = || RequestError::InvalidUrl { url: raw.to_owned() };
    if raw.starts_with("http://") || raw.starts_with("https://") {
        return raw.parse().map_err(|_| invalid());
    }
    let scheme = base.scheme_str().unwrap_or("https");
    let authority = base.authority().map_or("", |a| a.as_str());
    let path = if raw.starts_with('/') {
        raw.to_owned()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{raw}")
    };
    format!("{scheme}://{authority}{path}").parse().map_err(|_| invalid())
}

/// Retry-After as delay-seconds or an HTTP-date (RFC 9110 10.2.3).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

/// The registry's error text from a distribution error body
/// (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`), else empty.
pub(crate) async fn error_detail(body: Body) -> String {
    let Ok(bytes) = body.collect(ERROR_BODY_LIMIT).await else { return String::new() };
    detail_text(&bytes)
}

fn detail_text(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Errors>(bytes) {
        Ok(e) => e
            .errors
            .iter()
            .map(|i| match (i.code.is_empty(), i.message.is_empty()) {
                (false, false) => format!("{}: {}", i.code, i.message),
                (false, true) => i.code.clone(),
                _ => i.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        // A short plain-text body is worth showing; HTML error pages are not.
        Err(_) => match std::str::from_utf8(bytes) {
            Ok(t) if t.len() <= 200 && !t.trim_start().starts_with('<') => t.trim().to_owned(),
            _ => String::new(),
        },
    }
}

/// Maps a final non-success response to an error, with the registry's error text.
pub(crate) async fn status_error(resp: Response<Body>) -> RequestError {
    let status = resp.status();
    let detail = error_detail(resp.into_body()).await;
    if status == StatusCode::UNAUTHORIZED {
        return RequestError::Unauthorized { detail };
    }
    RequestError::Status { status, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let base: Uri = "https://reg.io:5000/v2/a/blobs/sha256:1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(LOCATION, "https://s3.example/x?sig=1".parse().unwrap());
        assert_eq!(location(&base, &h).unwrap().to_string(), "https://s3.example/x?sig=1");
        h.insert(LOCATION, "/storage/x".parse().unwrap());
        assert_eq!(location(&base, &h).unwrap().to_string(), "https://reg.io:5000/storage/x");
        h.insert(LOCATION, "y".parse().unwrap());
        assert_eq!(location(&base, &h).unwrap().to_string(), "https://reg.io:5000/v2/a/blobs/y");
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        h.insert(RETRY_AFTER, later.parse().unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn error_details() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(detail_text(body), "MANIFEST_UNKNOWN: manifest unknown");
        assert_eq!(detail_text(b"not found\n"), "not found");
        assert_eq!(detail_text(b"<html>...</html>"), "");
    }
}
