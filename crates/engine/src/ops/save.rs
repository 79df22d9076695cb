//! `berth save`: images as a docker-archive (`manifest.json`, `<config>.json`, one
//! uncompressed `<diff id>.tar` per layer: what `docker load` and `podman load` read) or an
//! oci-archive (an OCI image layout in a tar, blobs as stored).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use berth_image::{Compression, Digest, ImageInfo, Store};

use super::Engine;
use crate::error::{Error, Result};

/// The archive formats of `save` and `load`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Docker's `docker save` format.
    Docker,
    /// An OCI image layout in a tar.
    Oci,
}

pub(crate) fn fail(op: &'static str, path: &str, message: impl std::fmt::Display) -> Error {
    Error::Archive { op, path: path.to_string(), message: message.to_string() }
}

/// Writes `images` (references or ids) to `out` in `format`; `path` names it in errors.
pub fn save(
    e: &Engine,
    images: &[String],
    format: Format,
    out: &mut dyn Write,
    path: &str,
) -> Result<()> {
    let store = super::pull::store(e)?;
    let mut found = Vec::new();
    for name in images {
        let info = super::images::lookup(&store, name)?;
        // A name given by reference is saved under it; an id saves every reference.
        let full = super::images::resolve_name(&store, name);
        let tags =
            if info.references.contains(&full) { vec![full] } else { info.references.clone() };
        found.push((info, tags));
    }
    let mut tar = tar::Builder::new(out);
    let io = |x: std::io::Error| fail("save", path, x);
    match format {
        Format::Docker => docker(&store, &found, &mut tar, path)?,
        Format::Oci => oci(&store, &found, &mut tar, path)?,
    }
    tar.into_inner().map_err(io)?.flush().map_err(io)
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    file: &Path,
) -> std::io::Result<()> {
    let mut f = File::open(file)?;
    let mut h = tar::Header::new_gnu();
    h.set_size(f.metadata()?.len());
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, &mut f)
}

fn docker<W: Write>(
    store: &Store,
    found: &[(ImageInfo, Vec<String>)],
    tar: &mut tar::Builder<W>,
    path: &str,
) -> Result<()> {
    let io = |x: std::io::Error| fail("save", path, x);
    let mut manifest = Vec::new();
    let mut written = std::collections::HashSet::new();
    for (info, tags) in found {
        let config = format!("{}.json", info.config_digest.hex());
        if written.insert(config.clone()) {
            append_file(tar, &config, &store.blob_path(&info.config_digest)).map_err(io)?;
        }
        let mut layers = Vec::new();
        for l in &info.layers {
            let name = format!("{}.tar", l.diff_id.hex());
            if written.insert(name.clone()) {
                let tmp = uncompressed(store, &l.digest, &l.media_type).map_err(io)?;
                let mut h = tar::Header::new_gnu();
                let mut f = tmp.as_file();
                h.set_size(f.metadata().map_err(io)?.len());
                h.set_mode(0o644);
                h.set_mtime(0);
                h.set_entry_type(tar::EntryType::Regular);
                f.rewind().map_err(io)?;
                tar.append_data(&mut h, &name, &mut f).map_err(io)?;
            }
            layers.push(name);
        }
        let tags: Vec<String> = tags.iter().map(|t| familiar(t)).collect();
        manifest.push(serde_json::json!({"Config": config, "RepoTags": tags, "Layers": layers}));
    }
    let text = serde_json::to_vec(&manifest).map_err(|x| fail("save", path, x))?;
    append_bytes(tar, "manifest.json", &text).map_err(io)
}

/// Docker's short form of a reference: `busybox:latest` for `docker.io/library/busybox:latest`.
fn familiar(reference: &str) -> String {
    berth_registry::Reference::parse(reference).map_or(reference.to_string(), |r| r.familiar())
}

