//! The crate's two error types: [`Error`] names the operation (reference, digest, URL);
//! its source, a [`RequestError`], says what happened on the wire.

use std::path::PathBuf;
use std::time::Duration;

use http::StatusCode;

/// A failed registry operation. Display names the operation; the source says why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fetching a manifest or index by tag or digest.
    #[error("fetch manifest {reference} from {url}")]
    FetchManifest {
        /// The reference being resolved (fully qualified).
        reference: String,
        /// The manifest URL, as last requested.
        url: String,
        /// What went wrong.
        #[source]
        source: RequestError,
    },
    /// The last endpoint's failure, after mirrors (or an https attempt) failed before it.
    #[error("after {tried}")]
    FellThrough {
        /// Each endpoint tried before, with why it failed, comma-separated.
        tried: String,
        /// The failure of the last endpoint tried (the registry itself).
        #[source]
        source: Box<Error>,
    },
    /// No endpoint to try (cannot happen: the registry itself is always one).
    #[error("no endpoint to reach {reference}")]
    NoEndpoint {
        /// The reference or registry.
        reference: String,
    },
    /// Fetching a blob (layer or config).
    #[error("fetch blob {digest} of {reference} from {url}")]
    FetchBlob {
        /// The reference the blob belongs to.
        reference: String,
        /// The blob's digest.
        digest: String,
        /// The blob URL, as last requested.
        url: String,
        /// What went wrong.
        #[source]
        source: RequestError,
    },
    /// Content whose digest is not the one asked for.
    #[error("{what} of {reference} has digest {actual}, expected {expected}")]
    DigestMismatch {
        /// `manifest` or `blob`.
        what: &'static str,
        /// The reference.
        reference: String,
        /// The digest that was asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A manifest that is not JSON of the expected shape.
    #[error("parse {media_type} manifest of {reference}")]
    ParseManifest {
        /// The reference.
        reference: String,
        /// The media type the manifest was parsed as.
        media_type: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A manifest media type berth cannot pull (Docker schema 1, artifacts, ...).
    #[error("{reference} has unsupported manifest media type {media_type:?}")]
    UnsupportedManifest {
        /// The reference.
        reference: String,
        /// The media type the registry sent.
        media_type: String,
    },
    /// An index or manifest list without the wanted platform.
    #[error("{reference} has no image for platform {wanted}; available: {}", list(available))]
    PlatformNotFound {
        /// The reference.
        reference: String,
        /// The platform that was asked for.
        wanted: String,
        /// The platforms the index offers.
        available: Vec<String>,
    },
    /// Checking or uploading a blob during a push (a refused mount falls back to an upload).
    #[error("{step} blob {digest} of {reference} {} {url}", .step.preposition())]
    PushBlob {
        /// Which step failed.
        step: BlobStep,
        /// The reference being pushed (fully qualified).
        reference: String,
        /// The blob's digest.
        digest: String,
        /// The URL last requested (the blob, the upload session or its Location).
        url: String,
        /// What went wrong.
        #[source]
        source: RequestError,
    },
    /// Reading a local blob to push.
    #[error("read blob {digest} from {path}")]
    ReadBlob {
        /// The blob's digest.
        digest: String,
        /// The file.
        path: PathBuf,
        /// Why (a short file is `UnexpectedEof`).
        #[source]
        source: std::io::Error,
    },
    /// Putting the manifest, the last step of a push.
    #[error("put manifest {reference} at {url}")]
    PushManifest {
        /// The reference being pushed.
        reference: String,
        /// The manifest URL.
        url: String,
        /// What went wrong.
        #[source]
        source: RequestError,
    },
    /// Checking credentials during `login`.
    #[error("log in to {registry} at {url}")]
    Login {
        /// The registry.
        registry: String,
        /// The URL that refused or failed.
        url: String,
        /// What went wrong.
        #[source]
        source: RequestError,
    },
    /// Reading an auth file (`config.json` / `auth.json`).
    #[error("read auth file {path}")]
    ReadAuthFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Running a Docker credential helper (`credHelpers`, `credsStore`) failed.
    #[error("credential helper {helper} {verb} {server}")]
    CredentialHelper {
        /// `docker-credential-NAME`.
        helper: String,
        /// `get`, `store` or `erase`.
        verb: &'static str,
        /// The server it was asked about.
        server: String,
        /// Why: the exec error, or what the helper said.
        #[source]
        source: std::io::Error,
    },
    /// Writing an auth file.
    #[error("write auth file {path}")]
    WriteAuthFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

impl Error {
    /// The HTTP status behind this error, if the registry answered with one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::FetchManifest { source, .. }
            | Self::FetchBlob { source, .. }
            | Self::Login { source, .. }
            | Self::PushBlob { source, .. }
            | Self::PushManifest { source, .. } => source.status(),
            Self::FellThrough { source, .. } => source.status(),
            _ => None,
        }
    }

    /// True for 401/403: missing or wrong credentials.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.status(), Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN))
    }

    /// True for 404: unknown repository, tag or blob.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }
}

