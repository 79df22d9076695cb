//! rustls client configurations, one per registry host: the system roots plus that host's
//! `certs.d/HOST[:PORT]/*.crt`, and its `client.cert`/`client.key` pair if present.
//!
//! The system roots come from the distribution's PEM bundle (what OpenSSL uses), read once;
//! no extra crate for it. `SSL_CERT_FILE` overrides the bundle path, as for OpenSSL.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::RequestError;

/// Where Debian, Fedora/RHEL, openSUSE and Alpine keep their CA bundle.
const BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Builds and caches the TLS configuration of each registry host.
#[derive(Debug)]
pub(crate) struct TlsConfigs {
    certs_dir: PathBuf,
    verify: bool,
    /// `host[:port]`s whose certificates are not verified even when `verify` is set.
    unverified: Vec<String>,
    provider: Arc<CryptoProvider>,
    /// Parsed once, on the first https connection.
    system: OnceLock<Arc<RootCertStore>>,
    /// `host[:port]` -> config; filled on first use, read by every connect.
    by_host: Mutex<HashMap<String, Arc<ClientConfig>>>,
}

impl TlsConfigs {
    pub(crate) fn new(certs_dir: PathBuf, verify: bool, unverified: Vec<String>) -> Self {
        Self {
            certs_dir,
            verify,
            unverified,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            system: OnceLock::new(),
            by_host: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration for `host` (`host` or `host:port`, the certs.d directory name).
    pub(crate) fn for_host(&self, host: &str) -> Result<Arc<ClientConfig>, RequestError> {
        if let Some(cfg) = self.by_host.lock().unwrap_or_else(|p| p.into_inner()).get(host) {
            return Ok(cfg.clone());
        }
        let cfg = Arc::new(self.build(host)?);
        self.by_host.lock().unwrap_or_else(|p| p.into_inner()).insert(host.to_owned(), cfg.clone());
        Ok(cfg)
    }

    fn build(&self, host: &str) -> Result<ClientConfig, RequestError> {
        let dir = self.certs_dir.join(host);
        let mut roots = (*self.system.get_or_init(|| Arc::new(system_roots()))).as_ref().clone();
        let mut client_pair = None;
        for path in read_dir_sorted(&dir)? {
            match path.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    let certs = load_certs(&path)?;
                    roots.add_parsable_certificates(certs);
                }
                Some("cert") if client_pair.is_none() => {
                    let key = path.with_extension("key");
                    client_pair = Some((load_certs(&path)?, load_key(&key)?));
                }
                _ => {}
            }
        }
        let builder = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| load_error(&dir, std::io::Error::other(e)))?
            .with_root_certificates(roots);
        let mut cfg = match client_pair {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| load_error(&dir, std::io::Error::other(e)))?,
            None => builder.with_no_client_auth(),
        };
        if !self.verify || self.unverified.iter().any(|h| h == host) {
            cfg.dangerous().set_certificate_verifier(Arc::new(AcceptAny(self.provider.clone())));
        }
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(cfg)
    }
}

fn load_error(path: &Path, source: std::io::Error) -> RequestError {
    RequestError::LoadCerts { path: path.to_owned(), source }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, RequestError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(load_error(dir, e)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        paths.push(entry.map_err(|e| load_error(dir, e))?.path());
    }
    paths.sort();
    Ok(paths)
}

fn pem_error(path: &Path, e: rustls_pki_types::pem::Error) -> RequestError {
    let source = match e {
        rustls_pki_types::pem::Error::Io(io) => io,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
    };
    load_error(path, source)
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, RequestError> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, RequestError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(path, e))
}

/// The system CA bundle; an empty store (every https fails, naming the unknown issuer) if none.
fn system_roots() -> RootCertStore {
    let mut store = RootCertStore::empty();
    let env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let path = env.into_iter().chain(BUNDLES.iter().map(PathBuf::from)).find(|p| p.is_file());
    match path.map(|p| load_certs(&p).map(|c| (p, c))) {
        Some(Ok((p, certs))) => {
            let (added, ignored) = store.add_parsable_certificates(certs);
            tracing::debug!(path = ?p, added, ignored, "system CA bundle");
        }
        Some(Err(e)) => tracing::warn!(error = %e, "system CA bundle unreadable"),
        None => tracing::warn!("no system CA bundle found"),
    }
    store
}

/// `--tls-verify=false`: any certificate is accepted, signatures are still checked so the
/// handshake is with the holder of the presented key.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
