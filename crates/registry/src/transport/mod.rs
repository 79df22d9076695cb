//! HTTP/1.1 over TCP or rustls, straight on hyper's connection API, with a small keep-alive pool.
//!
//! Why not a full client: registries need per-host TLS roots (certs.d), and pulls need a
//! per-read stall timeout and bodies streamed to a consumer; a connection API plus ~200 lines
//! does that with far fewer dependencies (docs/adr/0007-registry-http-client.md).
//!
//! A connection goes back to the idle pool only after its response body was read to the end,
//! so a connection streaming one layer is never handed to a second request.

mod progress;
pub(crate) mod request;
pub(crate) mod tls;

pub(crate) use progress::Upload;

#[cfg(test)]
mod upload_tests;

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HOST, USER_AGENT};
use http::{HeaderValue, Request, Response};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant, Sleep};

use crate::config::Timeouts;
use crate::error::RequestError;
use tls::TlsConfigs;

type Sender = SendRequest<Upload>;

/// Idle connections kept per origin; more parallel downloads than this just reconnect.
const MAX_IDLE_PER_ORIGIN: usize = 8;

/// Sends requests; cheap to clone (shared pool and TLS configs).
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tls: TlsConfigs,
    timeouts: Timeouts,
    user_agent: HeaderValue,
    /// Written when a body ends (check-in) and read by `checkout`.
    idle: Mutex<HashMap<Origin, Vec<Sender>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    tls: bool,
    /// The URI authority as written (`host[:port]`): the certs.d directory and Host header.
    authority: String,
}

impl Transport {
    pub(crate) fn new(tls: TlsConfigs, timeouts: Timeouts, user_agent: &str) -> Self {
        let user_agent =
            HeaderValue::from_str(user_agent).unwrap_or_else(|_| HeaderValue::from_static("berth"));
        let idle = Mutex::new(HashMap::new());
        Self { inner: Arc::new(Inner { tls, timeouts, user_agent, idle }) }
    }

    /// Sends one request (absolute URI) and returns once the response headers arrived.
    pub(crate) async fn send(
        &self,
        mut req: Request<Upload>,
    ) -> Result<Response<Body>, RequestError> {
        let uri = req.uri().clone();
        let invalid = || RequestError::InvalidUrl { url: uri.to_string() };
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid()),
        };
        let authority = uri.authority().ok_or_else(invalid)?.as_str().to_owned();
        let origin = Origin { tls, authority };
        // hyper's connection API sends the URI as given: use origin-form plus a Host header.
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        *req.uri_mut() = path.parse().map_err(|_| invalid())?;
        let host = HeaderValue::from_str(&origin.authority).map_err(|_| invalid())?;
        req.headers_mut().insert(HOST, host);
        req.headers_mut().entry(USER_AGENT).or_insert_with(|| self.inner.user_agent.clone());

        let stall = self.inner.timeouts.stall;
        let mut sender = match self.checkout(&origin).await {
            Some(sender) => sender,
            None => self.connect(&origin).await?,
        };
        // The stall timeout counts from the last progress of the body (progress.rs), so a
        // large body on a slow link goes through as long as it keeps moving.
        let progress = req.body().progress();
        let mut sent = progress.watch(stall, sender.try_send_request(req)).await;
        // A pooled connection the server closed meanwhile hands the request back unsent.
        if let Ok(Err(e)) = &mut sent {
            if let Some(req) = e.take_message() {
                sender = self.connect(&origin).await?;
                sent = progress.watch(stall, sender.try_send_request(req)).await;
            }
        }
        let resp = sent.map_err(|_| RequestError::Stalled(stall))?;
        let resp = resp.map_err(|e| RequestError::Http(e.into_error()))?;
        let slot = Some((self.inner.clone(), origin, sender));
        Ok(resp.map(|incoming| Body::new(incoming, stall, slot)))
    }

    async fn checkout(&self, origin: &Origin) -> Option<Sender> {
        loop {
            let mut sender = {
                let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
                idle.get_mut(origin)?.pop()?
            };
            if !sender.is_closed() && sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self, origin: &Origin) -> Result<Sender, RequestError> {
        let after = self.inner.timeouts.connect;
        timeout(after, self.connect_inner(origin))
            .await
            .map_err(|_| RequestError::ConnectTimeout { host: origin.authority.clone(), after })?
    }

    async fn connect_inner(&self, origin: &Origin) -> Result<Sender, RequestError> {
        let (host, port) = split_authority(&origin.authority, origin.tls);
        let resolve_err = |source| RequestError::Resolve { host: origin.authority.clone(), source };
        let addrs = tokio::net::lookup_host((host, port)).await.map_err(resolve_err)?;
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(e) => last = Some(RequestError::Connect { addr: addr.to_string(), source: e }),
            }
        }
        let Some(tcp) = tcp else {
            return Err(last.unwrap_or_else(|| {
                resolve_err(std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"))
            }));
        };
        // Requests are small and written at once; do not let Nagle delay them.
        let _ = tcp.set_nodelay(true);
        if !origin.tls {
            return handshake(tcp).await;
        }
        let cfg = self.inner.tls.for_host(&origin.authority)?;
        let tls_err = |source| RequestError::Tls { host: origin.authority.clone(), source };
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| tls_err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
        let stream =
            tokio_rustls::TlsConnector::from(cfg).connect(name, tcp).await.map_err(tls_err)?;
        handshake(stream).await
    }
}

