//! [`Client`]: resolve a reference to one platform's manifest, stream blobs, log in.
//!
//! Every operation tries the registry's mirrors first (any failure falls through to the
//! next, and is kept: see `endpoint`), then the registry itself, whose error is the one
//! reported.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Response, StatusCode, Uri};
use oci_spec::image::{Descriptor, Digest, DigestAlgorithm, ImageIndex, ImageManifest};

use crate::auth::{self, challenge, file, Auth, Credentials, Scope};
use crate::blob::{BlobContext, BlobStream};
use crate::config::{ClientConfig, Retries};
use crate::endpoint::{Endpoint, Endpoints};
use crate::error::{Error, RequestError};
use crate::manifest::{self, Kind, Resolved};
use crate::platform::{self, Platform};
use crate::reference::{Reference, DOCKER_HUB, DOCKER_HUB_API};
use crate::transport::request::{self, Req};
use crate::transport::tls::TlsConfigs;
use crate::transport::{Body, Transport};

/// A registry client. Cheap to share by reference across tasks; connections are pooled.
#[derive(Debug)]
pub struct Client {
    pub(crate) cfg: ClientConfig,
    pub(crate) transport: Transport,
    pub(crate) auth: Auth,
    pub(crate) endpoints: Endpoints,
    /// Credentials looked up per auth key (mirror host, or registry/repository), so that a
    /// credential helper runs once per pull, not once per blob.
    creds: Mutex<HashMap<String, Option<Credentials>>>,
}

/// A fetched manifest or index, verified.
struct Fetched {
    bytes: Bytes,
    kind: Kind,
    media_type: String,
    digest: Digest,
}

impl Client {
    /// A client; nothing is read or connected until the first request.
    pub fn new(cfg: ClientConfig) -> Self {
        let tls =
            TlsConfigs::new(cfg.certs_dir.clone(), cfg.tls_verify, cfg.unverified_tls.clone());
        let transport = Transport::new(tls, cfg.timeouts, &cfg.user_agent);
        let (auth, endpoints, creds) = Default::default();
        Self { cfg, transport, auth, endpoints, creds }
    }

    /// The manifest of `reference` for `platform`: follows an OCI index or Docker manifest
    /// list, and verifies every manifest's digest (against the reference's digest, the index
    /// entry, or the registry's `Docker-Content-Digest`).
    pub async fn resolve(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<Resolved, Error> {
        let what = reference.to_string();
        let eps = self.endpoints_for(reference);
        let op = |ep: Endpoint| async move { self.resolve_at(&ep, reference, platform).await };
        self.endpoints.first_ok(&what, eps, op).await
    }

    /// Starts downloading the blob `desc` of `reference`'s repository. The body is streamed;
    /// see [`BlobStream`].
    pub async fn fetch_blob(
        &self,
        reference: &Reference,
        desc: &Descriptor,
    ) -> Result<BlobStream, Error> {
        let what = reference.to_string();
        let eps = self.endpoints_for(reference);
        let op = |ep: Endpoint| async move { self.fetch_blob_at(&ep, reference, desc).await };
        self.endpoints.first_ok(&what, eps, op).await
    }

    /// A small blob (the image config) read whole and digest-verified.
    pub async fn fetch_blob_bytes(
        &self,
        reference: &Reference,
        desc: &Descriptor,
    ) -> Result<Bytes, Error> {
        let mut stream = self.fetch_blob(reference, desc).await?.verify_digest();
        let mut out = Vec::with_capacity(usize::try_from(desc.size()).unwrap_or(0).min(1 << 20));
        while let Some(chunk) = stream.next_chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }

    /// Checks `creds` against `registry` (`docker.io`, `host[:port]`) and stores them in `file`
    /// (Docker `config.json` format, mode 0600).
    pub async fn login(
        &self,
        registry: &str,
        creds: &Credentials,
        file: &Path,
    ) -> Result<(), Error> {
        let host = if registry == DOCKER_HUB { DOCKER_HUB_API } else { registry };
        let eps = Endpoints::parse(&self.cfg, host, registry, false);
        let op = |ep: Endpoint| async move { self.login_at(&ep, registry, creds, file).await };
        self.endpoints.first_ok(registry, eps, op).await
    }

    async fn login_at(
        &self,
        ep: &Endpoint,
        registry: &str,
        creds: &Credentials,
        file: &Path,
    ) -> Result<(), Error> {
        let url = format!("{}/v2/", ep.base);
        let fail =
            |source| Error::Login { registry: registry.to_owned(), url: url.clone(), source };
        let uri: Uri =
            url.parse().map_err(|_| fail(RequestError::InvalidUrl { url: url.clone() }))?;
        let mut req = Req::get(uri);
        let scope = Scope { host: ep.authority.clone(), scope: String::new() };
        let retries = &self.cfg.retries;
        for answered in [false, true] {
            let resp = request::send(&self.transport, retries, &req).await.map_err(fail)?;
            match resp.status() {
                s if s.is_success() => return file::store_credentials(file, registry, creds),
                StatusCode::UNAUTHORIZED if !answered => {
                    let challenges = challenges(&resp);
                    let _ = resp.into_body().collect(64 * 1024).await;
                    let header = self
                        .auth
                        .answer(&self.transport, retries, &scope, &challenges, Some(creds))
                        .await
                        .map_err(fail)?;
                    req.headers.insert(AUTHORIZATION, header);
                }
                StatusCode::UNAUTHORIZED => {
                    let detail =
                        format!("{registry} refused the credentials of user {:?}", creds.username);
                    return Err(fail(RequestError::Unauthorized { detail }));
                }
                _ => return Err(fail(request::status_error(resp).await)),
            }
        }
        Err(fail(RequestError::Unauthorized { detail: "login not accepted".into() }))
    }

    /// Removes `registry`'s credentials from `file`; false if there were none.
    pub fn logout(&self, registry: &str, file: &Path) -> Result<bool, Error> {
        auth::remove_credentials(file, registry)
    }

    /// Failures a mirror or a fallback recovered from since the last call ("mirror X failed
    /// (reason); used Y"), for the caller to show: the pull succeeded, but the user should
    /// know a mirror is broken.
    pub fn take_notes(&self) -> Vec<String> {
        self.endpoints.take_notes()
    }

    /// The registry's mirrors in order, then the registry itself.
    fn endpoints_for(&self, reference: &Reference) -> Vec<Endpoint> {
        let mut eps = Vec::new();
        for m in self.cfg.mirrors.iter().filter(|m| m.registry == reference.registry()) {
            for spec in &m.endpoints {
                eps.extend(Endpoints::parse(&self.cfg, spec, spec, true));
            }
        }
        eps.extend(Endpoints::parse(&self.cfg, reference.api_host(), reference.registry(), false));
        eps
    }

    pub(crate) fn credentials(
        &self,
        ep: &Endpoint,
        reference: &Reference,
    ) -> Result<Option<Credentials>, Error> {
        let key = match ep.mirror {
            true => ep.authority.clone(),
            false => format!("{}/{}", reference.registry(), reference.repository()),
        };
        if let Some(hit) = self.creds.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(hit.clone());
        }
        let files = &self.cfg.auth_files;
        let found = match ep.mirror {
            true => file::lookup(files, &ep.authority, None)?,
            false => file::lookup(files, reference.registry(), Some(reference.repository()))?,
        };
        self.creds.lock().unwrap_or_else(|p| p.into_inner()).insert(key, found.clone());
        Ok(found)
    }

