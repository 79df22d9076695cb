//! Where a registry's content is fetched from, and the fall-through between those places:
//! each mirror in order, then the registry itself; for a registry listed in
//! [`ClientConfig::unverified_tls`] https without certificate checks first, then plain http.
//!
//! A failure falls through to the next endpoint and is kept: the final error lists every
//! endpoint tried before the one it reports ([`Error::FellThrough`]), and a success after
//! failures leaves a note ([`Endpoints::take_notes`]) the engine prints. An endpoint that
//! failed before answering at all (refused, TLS, timeout) is remembered as down and skipped
//! by the client's later requests, so that a dead mirror costs one connect per pull, not one
//! per blob.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use crate::config::ClientConfig;
use crate::error::{Error, RequestError};
use crate::reference::Reference;

/// One place a registry's content can be fetched from.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `scheme://host[:port]`.
    pub(crate) base: String,
    /// `host[:port]`: certs.d directory, auth cache key, auth file key for mirrors.
    pub(crate) authority: String,
    /// Put before the repository (mirrors with a path), ends with '/' or is empty.
    pub(crate) prefix: String,
    pub(crate) mirror: bool,
    /// The plain-http retry of an unverified-TLS registry: tried only when the endpoint
    /// before it (its https) got no answer at all.
    http_fallback: bool,
}

impl Endpoint {
    /// The repository as this endpoint names it (with the mirror's prefix).
    pub(crate) fn repository(&self, reference: &Reference) -> String {
        format!("{}{}", self.prefix, reference.repository())
    }

    pub(crate) fn url(&self, repository: &str, kind: &str, what: &str) -> String {
        format!("{}/v2/{repository}/{kind}/{what}", self.base)
    }
}

/// Builds endpoints from the configuration and remembers what failed.
#[derive(Debug, Default)]
pub(crate) struct Endpoints {
    /// `base` → why it got no answer; written after a failed request, read before each.
    down: Mutex<HashMap<String, String>>,
    /// Failures that a later endpoint recovered from, for the caller to show.
    notes: Mutex<Vec<String>>,
}

impl Endpoints {
    /// The endpoints for `spec` (`[scheme://]host[:port][/prefix]`); `registry` is the name
    /// checked against the insecure lists along with the host. Two for an unverified-TLS
    /// registry without a scheme: https, then http.
    pub(crate) fn parse(
        cfg: &ClientConfig,
        spec: &str,
        registry: &str,
        mirror: bool,
    ) -> Vec<Endpoint> {
        let (scheme, rest) = match spec.split_once("://") {
            Some((s, rest)) => (Some(s), rest),
            None => (None, spec),
        };
        let (authority, prefix) = match rest.split_once('/') {
            Some((a, p)) if !p.trim_matches('/').is_empty() => {
                (a, format!("{}/", p.trim_matches('/')))
            }
            Some((a, _)) => (a, String::new()),
            None => (rest, String::new()),
        };
        let listed = |list: &[String]| list.iter().any(|h| h == authority || h == registry);
        let ep = |scheme: &str, http_fallback| Endpoint {
            base: format!("{scheme}://{authority}"),
            authority: authority.to_owned(),
            prefix: prefix.clone(),
            mirror,
            http_fallback,
        };
        match scheme {
            Some(s) => vec![ep(s, false)],
            None if listed(&cfg.unverified_tls) => vec![ep("https", false), ep("http", true)],
            None if listed(&cfg.insecure) => vec![ep("http", false)],
            None => vec![ep("https", false)],
        }
    }