/// The layer blob inflated into an unnamed temp file (tar needs the size before the data).
fn uncompressed(
    store: &Store,
    blob: &Digest,
    media_type: &str,
) -> std::io::Result<tempfile::NamedTempFile> {
    let src = File::open(store.blob_path(blob))?;
    let mut reader: Box<dyn Read> = match Compression::from_media_type(media_type) {
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(src)),
        Some(Compression::Zstd) => Box::new(zstd::Decoder::new(src)?),
        _ => Box::new(src),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(store.scratch_dir())?;
    std::io::copy(&mut reader, tmp.as_file_mut())?;
    Ok(tmp)
}

fn oci<W: Write>(
    store: &Store,
    found: &[(ImageInfo, Vec<String>)],
    tar: &mut tar::Builder<W>,
    path: &str,
) -> Result<()> {
    let io = |x: std::io::Error| fail("save", path, x);
    append_bytes(tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
    let mut written = std::collections::HashSet::new();
    let mut blob = |tar: &mut tar::Builder<W>, d: &Digest| -> Result<()> {
        if written.insert(d.to_string()) {
            let name = format!("blobs/{}/{}", d.algorithm().name(), d.hex());
            append_file(tar, &name, &store.blob_path(d)).map_err(io)?;
        }
        Ok(())
    };
    let mut index = Vec::new();
    for (info, tags) in found {
        let (manifest, media_type) = manifest_of(store, info).map_err(io)?;
        let digest = Digest::sha256_of(&manifest);
        blob(tar, &info.config_digest)?;
        for l in &info.layers {
            blob(tar, &l.digest)?;
        }
        let name = format!("blobs/sha256/{}", digest.hex());
        if written_manifest(&mut index, &digest) {
            append_bytes(tar, &name, &manifest).map_err(io)?;
        }
        let refs: Vec<Option<&String>> =
            if tags.is_empty() { vec![None] } else { tags.iter().map(Some).collect() };
        for r in refs {
            let mut d = serde_json::json!({
                "mediaType": media_type, "digest": digest.to_string(), "size": manifest.len()
            });
            if let Some(r) = r {
                d["annotations"] = serde_json::json!({
                    "io.containerd.image.name": r,
                    "org.opencontainers.image.ref.name": r,
                });
            }
            index.push(d);
        }
    }
    let doc = serde_json::json!({"schemaVersion": 2, "mediaType": berth_registry::OCI_INDEX, "manifests": index});
    let text = serde_json::to_vec(&doc).map_err(|x| fail("save", path, x))?;
    append_bytes(tar, "index.json", &text).map_err(io)
}

fn written_manifest(index: &mut [serde_json::Value], digest: &Digest) -> bool {
    !index.iter().any(|d| d["digest"] == digest.to_string())
}

/// The manifest as the registry served it when the store has it, else a new OCI manifest.
pub(crate) fn manifest_of(store: &Store, info: &ImageInfo) -> std::io::Result<(Vec<u8>, String)> {
    if let Ok(raw) = std::fs::read(store.blob_path(&info.id)) {
        return Ok((raw, info.manifest_media_type.clone()));
    }
    let size = std::fs::metadata(store.blob_path(&info.config_digest))?.len();
    let layers: Vec<(Digest, u64, String)> = info
        .layers
        .iter()
        .map(|l| (l.digest.clone(), l.size, oci_media_type(&l.media_type)))
        .collect();
    Ok((new_manifest(&info.config_digest, size, &layers), berth_registry::OCI_MANIFEST.into()))
}

/// The OCI layer media type for any layer media type.
pub(crate) fn oci_media_type(media_type: &str) -> String {
    match Compression::from_media_type(media_type) {
        Some(Compression::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
        Some(Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.oci.image.layer.v1.tar",
    }
    .to_string()
}

/// An OCI image manifest for a config and layers (digest, size, media type).
pub(crate) fn new_manifest(
    config: &Digest,
    config_size: u64,
    layers: &[(Digest, u64, String)],
) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|(d, size, m)| serde_json::json!({"mediaType": m, "digest": d.to_string(), "size": size}))
        .collect();
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": berth_registry::OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config.to_string(),
            "size": config_size,
        },
        "layers": layers,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}