async fn handshake<T>(io: T) -> Result<Sender, RequestError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(io)).await.map_err(RequestError::Http)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "registry connection ended");
        }
    });
    Ok(sender)
}

/// `host[:port]` -> (host without IPv6 brackets, port with the scheme's default).
fn split_authority(authority: &str, tls: bool) -> (&str, u16) {
    let default = if tls { 443 } else { 80 };
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => {
            (&authority[..i], authority[i + 1..].parse().unwrap_or(default))
        }
        _ => (authority, default),
    };
    (host.trim_start_matches('[').trim_end_matches(']'), port)
}

/// A response body read chunk by chunk, each read bounded by the stall timeout.
#[derive(Debug)]
pub(crate) struct Body {
    incoming: Incoming,
    stall: Duration,
    timer: Pin<Box<Sleep>>,
    /// The connection, returned to the pool when the body has been read to its end.
    slot: Option<(Arc<Inner>, Origin, Sender)>,
}

impl Body {
    fn new(
        incoming: Incoming,
        stall: Duration,
        slot: Option<(Arc<Inner>, Origin, Sender)>,
    ) -> Self {
        Self { incoming, stall, timer: Box::pin(sleep(stall)), slot }
    }

    /// The next data chunk, `None` at the end.
    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, RequestError>>> {
        loop {
            match Pin::new(&mut self.incoming).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    self.timer.as_mut().reset(Instant::now() + self.stall);
                    if let Ok(data) = frame.into_data() {
                        if self.incoming.is_end_stream() {
                            self.check_in();
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(RequestError::Http(e)))),
                Poll::Ready(None) => {
                    self.check_in();
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    return match self.timer.as_mut().poll(cx) {
                        Poll::Ready(()) => {
                            Poll::Ready(Some(Err(RequestError::Stalled(self.stall))))
                        }
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }

    /// The next data chunk, `None` at the end.
    pub(crate) async fn chunk(&mut self) -> Option<Result<Bytes, RequestError>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// The whole body, refusing more than `limit` bytes (manifests, tokens, error texts).
    pub(crate) async fn collect(mut self, limit: u64) -> Result<Bytes, RequestError> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(RequestError::TooLarge { limit });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    fn check_in(&mut self) {
        if let Some((inner, origin, sender)) = self.slot.take() {
            let mut idle = inner.idle.lock().unwrap_or_else(|p| p.into_inner());
            let list = idle.entry(origin).or_default();
            if list.len() < MAX_IDLE_PER_ORIGIN {
                list.push(sender);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_authority;

    #[test]
    fn authority_split() {
        assert_eq!(split_authority("example.com", true), ("example.com", 443));
        assert_eq!(split_authority("example.com", false), ("example.com", 80));
        assert_eq!(split_authority("localhost:5000", false), ("localhost", 5000));
        assert_eq!(split_authority("[::1]:5000", true), ("::1", 5000));
        assert_eq!(split_authority("[::1]", true), ("::1", 443));
    }
}