    /// Runs `op` on each endpoint in turn until one succeeds (`what`: the reference or
    /// registry, for notes). The last endpoint (the
    /// registry itself) is always tried; its error is returned, with the earlier failures.
    pub(crate) async fn first_ok<T, F, Fut>(
        &self,
        what: &str,
        endpoints: Vec<Endpoint>,
        op: F,
    ) -> Result<T, Error>
    where
        F: Fn(Endpoint) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let count = endpoints.len();
        let mut failed: Vec<String> = Vec::new();
        let mut last: Option<Error> = None;
        // Whether the endpoint before got no answer at all (so a plain-http retry may help).
        let mut unanswered = false;
        // Whether an endpoint failed in this call; skipping one known down was noted before.
        let mut fresh = false;
        for (i, ep) in endpoints.into_iter().enumerate() {
            if ep.http_fallback && !unanswered {
                continue;
            }
            if i + 1 < count {
                if let Some(reason) = self.down_reason(&ep.base) {
                    failed.extend(last.take().map(|e| describe(&e)));
                    failed.push(format!("{} failed earlier ({reason})", ep.base));
                    unanswered = true;
                    continue;
                }
            }
            let base = ep.base.clone();
            match op(ep).await {
                Ok(v) => {
                    failed.extend(last.take().map(|e| describe(&e)));
                    if fresh {
                        self.note(format!("{what}: {}; used {base}", failed.join(", ")));
                    }
                    return Ok(v);
                }
                Err(e) => {
                    fresh = true;
                    unanswered = no_answer(&e);
                    if unanswered {
                        self.mark_down(&base, &e);
                    }
                    failed.extend(last.replace(e).map(|e| describe(&e)));
                }
            }
        }
        let Some(e) = last else {
            // Only reachable with no endpoints at all, which the client never builds.
            return Err(Error::NoEndpoint { reference: what.to_owned() });
        };
        if failed.is_empty() {
            return Err(e);
        }
        Err(Error::FellThrough { tried: failed.join(", "), source: Box::new(e) })
    }

    /// Failures recovered from since the last call, oldest first.
    pub(crate) fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn note(&self, text: String) {
        tracing::warn!("{text}");
        self.notes.lock().unwrap_or_else(|p| p.into_inner()).push(text);
    }

    fn down_reason(&self, base: &str) -> Option<String> {
        self.down.lock().unwrap_or_else(|p| p.into_inner()).get(base).cloned()
    }

    fn mark_down(&self, base: &str, e: &Error) {
        let reason = chain(e);
        self.down.lock().unwrap_or_else(|p| p.into_inner()).insert(base.to_owned(), reason);
    }
}

/// `BASE failed (reason chain)`, naming the endpoint from the error's URL.
fn describe(e: &Error) -> String {
    format!("{} ({})", e, chain_below(e))
}

fn chain(e: &Error) -> String {
    format!("{e}: {}", chain_below(e))
}

