//! Pushing (OCI distribution-spec, "Pushing blobs" and "Pushing manifests"): a HEAD tells
//! whether the repository has a blob; a cross-repository mount (`POST
//! /v2/NAME/blobs/uploads/?mount=DIGEST&from=OTHER`) saves the upload when the registry
//! holds it in another repository; otherwise `POST /v2/NAME/blobs/uploads/` opens an upload
//! session and the bytes go to its `Location`. The manifest is PUT last, after every blob
//! it names is there, or the registry refuses it (`MANIFEST_BLOB_UNKNOWN`).
//!
//! The transport sends bodies from memory, so a blob larger than [`CHUNK`] goes up in
//! `PATCH` requests of at most that many bytes (`Content-Range`), then a closing
//! `PUT ?digest=`; a smaller one in a single `PUT ?digest=` (monolithic upload). That bounds
//! an upload's memory as streaming bounds a download's. The transport's stall timeout
//! ([`crate::Timeouts::stall`], 60 s by default) counts from the last progress of the body,
//! which goes to the connection 64 KiB at a time (`transport/progress.rs`), so a slow link
//! only has to keep moving; after the last 64 KiB, what is still buffered must drain and
//! the registry answer within it.
//!
//! A session the push gives up on (to start over in a new one, or with the error) is
//! cancelled with a `DELETE` of its Location ("Canceling an upload"), so the registry drops
//! what it received at once rather than when the session expires.
//!
//! Pushes go to the registry itself, never to a mirror. Auth asks for
//! `repository:NAME:pull,push` (and `repository:OTHER:pull` for a mount).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, Response, StatusCode, Uri};
use oci_spec::image::{Digest, DigestAlgorithm};

use crate::auth::{Credentials, Scope};
use crate::client::Client;
use crate::config::Retries;
use crate::endpoint::{Endpoint, Endpoints};
use crate::error::{BlobStep, Error, RequestError};
use crate::manifest;
use crate::reference::Reference;
use crate::transport::request::{self, Req};
use crate::transport::Body;

/// Blobs up to this size go up in one request; larger ones in chunks of this size.
pub const CHUNK: u64 = 8 << 20;

/// Response bodies of push requests are small JSON errors or nothing.
const SMALL_BODY: u64 = 64 * 1024;

/// The longest a session's cancel may take: it only tidies up (the registry expires the
/// session anyway), so it must not hold back the push, or its error, for a whole stall
/// timeout of a registry that stopped answering.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`Client::push_blob`] did with a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobPushed {
    /// The repository had it already.
    Exists,
    /// The registry mounted it from this other repository: nothing was uploaded.
    Mounted(String),
    /// Uploaded.
    Uploaded,
}

/// One blob's push: the endpoint, what is pushed, and with which credentials.
struct Job<'a> {
    ep: &'a Endpoint,
    ctx: Ctx<'a>,
    /// The repository as the endpoint names it.
    repository: String,
    size: u64,
    path: &'a Path,
    creds: Option<&'a Credentials>,
}

/// What a blob error names.
struct Ctx<'a> {
    reference: &'a Reference,
    digest: &'a Digest,
}

impl Ctx<'_> {
    fn err(&self, step: BlobStep, url: &str) -> impl Fn(RequestError) -> Error + '_ {
        let url = url.to_owned();
        move |source| Error::PushBlob {
            step,
            reference: self.reference.to_string(),
            digest: self.digest.to_string(),
            url: url.clone(),
            source,
        }
    }
}

