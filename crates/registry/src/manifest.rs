//! Manifest media types, telling a manifest from an index, and digests of raw bytes.
//!
//! Docker schema2 manifests and manifest lists have the same JSON shape as OCI manifests and
//! indexes (the media type strings differ), so both parse into oci-spec's `ImageManifest` and
//! `ImageIndex`. Docker schema 1 (signed, no config blob) is refused.

use bytes::Bytes;
use oci_spec::image::{Descriptor, Digest, DigestAlgorithm, ImageManifest};
use ring::digest;

use crate::platform::Platform;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The Accept header for manifest requests: every type berth can use.
pub(crate) const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Manifests and indexes are small; a larger reply is not one (distribution caps them at 4 MiB).
pub(crate) const MANIFEST_LIMIT: u64 = 4 << 20;

/// What a manifest request returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Manifest,
    Index,
}

/// The result of [`crate::Client::resolve`]: one platform's image manifest.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Digest of the image manifest (for a multi-platform image: of the chosen platform's).
    pub manifest_digest: Digest,
    /// Digest of the index or manifest list the manifest was chosen from, if any (what
    /// `docker pull` reports as the image digest for multi-platform images).
    pub index_digest: Option<Digest>,
    /// The manifest's media type (OCI or Docker schema2).
    pub media_type: String,
    /// The parsed manifest.
    pub manifest: ImageManifest,
    /// The manifest's bytes exactly as served (they hash to `manifest_digest`).
    pub raw_manifest: Bytes,
    /// The config blob's descriptor.
    pub config: Descriptor,
    /// Layer descriptors, base layer first.
    pub layers: Vec<Descriptor>,
    /// The platform the index declared for this manifest, if it came from one.
    pub platform: Option<Platform>,
}

/// Classifies a manifest reply by Content-Type, then the body's `mediaType`, then its shape.
/// `Err` carries the media type berth cannot use.
pub(crate) fn classify(content_type: Option<&str>, body: &[u8]) -> Result<(Kind, String), String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Peek {
        schema_version: Option<u32>,
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
        config: Option<serde::de::IgnoredAny>,
    }
    let known = |m: &str| match m {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(Kind::Manifest),
        OCI_INDEX | DOCKER_LIST => Some(Kind::Index),
        _ => None,
    };
    let header = content_type.map(|c| c.split(';').next().unwrap_or(c).trim().to_owned());
    if let Some(kind) = header.as_deref().and_then(known) {
        return Ok((kind, header.unwrap_or_default()));
    }
    let peek: Option<Peek> = serde_json::from_slice(body).ok();
    let peek = peek.as_ref();
    if let Some(m) = peek.and_then(|p| p.media_type.as_deref()) {
        return known(m).map(|k| (k, m.to_owned())).ok_or_else(|| m.to_owned());
    }
    match peek {
        Some(p) if p.schema_version == Some(2) && p.manifests.is_some() => {
            Ok((Kind::Index, OCI_INDEX.to_owned()))
        }
        Some(p) if p.schema_version == Some(2) && p.config.is_some() => {
            Ok((Kind::Manifest, OCI_MANIFEST.to_owned()))
        }
        _ => Err(header.unwrap_or_else(|| "unknown".to_owned())),
    }
}

/// `algorithm:hex` of `bytes`; `None` for algorithms berth lacks.
pub(crate) fn digest_with(alg: &DigestAlgorithm, bytes: &[u8]) -> Option<String> {
    let mut ctx = hasher(alg)?;
    ctx.update(bytes);
    Some(finish(alg, ctx))
}

/// A streaming hasher for `alg` (sha256, sha384, sha512).
pub(crate) fn hasher(alg: &DigestAlgorithm) -> Option<digest::Context> {
    let ring_alg = match alg {
        DigestAlgorithm::Sha256 => &digest::SHA256,
        DigestAlgorithm::Sha384 => &digest::SHA384,
        DigestAlgorithm::Sha512 => &digest::SHA512,
        _ => return None,
    };
    Some(digest::Context::new(ring_alg))
}

/// `algorithm:hex` of what `ctx` hashed.
pub(crate) fn finish(alg: &DigestAlgorithm, ctx: digest::Context) -> String {
    let mut out = format!("{alg}:");
    for b in ctx.finish().as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn classification() {
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        let man = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        assert_eq!(classify(Some(OCI_INDEX), idx), Ok((Kind::Index, OCI_INDEX.into())));
        let ct = format!("{DOCKER_MANIFEST}; charset=utf-8");
        assert_eq!(classify(Some(&ct), man), Ok((Kind::Manifest, DOCKER_MANIFEST.into())));
        assert_eq!(classify(Some("application/json"), idx), Ok((Kind::Index, OCI_INDEX.into())));
        assert_eq!(classify(None, man), Ok((Kind::Manifest, OCI_MANIFEST.into())));
        let list = format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[]}}"#);
        assert_eq!(classify(None, list.as_bytes()), Ok((Kind::Index, DOCKER_LIST.into())));
        let v1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
        assert_eq!(classify(Some(v1), br#"{"schemaVersion":1}"#), Err(v1.into()));
        assert_eq!(classify(None, br#"{"schemaVersion":1}"#), Err("unknown".into()));
        let art = br#"{"schemaVersion":2,"mediaType":"application/vnd.example+json"}"#;
        assert_eq!(classify(None, art), Err("application/vnd.example+json".into()));
    }

    #[test]
    fn digests() {
        let empty256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(digest_with(&DigestAlgorithm::Sha256, b"").unwrap(), empty256);
        let d512 = digest_with(&DigestAlgorithm::Sha512, b"x").unwrap();
        assert!(d512.starts_with("sha512:") && d512.len() == 7 + 128, "{d512}");
        assert!(Digest::from_str(&d512).is_ok());
        assert_eq!(digest_with(&DigestAlgorithm::Other("md5".into()), b""), None);
    }
}