    async fn resolve_at(
        &self,
        ep: &Endpoint,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<Resolved, Error> {
        let creds = self.credentials(ep, reference)?;
        let creds = creds.as_ref();
        let top = self
            .fetch_manifest(
                ep,
                reference,
                &reference.manifest_selector(),
                reference.digest(),
                creds,
            )
            .await?;
        let (fetched, index_digest, chosen) = match top.kind {
            Kind::Manifest => (top, None, None),
            Kind::Index => {
                let index: ImageIndex = parse_json(reference, &top)?;
                let desc = platform::select(index.manifests(), platform).map_err(|avail| {
                    Error::PlatformNotFound {
                        reference: reference.to_string(),
                        wanted: platform.to_string(),
                        available: avail.iter().map(ToString::to_string).collect(),
                    }
                })?;
                let child = desc.digest().to_string();
                let fetched =
                    self.fetch_manifest(ep, reference, &child, Some(desc.digest()), creds).await?;
                if fetched.kind != Kind::Manifest {
                    let media_type = format!("{} (an index inside an index)", fetched.media_type);
                    return Err(Error::UnsupportedManifest {
                        reference: reference.to_string(),
                        media_type,
                    });
                }
                (fetched, Some(top.digest), Platform::of(desc))
            }
        };
        let manifest: ImageManifest = parse_json(reference, &fetched)?;
        Ok(Resolved {
            manifest_digest: fetched.digest,
            index_digest,
            media_type: fetched.media_type,
            config: manifest.config().clone(),
            layers: manifest.layers().clone(),
            manifest,
            raw_manifest: fetched.bytes,
            platform: chosen,
        })
    }

    async fn fetch_manifest(
        &self,
        ep: &Endpoint,
        reference: &Reference,
        selector: &str,
        expected: Option<&Digest>,
        creds: Option<&Credentials>,
    ) -> Result<Fetched, Error> {
        let repository = ep.repository(reference);
        let url = ep.url(&repository, "manifests", selector);
        let fail = |source| Error::FetchManifest {
            reference: reference.to_string(),
            url: url.clone(),
            source,
        };
        let resp =
            self.get(ep, &repository, &url, Some(manifest::ACCEPT), creds).await.map_err(fail)?;
        if !resp.status().is_success() {
            return Err(fail(request::status_error(resp).await));
        }
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok());
        let content_type = header(CONTENT_TYPE.as_str()).map(str::to_owned);
        let served: Option<Digest> = header("docker-content-digest").and_then(|d| d.parse().ok());
        let bytes = resp.into_body().collect(manifest::MANIFEST_LIMIT).await.map_err(fail)?;
        let expected = expected.cloned().or(served);
        let alg = expected.as_ref().map_or(DigestAlgorithm::Sha256, |e| e.algorithm().clone());
        let actual = manifest::digest_with(&alg, &bytes)
            .unwrap_or_else(|| format!("{alg}:(algorithm not supported)"));
        let mismatch = |expected: String| Error::DigestMismatch {
            what: "manifest",
            reference: reference.to_string(),
            expected,
            actual: actual.clone(),
        };
        let digest = match expected {
            Some(e) if e.to_string() == actual => e,
            Some(e) => return Err(mismatch(e.to_string())),
            None => actual.parse().map_err(|_| mismatch(actual.clone()))?,
        };
        let (kind, media_type) =
            manifest::classify(content_type.as_deref(), &bytes).map_err(|m| {
                Error::UnsupportedManifest { reference: reference.to_string(), media_type: m }
            })?;
        Ok(Fetched { bytes, kind, media_type, digest })
    }