impl Client {
    /// Makes sure `reference`'s repository has the blob `digest` of `size` bytes, whose
    /// content is the file `path`: checks, else mounts it from one of `mount_from` (other
    /// repositories of the same registry), else uploads it.
    pub async fn push_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        path: &Path,
        mount_from: &[String],
    ) -> Result<BlobPushed, Error> {
        let what = reference.to_string();
        let eps = Endpoints::parse(&self.cfg, reference.api_host(), reference.registry(), false);
        let op = |ep: Endpoint| async move {
            self.push_blob_at(&ep, reference, digest, size, path, mount_from).await
        };
        self.endpoints.first_ok(&what, eps, op).await
    }

    /// PUTs `manifest` (of `media_type`) as `reference`'s tag; returns its digest. Push the
    /// blobs it names first.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        manifest: Bytes,
    ) -> Result<Digest, Error> {
        let what = reference.to_string();
        let eps = Endpoints::parse(&self.cfg, reference.api_host(), reference.registry(), false);
        let op = |ep: Endpoint| {
            let manifest = manifest.clone();
            async move { self.push_manifest_at(&ep, reference, media_type, manifest).await }
        };
        self.endpoints.first_ok(&what, eps, op).await
    }

    async fn push_blob_at(
        &self,
        ep: &Endpoint,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        path: &Path,
        mount_from: &[String],
    ) -> Result<BlobPushed, Error> {
        let creds = self.credentials(ep, reference)?;
        let job = Job {
            ep,
            ctx: Ctx { reference, digest },
            repository: ep.repository(reference),
            size,
            path,
            creds: creds.as_ref(),
        };
        if self.has_blob(&job).await? {
            return Ok(BlobPushed::Exists);
        }
        // A mount the registry cannot or may not do is no failure: upload instead.
        for from in mount_from.iter().filter(|f| **f != job.repository).take(3) {
            if let Some(done) = self.mount(&job, from).await? {
                return Ok(done);
            }
        }
        let scope = Scope::push(&ep.authority, &job.repository, None);
        let uploads = format!("{}/v2/{}/blobs/uploads/", ep.base, job.repository);
        // A session that broke half way (a reset, a 5xx after retries) is started over once;
        // `upload` has cancelled it.
        let mut attempt = 0;
        loop {
            let start = post(&uploads).map_err(job.ctx.err(BlobStep::Upload, &uploads))?;
            let resp = self.send_push(ep, &scope, start, job.creds).await;
            let resp = resp.map_err(job.ctx.err(BlobStep::Upload, &uploads))?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(job.ctx.err(BlobStep::Upload, &uploads)(
                    request::status_error(resp).await,
                ));
            }
            let location =
                session(&uploads, resp).await.map_err(job.ctx.err(BlobStep::Upload, &uploads))?;
            match self.upload(&job, &scope, location).await {
                Err(Error::PushBlob { source, .. }) if attempt == 0 && restartable(&source) => {
                    tracing::debug!(error = %source, "upload broke; starting it over");
                    attempt += 1;
                }
                other => return other.map(|()| BlobPushed::Uploaded),
            }
        }
    }

    /// HEAD: does the repository have the blob?
    async fn has_blob(&self, job: &Job<'_>) -> Result<bool, Error> {
        let scope = Scope::push(&job.ep.authority, &job.repository, None);
        let url = job.ep.url(&job.repository, "blobs", job.ctx.digest.as_ref());
        let head = req(Method::HEAD, &url).map_err(job.ctx.err(BlobStep::Check, &url))?;
        let resp = self.send_push(job.ep, &scope, head, job.creds).await;
        let resp = resp.map_err(job.ctx.err(BlobStep::Check, &url))?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => {
                let _ = resp.into_body().collect(SMALL_BODY).await;
                Ok(s.is_success())
            }
            _ => Err(job.ctx.err(BlobStep::Check, &url)(request::status_error(resp).await)),
        }
    }

    /// A cross-repository mount from `from`: `Some` when the blob is now there (mounted, or
    /// uploaded to the session the registry opened instead), `None` to upload it anew.
    async fn mount(&self, job: &Job<'_>, from: &str) -> Result<Option<BlobPushed>, Error> {
        let scope = Scope::push(&job.ep.authority, &job.repository, Some(from));
        let (base, repository, digest) = (&job.ep.base, &job.repository, job.ctx.digest);
        let url = format!("{base}/v2/{repository}/blobs/uploads/?mount={digest}&from={from}");
        let mount = post(&url).map_err(job.ctx.err(BlobStep::Upload, &url))?;
        match self.send_push(job.ep, &scope, mount, job.creds).await {
            Ok(resp) if resp.status() == StatusCode::CREATED => {
                let _ = resp.into_body().collect(SMALL_BODY).await;
                Ok(Some(BlobPushed::Mounted(from.to_owned())))
            }
            Ok(resp) if resp.status() == StatusCode::ACCEPTED => {
                // The registry opened an upload session instead: use it. If it breaks the
                // way a new session may mend (`upload` has cancelled it), the caller
                // uploads anew, with the one restart an upload gets.
                let location =
                    session(&url, resp).await.map_err(job.ctx.err(BlobStep::Upload, &url))?;
                match self.upload(job, &scope, location).await {
                    Ok(()) => Ok(Some(BlobPushed::Uploaded)),
                    Err(Error::PushBlob { source, .. }) if restartable(&source) => {
                        tracing::debug!(error = %source, "upload to the mount's session broke");
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
            Ok(resp) => {
                let e = request::status_error(resp).await;
                tracing::debug!(%url, error = %e, "mount refused; uploading");
                Ok(None)
            }
            Err(e) => {
                tracing::debug!(%url, error = %e, "mount failed; uploading");
                Ok(None)
            }
        }
    }

    /// Sends the file to an upload session, and cancels the session when that fails: the
    /// caller gives it up either way (for a new session, or with the error).
    async fn upload(&self, job: &Job<'_>, scope: &Scope, location: Uri) -> Result<(), Error> {
        let mut location = location;
        let sent = self.send_to(job, scope, &mut location).await;
        if sent.is_err() {
            // At the latest Location the registry gave, not the first: one that carries the
            // session's state (distribution's `_state=`) may be valid only as the newest.
            self.cancel(job, scope, &location).await;
        }
        sent
    }

    /// Cancels the upload session at `location`: `DELETE` it (204). Best effort, after the
    /// error that ended the session, which stays the one reported: one attempt, without
    /// retries, for at most [`CANCEL_TIMEOUT`]; a failure (a 404 for a session the registry
    /// already dropped, too) is only logged.
    async fn cancel(&self, job: &Job<'_>, scope: &Scope, location: &Uri) {
        let url = location.to_string();
        let once = Retries { max_retries: 0, ..self.cfg.retries };
        let mut delete = Req::get(location.clone());
        delete.method = Method::DELETE;
        let cancelled = async {
            let resp =
                self.send_authorized(job.ep, scope, delete, job.creds, push_refused, &once).await?;
            if !resp.status().is_success() {
                return Err(request::status_error(resp).await);
            }
            let _ = resp.into_body().collect(SMALL_BODY).await;
            Ok(())
        };
        match tokio::time::timeout(CANCEL_TIMEOUT, cancelled).await {
            Ok(Ok(())) => tracing::debug!(%url, "cancelled the upload session"),
            Ok(Err(e)) => tracing::debug!(%url, error = %e, "cancel upload session failed"),
            Err(_) => {
                tracing::debug!(%url, after = ?CANCEL_TIMEOUT, "cancel upload session timed out")
            }
        }
    }

    /// Sends the file to an upload session: one PUT, or PATCH chunks and a closing PUT.
    /// `location` follows the session's Location as the registry moves it.
    async fn send_to(&self, job: &Job<'_>, scope: &Scope, location: &mut Uri) -> Result<(), Error> {
        let (ctx, size, path) = (&job.ctx, job.size, job.path);
        let read_err = |source| Error::ReadBlob {
            digest: ctx.digest.to_string(),
            path: path.to_owned(),
            source,
        };
        let mut offset = 0;
        let mut body = Bytes::new();
        if size <= CHUNK {
            body = read_range(path, 0, size).await.map_err(&read_err)?;
        } else {
            while offset < size {
                let len = CHUNK.min(size - offset);
                let chunk = read_range(path, offset, len).await.map_err(&read_err)?;
                let url = location.to_string();
                let mut r = req(Method::PATCH, &url).map_err(ctx.err(BlobStep::Upload, &url))?;
                r.headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                r.headers.insert(CONTENT_RANGE, header(&format!("{offset}-{}", offset + len - 1)));
                r.body = chunk;
                let resp = self.send_push(job.ep, scope, r, job.creds).await;
                let resp = resp.map_err(ctx.err(BlobStep::Upload, &url))?;
                if resp.status() != StatusCode::ACCEPTED {
                    return Err(ctx.err(BlobStep::Upload, &url)(request::status_error(resp).await));
                }
                *location = session(&url, resp).await.map_err(ctx.err(BlobStep::Upload, &url))?;
                offset += len;
            }
        }
        let url = with_digest(location, ctx.digest);
        let mut r = req(Method::PUT, &url).map_err(ctx.err(BlobStep::Upload, &url))?;
        r.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        r.headers.insert(CONTENT_LENGTH, header(&body.len().to_string()));
        r.body = body;
        let resp = self
            .send_push(job.ep, scope, r, job.creds)
            .await
            .map_err(ctx.err(BlobStep::Upload, &url))?;
        if !resp.status().is_success() {
            return Err(ctx.err(BlobStep::Upload, &url)(request::status_error(resp).await));
        }
        let _ = resp.into_body().collect(SMALL_BODY).await;
        Ok(())
    }

    async fn push_manifest_at(
        &self,
        ep: &Endpoint,
        reference: &Reference,
        media_type: &str,
        manifest: Bytes,
    ) -> Result<Digest, Error> {
        let creds = self.credentials(ep, reference)?;
        let repository = ep.repository(reference);
        let url = ep.url(&repository, "manifests", &reference.manifest_selector());
        let fail = |source| Error::PushManifest {
            reference: reference.to_string(),
            url: url.clone(),
            source,
        };
        let alg = reference.digest().map_or(DigestAlgorithm::Sha256, |d| d.algorithm().clone());
        let ours = manifest::digest_with(&alg, &manifest)
            .unwrap_or_else(|| format!("{alg}:(algorithm not supported)"));
        let mut r = req(Method::PUT, &url).map_err(fail)?;
        r.headers.insert(CONTENT_TYPE, header(media_type));
        r.headers.insert(CONTENT_LENGTH, header(&manifest.len().to_string()));
        r.body = manifest;
        let scope = Scope::push(&ep.authority, &repository, None);
        let resp = self.send_push(ep, &scope, r, creds.as_ref()).await.map_err(fail)?;
        if !resp.status().is_success() {
            return Err(fail(request::status_error(resp).await));
        }
        let served = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok());
        if let Some(served) = served.filter(|s| *s != ours) {
            return Err(Error::DigestMismatch {
                what: "pushed manifest",
                reference: reference.to_string(),
                expected: ours,
                actual: served.to_owned(),
            });
        }
        let _ = resp.into_body().collect(SMALL_BODY).await;
        ours.parse().map_err(|_| Error::UnsupportedManifest {
            reference: reference.to_string(),
            media_type: media_type.to_owned(),
        })
    }

    /// One push request with auth ([`Client::send_authorized`]).
    async fn send_push(
        &self,
        ep: &Endpoint,
        scope: &Scope,
        req: Req,
        creds: Option<&Credentials>,
    ) -> Result<Response<Body>, RequestError> {
        self.send_authorized(ep, scope, req, creds, push_refused, &self.cfg.retries).await
    }
}

/// The wording of a second 401 to a push request sent with credentials.
fn push_refused(host: &str, c: &Credentials) -> String {
    format!("{host} refused push for user {:?} (no push access to this repository?)", c.username)
}

/// A request with no body yet.
fn req(method: Method, url: &str) -> Result<Req, RequestError> {
    let uri: Uri = url.parse().map_err(|_| RequestError::InvalidUrl { url: url.to_owned() })?;
    let mut r = Req::get(uri);
    r.method = method;
    Ok(r)
}

/// A POST with an empty body that says so (some registries want `Content-Length: 0`).
fn post(url: &str) -> Result<Req, RequestError> {
    let mut r = req(Method::POST, url)?;
    r.headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(r)
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The upload session's URL from a 202's `Location` (absolute, or relative to `url`).
async fn session(url: &str, resp: Response<Body>) -> Result<Uri, RequestError> {
    let base: Uri = url.parse().map_err(|_| RequestError::InvalidUrl { url: url.to_owned() })?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let _ = resp.into_body().collect(SMALL_BODY).await;
    if !headers.contains_key(LOCATION) {
        let detail = "the upload session has no Location header".to_owned();
        return Err(RequestError::Status { status, detail });
    }
    request::location(&base, &headers)
}

/// `location` with `digest=DIGEST` added to its query: an upload's Location may carry its own
/// state there (distribution's `_state=`), which must be kept.
fn with_digest(location: &Uri, digest: &Digest) -> String {
    let url = location.to_string();
    let sep = if location.query().is_some() { '&' } else { '?' };
    format!("{url}{sep}digest={digest}")
}

/// Errors after which a new upload session may succeed: the connection, the registry's
/// 5xx, or a chunk it no longer expects after a retry (416).
fn restartable(e: &RequestError) -> bool {
    e.is_transient()
        || matches!(e.status(), Some(s) if s.is_server_error()
            || s == StatusCode::RANGE_NOT_SATISFIABLE)
}

/// `len` bytes of `path` from `offset`, read on a blocking thread.
async fn read_range(path: &Path, offset: u64, len: u64) -> std::io::Result<Bytes> {
    let path = path.to_owned();
    let read = move || -> std::io::Result<Bytes> {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(&path)?;
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)?;
        Ok(Bytes::from(buf))
    };
    tokio::task::spawn_blocking(read).await.map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Digest {
        format!("sha256:{}", "a".repeat(64)).parse().unwrap()
    }

    fn located(base: &str, location: &str) -> Uri {
        let mut h = http::HeaderMap::new();
        h.insert(LOCATION, location.parse().unwrap());
        request::location(&base.parse().unwrap(), &h).unwrap()
    }

    #[test]
    fn digest_goes_into_the_query_keeping_what_is_there() {
        let hex = "a".repeat(64);
        let u: Uri = "http://r:5000/v2/a/blobs/uploads/u1".parse().unwrap();
        assert_eq!(with_digest(&u, &d()), format!("{u}?digest=sha256:{hex}"));
        let u: Uri = "http://r:5000/v2/a/blobs/uploads/u1?_state=xyz%3D".parse().unwrap();
        assert_eq!(with_digest(&u, &d()), format!("{u}&digest=sha256:{hex}"));
        assert!(with_digest(&u, &d()).parse::<Uri>().is_ok());
    }

    #[test]
    fn upload_locations_relative_and_absolute() {
        let base = "http://127.0.0.1:5000/v2/team/app/blobs/uploads/";
        let rel = located(base, "/v2/team/app/blobs/uploads/u1?_state=s");
        assert_eq!(rel.to_string(), "http://127.0.0.1:5000/v2/team/app/blobs/uploads/u1?_state=s");
        let abs = located(base, "https://storage.example/upload/u1?sig=1");
        assert_eq!(abs.to_string(), "https://storage.example/upload/u1?sig=1");
        assert_eq!(
            with_digest(&abs, &d()),
            format!("https://storage.example/upload/u1?sig=1&digest=sha256:{}", "a".repeat(64))
        );
        let bare = located(base, "u2");
        assert_eq!(bare.to_string(), "http://127.0.0.1:5000/v2/team/app/blobs/uploads/u2");
    }

    #[test]
    fn which_failures_start_an_upload_over() {
        let status = |s: StatusCode| RequestError::Status { status: s, detail: String::new() };
        assert!(restartable(&status(StatusCode::BAD_GATEWAY)));
        assert!(restartable(&status(StatusCode::RANGE_NOT_SATISFIABLE)));
        assert!(!restartable(&status(StatusCode::BAD_REQUEST)));
        assert!(!restartable(&RequestError::Unauthorized { detail: String::new() }));
    }

    #[tokio::test]
    async fn ranges_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("blob");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(&read_range(&p, 0, 4).await.unwrap()[..], b"0123");
        assert_eq!(&read_range(&p, 8, 2).await.unwrap()[..], b"89");
        let short = read_range(&p, 8, 4).await.unwrap_err();
        assert_eq!(short.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