fn chain_below(e: &Error) -> String {
    let mut parts = Vec::new();
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

/// True when the request got no HTTP answer: refused, unresolvable, TLS failure, timeout,
/// or a broken exchange (an http server answering a TLS hello, or the reverse).
fn no_answer(e: &Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = cur {
        if let Some(r) = s.downcast_ref::<RequestError>() {
            return matches!(
                r,
                RequestError::Resolve { .. }
                    | RequestError::Connect { .. }
                    | RequestError::ConnectTimeout { .. }
                    | RequestError::Tls { .. }
                    | RequestError::Http(_)
            );
        }
        cur = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::StatusCode;

    use super::*;

    fn cfg() -> ClientConfig {
        ClientConfig {
            insecure: vec!["plain:5000".into()],
            unverified_tls: vec!["selfsigned:5000".into()],
            ..ClientConfig::default()
        }
    }

    fn bases(eps: &[Endpoint]) -> Vec<&str> {
        eps.iter().map(|e| e.base.as_str()).collect()
    }

    #[test]
    fn parse_picks_the_scheme_from_the_lists_unless_given() {
        let c = cfg();
        assert_eq!(bases(&Endpoints::parse(&c, "r.io", "r.io", false)), ["https://r.io"]);
        assert_eq!(
            bases(&Endpoints::parse(&c, "plain:5000", "plain:5000", false)),
            ["http://plain:5000"]
        );
        let two = Endpoints::parse(&c, "selfsigned:5000", "selfsigned:5000", false);
        assert_eq!(bases(&two), ["https://selfsigned:5000", "http://selfsigned:5000"]);
        assert!(!two[0].http_fallback && two[1].http_fallback);
        let m = Endpoints::parse(&c, "http://selfsigned:5000/hub/", "x", true);
        assert_eq!(bases(&m), ["http://selfsigned:5000"]);
        assert_eq!((m[0].prefix.as_str(), m[0].mirror), ("hub/", true));
    }

    fn refused(base: &str) -> Error {
        let source = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let source = RequestError::Connect { addr: base.into(), source };
        Error::FetchManifest { reference: "r".into(), url: format!("{base}/v2/"), source }
    }

    fn not_found(base: &str) -> Error {
        let source = RequestError::Status { status: StatusCode::NOT_FOUND, detail: String::new() };
        Error::FetchManifest { reference: "r".into(), url: format!("{base}/v2/"), source }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn a_dead_mirror_falls_through_is_noted_and_skipped_afterwards() {
        let c = ClientConfig::default();
        let eps = || {
            let mut v = Endpoints::parse(&c, "http://dead:1", "dead:1", true);
            v.extend(Endpoints::parse(&c, "r.io", "r.io", false));
            v
        };
        let calls = AtomicUsize::new(0);
        let op = |ep: Endpoint| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match ep.base.as_str() {
                    "http://dead:1" => Err(refused(&ep.base)),
                    _ => Ok(ep.base),
                }
            }
        };
        let e = Endpoints::default();
        assert_eq!(block_on(e.first_ok("r", eps(), op)).unwrap(), "https://r.io");
        let notes = e.take_notes();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("http://dead:1/v2/") && notes[0].contains("refused"),
            "{notes:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        block_on(e.first_ok("r", eps(), op)).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "the dead mirror is not tried again");
        assert_eq!(e.take_notes(), Vec::<String>::new(), "and not noted again");
        let eps = Endpoints::parse(&c, "http://dead:1", "dead:1", true);
        let err = block_on(e.first_ok("r", eps, op)).unwrap_err();
        assert!(err.to_string().contains("dead:1"), "the last endpoint is always tried: {err}");
    }

    #[test]
    fn when_everything_fails_the_registrys_error_comes_with_the_mirrors() {
        let c = ClientConfig::default();
        let mut eps = Endpoints::parse(&c, "http://dead:1", "dead:1", true);
        eps.extend(Endpoints::parse(&c, "r.io", "r.io", false));
        let op = |ep: Endpoint| async move {
            match ep.base.as_str() {
                "http://dead:1" => Err::<(), _>(refused(&ep.base)),
                _ => Err(not_found(&ep.base)),
            }
        };
        let err = block_on(Endpoints::default().first_ok("r", eps, op)).unwrap_err();
        assert!(
            matches!(&err, Error::FellThrough { tried, .. } if tried.contains("dead:1")),
            "{err}"
        );
        assert!(err.is_not_found(), "the registry's 404 decides: {err:?}");
    }

    #[test]
    fn plain_http_is_tried_only_when_https_got_no_answer() {
        let c = cfg();
        let eps = || Endpoints::parse(&c, "selfsigned:5000", "selfsigned:5000", false);
        // https answered 404: that is the answer, http is not tried
        let op = |ep: Endpoint| async move {
            match ep.base.starts_with("https") {
                true => Err::<String, _>(not_found(&ep.base)),
                false => Ok(ep.base),
            }
        };
        let err = block_on(Endpoints::default().first_ok("r", eps(), op)).unwrap_err();
        assert!(matches!(err, Error::FetchManifest { .. }), "{err:?}");
        // https refused: http is tried and works
        let op = |ep: Endpoint| async move {
            match ep.base.starts_with("https") {
                true => Err(refused(&ep.base)),
                false => Ok(ep.base),
            }
        };
        let ok = block_on(Endpoints::default().first_ok("r", eps(), op)).unwrap();
        assert_eq!(ok, "http://selfsigned:5000");
    }
}