    async fn fetch_blob_at(
        &self,
        ep: &Endpoint,
        reference: &Reference,
        desc: &Descriptor,
    ) -> Result<BlobStream, Error> {
        let creds = self.credentials(ep, reference)?;
        let repository = ep.repository(reference);
        let digest = desc.digest().clone();
        let url = ep.url(&repository, "blobs", digest.as_ref());
        let ctx = BlobContext { reference: reference.to_string(), digest, url };
        let fail = |source| Error::FetchBlob {
            reference: ctx.reference.clone(),
            digest: ctx.digest.to_string(),
            url: ctx.url.clone(),
            source,
        };
        let resp = self.get(ep, &repository, &ctx.url, None, creds.as_ref()).await.map_err(fail)?;
        if !resp.status().is_success() {
            return Err(fail(request::status_error(resp).await));
        }
        let length = resp.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
        Ok(BlobStream::new(resp.into_body(), length, desc.size(), ctx))
    }

    /// GET with auth: an up-front token or Basic header if this host challenged before, and
    /// one answer to a fresh 401 challenge.
    async fn get(
        &self,
        ep: &Endpoint,
        repository: &str,
        url: &str,
        accept: Option<&'static str>,
        creds: Option<&Credentials>,
    ) -> Result<Response<Body>, RequestError> {
        let uri: Uri = url.parse().map_err(|_| RequestError::InvalidUrl { url: url.to_owned() })?;
        let mut req = Req::get(uri);
        if let Some(accept) = accept {
            req.headers.insert(ACCEPT, http::HeaderValue::from_static(accept));
        }
        let scope = Scope::pull(&ep.authority, repository);
        let refused = |host: &str, c: &Credentials| {
            format!("{host} refused the credentials of user {:?}", c.username)
        };
        self.send_authorized(ep, &scope, req, creds, refused, &self.cfg.retries).await
    }

    /// One request with auth, for pulls and pushes alike: an up-front token or Basic header
    /// if this host challenged before, and one answer to a fresh 401 challenge; a second 401
    /// is [`RequestError::Unauthorized`], worded by `refused` when credentials were given.
    /// `retries` is the client's, except for a best-effort request that tries once.
    pub(crate) async fn send_authorized(
        &self,
        ep: &Endpoint,
        scope: &Scope,
        mut req: Req,
        creds: Option<&Credentials>,
        refused: fn(&str, &Credentials) -> String,
        retries: &Retries,
    ) -> Result<Response<Body>, RequestError> {
        let t = &self.transport;
        if let Some(h) = self.auth.up_front(t, retries, scope, creds).await? {
            req.headers.insert(AUTHORIZATION, h);
        }
        let mut answered = false;
        loop {
            let resp = request::send(t, retries, &req).await?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            let challenges = challenges(&resp);
            let _ = resp.into_body().collect(64 * 1024).await;
            self.auth.forget(scope);
            if answered {
                let detail = match creds {
                    Some(c) => refused(&ep.authority, c),
                    None => format!("authentication required: log in to {}", ep.authority),
                };
                return Err(RequestError::Unauthorized { detail });
            }
            let header = self.auth.answer(t, retries, scope, &challenges, creds).await?;
            req.headers.insert(AUTHORIZATION, header);
            answered = true;
        }
    }
}

fn challenges(resp: &Response<Body>) -> Vec<challenge::Challenge> {
    let values = resp.headers().get_all(WWW_AUTHENTICATE);
    values.iter().filter_map(|v| v.to_str().ok()).flat_map(challenge::parse).collect()
}

fn parse_json<T: serde::de::DeserializeOwned>(
    reference: &Reference,
    f: &Fetched,
) -> Result<T, Error> {
    serde_json::from_slice(&f.bytes).map_err(|source| Error::ParseManifest {
        reference: reference.to_string(),
        media_type: f.media_type.clone(),
        source,
    })
}
