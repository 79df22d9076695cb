//! [`ClientConfig`]: everything a [`crate::Client`] is told from outside (no global state).

use std::path::PathBuf;
use std::time::Duration;

/// The Docker-layout directory of per-registry TLS material: `HOST[:PORT]/ca.crt` (extra CA),
/// `HOST[:PORT]/client.cert` + `client.key` (client certificate).
pub const DEFAULT_CERTS_DIR: &str = "/etc/berth/certs.d";

/// How a [`crate::Client`] reaches registries.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Registries (`host` or `host:port`, as in references) reached over plain http.
    pub insecure: Vec<String>,
    /// `false` accepts any server certificate (`--tls-verify=false`); https is still used.
    pub tls_verify: bool,
    /// Registries (`host[:port]`) reached as Docker reaches its insecure-registries: https
    /// without verifying the certificate, then plain http when https got no answer at all.
    pub unverified_tls: Vec<String>,
    /// Per-registry CA and client certificates, Docker `certs.d` layout.
    pub certs_dir: PathBuf,
    /// Auth files read in order (Docker `config.json` or containers `auth.json`); the first
    /// with credentials for a registry wins. See [`crate::auth::default_auth_files`].
    pub auth_files: Vec<PathBuf>,
    /// Mirrors tried, in order, before the registry itself.
    pub mirrors: Vec<Mirror>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Retries on 5xx, 429 and transient network errors.
    pub retries: Retries,
    /// The User-Agent header.
    pub user_agent: String,
}

/// Mirrors of one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The registry mirrored, as in references (`docker.io`, `quay.io`, `localhost:5000`).
    pub registry: String,
    /// Endpoints: `host[:port][/path-prefix]`, optionally with `http://` (plain http) or
    /// `https://`. A prefix is put in front of the repository (`mirror:5000/hub` serves
    /// `library/busybox` as `hub/library/busybox`).
    pub endpoints: Vec<String>,
}

/// Time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Name resolution, TCP connect and TLS handshake together.
    pub connect: Duration,
    /// Longest wait for response headers or for the next body bytes.
    pub stall: Duration,
}

/// Retry policy: exponential backoff from `base_delay`, capped at `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff.
    pub base_delay: Duration,
    /// The longest backoff, and the longest Retry-After honoured (longer fails at once).
    pub max_delay: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            tls_verify: true,
            unverified_tls: Vec::new(),
            certs_dir: PathBuf::from(DEFAULT_CERTS_DIR),
            auth_files: Vec::new(),
            mirrors: Vec::new(),
            timeouts: Timeouts::default(),
            retries: Retries::default(),
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(30), stall: Duration::from_secs(60) }
    }
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl Retries {
    /// The backoff before retry number `attempt` (0-based).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}