/// What went wrong talking to a registry (or its token server).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Loading a CA bundle, a certs.d CA or a client key pair.
    #[error("load TLS material from {path}")]
    LoadCerts {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A URL that cannot be requested.
    #[error("invalid url {url:?}")]
    InvalidUrl {
        /// The URL.
        url: String,
    },
    /// Name resolution of the registry host.
    #[error("resolve host {host}")]
    Resolve {
        /// host:port.
        host: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TCP connect (connection refused, unreachable, ...).
    #[error("connect to {addr}")]
    Connect {
        /// The address tried last.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Name resolution, connect and TLS handshake together took too long.
    #[error("connect to {host} timed out after {after:?}")]
    ConnectTimeout {
        /// host:port.
        host: String,
        /// The configured connect timeout.
        after: Duration,
    },
    /// The TLS handshake (unknown CA, wrong name, expired, not TLS at all).
    #[error("tls handshake with {host}")]
    Tls {
        /// host:port.
        host: String,
        /// Why (a rustls error inside).
        #[source]
        source: std::io::Error,
    },
    /// The HTTP/1.1 exchange itself (connection reset, malformed response, ...).
    #[error("http exchange")]
    Http(#[source] hyper::Error),
    /// No response headers or body bytes arrived for the stall timeout.
    #[error("no data for {0:?}")]
    Stalled(Duration),
    /// The body ended early.
    #[error("body ended after {got} of {expected} bytes")]
    Truncated {
        /// Bytes received.
        got: u64,
        /// Bytes announced.
        expected: u64,
    },
    /// The body went past the announced size or a safety limit.
    #[error("body larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// 401 with a challenge we answered and was refused again, or one we cannot answer.
    #[error("HTTP 401 Unauthorized: {detail}")]
    Unauthorized {
        /// Wrong credentials, not logged in, or why the challenge could not be answered.
        detail: String,
    },
    /// Any other unexpected status. `detail` is the registry's own error text, if any.
    #[error("HTTP {status}{}", detail_suffix(detail))]
    Status {
        /// The status.
        status: StatusCode,
        /// `CODE: message` from the registry's error body.
        detail: String,
    },
    /// 429 whose Retry-After is longer than the configured limit, or retries ran out.
    #[error("HTTP 429 Too Many Requests ({}){}", retry_text(retry_after), detail_suffix(detail))]
    TooManyRequests {
        /// The server's Retry-After, if given.
        retry_after: Option<Duration>,
        /// The registry's error text.
        detail: String,
    },
    /// More than the allowed number of redirects.
    #[error("too many redirects (last to {location})")]
    TooManyRedirects {
        /// The last Location.
        location: String,
    },
    /// The token server's reply.
    #[error("token from {realm}")]
    Token {
        /// The realm URL.
        realm: String,
        /// Why.
        #[source]
        source: Box<RequestError>,
    },
    /// A token server reply that is not `{"token": ...}` JSON.
    #[error("malformed token response")]
    TokenBody(#[source] serde_json::Error),
}

fn retry_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!("retry after {}s", d.as_secs()),
        None => "no Retry-After".to_owned(),
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

impl RequestError {
    /// The HTTP status, if the failure was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Unauthorized { .. } => Some(StatusCode::UNAUTHORIZED),
            Self::Status { status, .. } => Some(*status),
            Self::TooManyRequests { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            Self::Token { source, .. } => source.status(),
            _ => None,
        }
    }

    /// Whether trying again may help (timeouts, resets); not refused connections or TLS errors.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Http(_) | Self::Stalled(_) | Self::ConnectTimeout { .. } => true,
            Self::Connect { source, .. } => source.kind() != std::io::ErrorKind::ConnectionRefused,
            _ => false,
        }
    }
}

/// The step of a blob push that failed ([`Error::PushBlob`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobStep {
    /// The HEAD that asks whether the repository has the blob.
    Check,
    /// Opening the upload session, sending the bytes, closing it.
    Upload,
}

impl BlobStep {
    fn preposition(self) -> &'static str {
        match self {
            BlobStep::Check => "at",
            BlobStep::Upload => "to",
        }
    }
}

impl std::fmt::Display for BlobStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BlobStep::Check => "check",
            BlobStep::Upload => "upload",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_push_error_names_its_step() {
        let err = |step| Error::PushBlob {
            step,
            reference: "h/r:t".into(),
            digest: "sha256:ab".into(),
            url: "http://h/v2/r/blobs/sha256:ab".into(),
            source: RequestError::Stalled(std::time::Duration::from_secs(60)),
        };
        let check = err(BlobStep::Check).to_string();
        assert_eq!(check, "check blob sha256:ab of h/r:t at http://h/v2/r/blobs/sha256:ab");
        assert!(err(BlobStep::Upload).to_string().starts_with("upload blob sha256:ab of h/r:t to"));
    }
}
