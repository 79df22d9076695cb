//! `berth load` (docker-archive and oci-archive tarballs) and `berth import` (a rootfs
//! tarball as a one-layer image).
//!
//! The archive is unpacked into a private directory first (regular files only; names that
//! would leave it are refused, symlinks between entries are followed inside it), then every
//! blob goes through the store's verifying ingest: config and manifests by digest, layers
//! by digest and diff id. The images are recorded only after all their content verified.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use berth_image::{chain_ids, Digest, Digester, ImageRecord, LayerDesc, LayerRecord, Store};
use serde_json::Value;

use super::save::{fail, new_manifest, Format};
use super::Engine;
use crate::error::Result;

/// An unpacked archive: its directory and the symlinks between its entries.
struct Unpacked {
    dir: tempfile::TempDir,
    links: HashMap<PathBuf, PathBuf>,
    name: String,
}

impl Unpacked {
    /// The file an archive entry name refers to, following links inside the archive.
    fn path(&self, entry: &str) -> Result<PathBuf> {
        let mut p = clean(Path::new(entry)).ok_or_else(|| {
            fail("load", &self.name, format!("entry {entry:?} leaves the archive"))
        })?;
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => return Ok(self.dir.path().join(p)),
            }
        }
        Err(fail("load", &self.name, format!("entry {entry:?}: too many links")))
    }

    fn read(&self, entry: &str) -> Result<Vec<u8>> {
        let p = self.path(entry)?;
        std::fs::read(&p).map_err(|x| fail("load", &self.name, format!("read {entry}: {x}")))
    }

    fn json(&self, entry: &str) -> Result<Value> {
        serde_json::from_slice(&self.read(entry)?)
            .map_err(|x| fail("load", &self.name, format!("parse {entry}: {x}")))
    }
}

/// A relative path without `..` escaping the root; `None` if it would leave it.
fn clean(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn unpack(store: &Store, input: impl Read, name: &str) -> Result<Unpacked> {
    let bad = |m: String| fail("load", name, m);
    let dir = tempfile::tempdir_in(store.scratch_dir()).map_err(|x| bad(x.to_string()))?;
    let mut links = HashMap::new();
    let mut archive = tar::Archive::new(input);
    let entries = archive.entries().map_err(|x| bad(format!("not a tar archive: {x}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|x| bad(format!("corrupt archive: {x}")))?;
        let raw = entry.path().map_err(|x| bad(format!("corrupt archive: {x}")))?.into_owned();
        let Some(rel) = clean(&raw).filter(|r| !r.as_os_str().is_empty()) else {
            if clean(&raw).is_some() {
                continue; // `./`: the archive's root directory
            }
            return Err(bad(format!("entry {:?} leaves the archive", raw.display().to_string())));
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let dest = dir.path().join(&rel);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent).map_err(|x| bad(x.to_string()))?;
                }
                let mut f = File::create(&dest).map_err(|x| bad(x.to_string()))?;
                std::io::copy(&mut entry, &mut f)
                    .map_err(|x| bad(format!("corrupt archive: {}: {x}", rel.display())))?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry.link_name().ok().flatten().map(|t| t.into_owned());
                let target = target.and_then(|t| {
                    let base = if entry.header().entry_type() == tar::EntryType::Link {
                        PathBuf::new()
                    } else {
                        rel.parent().map(Path::to_path_buf).unwrap_or_default()
                    };
                    clean(&base.join(t))
                });
                let t = target
                    .ok_or_else(|| bad(format!("link {} leaves the archive", rel.display())))?;
                links.insert(rel, t);
            }
            _ => {}
        }
    }
    Ok(Unpacked { dir, links, name: name.to_string() })
}

/// `load`: reads a docker-archive or oci-archive from `input`; returns what Docker prints
/// (`Loaded image: REF` or `Loaded image ID: ID`), one line per image.
pub fn load(e: &Engine, input: impl Read, name: &str) -> Result<Vec<String>> {
    let store = super::pull::store(e)?;
    let archive = unpack(&store, input, name)?;
    let format = if archive.path("index.json")?.is_file() {
        Format::Oci
    } else if archive.path("manifest.json")?.is_file() {
        Format::Docker
    } else {
        return Err(fail(
            "load",
            name,
            "neither manifest.json nor index.json: not an image archive",
        ));
    };
    let _lease = store.lease().map_err(|x| fail("load", name, crate::error::chain(&x)))?;
    let loaded = match format {
        Format::Docker => docker(&store, &archive)?,
        Format::Oci => oci(&store, &archive)?,
    };
    let mut out = Vec::new();
    for (record, refs) in loaded {
        let info =
            store.put_image(&record).map_err(|x| fail("load", name, crate::error::chain(&x)))?;
        for r in &refs {
            store
                .tag(&info.id.to_string(), r)
                .map_err(|x| fail("load", name, crate::error::chain(&x)))?;
            out.push(format!("Loaded image: {r}"));
        }
        if refs.is_empty() {
            out.push(format!("Loaded image ID: {}", info.id));
        }
    }
    Ok(out)
}

fn normalize(name: &str, r: &str) -> Result<String> {
    berth_registry::Reference::parse(r)
        .map(|r| r.to_string())
        .map_err(|x| fail("load", name, format!("image reference {r:?}: {x}")))
}

type Loaded = Vec<(ImageRecord, Vec<String>)>;

fn docker(store: &Store, a: &Unpacked) -> Result<Loaded> {
    let manifest = a.json("manifest.json")?;
    let entries =
        manifest.as_array().ok_or_else(|| fail("load", &a.name, "manifest.json is not a list"))?;
    let mut out = Vec::new();
    for m in entries {
        let config_name = m["Config"].as_str().unwrap_or_default();
        let config = a.read(config_name)?;
        let config_digest = Digest::sha256_of(&config);
        // Docker names the config after its digest: a different name means altered content.
        let stem = Path::new(config_name).file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if stem.len() == 64
            && stem.bytes().all(|b| b.is_ascii_hexdigit())
            && stem != config_digest.hex()
        {
            return Err(fail(
                "load",
                &a.name,
                format!("digest mismatch: config {config_name} hashes to {config_digest}"),
            ));
        }
        let paths: Vec<PathBuf> = m["Layers"]
            .as_array()
            .map(|l| l.iter().filter_map(Value::as_str).map(|p| a.path(p)).collect::<Result<_>>())
            .transpose()?
            .unwrap_or_default();
        let mut layers = Vec::new();
        for p in &paths {
            let (digest, size, media_type) = describe(p).map_err(|x| fail("load", &a.name, x))?;
            layers.push((digest, size, media_type, p.clone()));
        }
        let record = ingest(store, "load", &a.name, &config, &layers, None)?;
        let refs = m["RepoTags"]
            .as_array()
            .map(|t| t.iter().filter_map(Value::as_str).map(|r| normalize(&a.name, r)).collect())
            .transpose()?
            .unwrap_or_default();
        out.push((record, refs));
    }
    Ok(out)
}

/// Digest, size and media type of a layer file (compression from its magic bytes).
pub(crate) fn describe(p: &Path) -> std::io::Result<(Digest, u64, String)> {
    let mut f = File::open(p)?;
    let mut d = Digester::new(berth_image::Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 20];
    let mut head = Vec::new();
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < 4 {
            head.extend_from_slice(&buf[..n.min(4)]);
        }
        d.update(&buf[..n]);
    }
    let len = d.len();
    let media = if head.starts_with(&[0x1f, 0x8b]) {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    };
    Ok((d.finish(), len, media.to_string()))
}

/// The config's JSON and its diff ids, one per layer.
fn parse_config(
    op: &'static str,
    name: &str,
    config: &[u8],
    layers: usize,
) -> Result<(Value, Vec<Digest>)> {
    let err = |m: String| fail(op, name, m);
    let v: Value = serde_json::from_slice(config).map_err(|x| err(format!("image config: {x}")))?;
    let diff_ids: Vec<Digest> = v["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(Digest::parse)
                .collect::<std::result::Result<_, _>>()
        })
        .transpose()
        .map_err(|x| err(format!("image config: {x}")))?
        .unwrap_or_default();
    if diff_ids.len() != layers {
        return Err(err(format!(
            "image config lists {} diff_ids for {} layers",
            diff_ids.len(),
            layers
        )));
    }
    Ok((v, diff_ids))
}

/// Ingests config and layers (digest, size, media type, file); `manifest` is the image's
/// manifest bytes and media type when the archive has one, else an OCI manifest is made.
/// Errors name `op` (`load`, `import`, `commit`) and `name`.
pub(crate) fn ingest(
    store: &Store,
    op: &'static str,
    name: &str,
    config: &[u8],
    layers: &[(Digest, u64, String, PathBuf)],
    manifest: Option<(Vec<u8>, String)>,
) -> Result<ImageRecord> {
    let err = |m: String| fail(op, name, m);
    let (v, diff_ids) = parse_config(op, name, config, layers.len())?;
    let config_digest = Digest::sha256_of(config);
    store
        .ingest_blob(&config_digest, Some(config.len() as u64), config)
        .map_err(|x| err(crate::error::chain(&x)))?;
    let chains = chain_ids(&diff_ids);
    let mut records = Vec::new();
    for ((digest, size, media_type, path), (diff_id, chain)) in
        layers.iter().zip(diff_ids.iter().zip(&chains))
    {
        let desc =
            LayerDesc { digest: digest.clone(), size: *size, media_type: media_type.clone() };
        let f = File::open(path).map_err(|x| err(format!("read layer {digest}: {x}")))?;
        store.ingest_layer(&desc, diff_id, chain, f).map_err(|x| err(crate::error::chain(&x)))?;
        records.push(LayerRecord {
            digest: digest.clone(),
            diff_id: diff_id.clone(),
            media_type: media_type.clone(),
            size: *size,
            // Recorded by the store from the snapshot it unpacked.
            unpacked_size: None,
        });
    }
    let (manifest, media_type) = manifest.unwrap_or_else(|| {
        let l: Vec<_> = layers.iter().map(|(d, s, m, _)| (d.clone(), *s, m.clone())).collect();
        (new_manifest(&config_digest, config.len() as u64, &l), berth_registry::OCI_MANIFEST.into())
    });
    let manifest_digest = Digest::sha256_of(&manifest);
    store
        .ingest_blob(&manifest_digest, Some(manifest.len() as u64), &manifest[..])
        .map_err(|x| err(crate::error::chain(&x)))?;
    let platform = [v["os"].as_str(), v["architecture"].as_str(), v["variant"].as_str()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("/");
    Ok(ImageRecord {
        reference: None,
        manifest_digest,
        manifest_media_type: media_type,
        config_digest,
        platform,
        size: records.iter().map(|l| l.size).sum(),
        layers: records,
    })
}

fn oci(store: &Store, a: &Unpacked) -> Result<Loaded> {
    let index = a.json("index.json")?;
    let mut out = Vec::new();
    for d in index["manifests"].as_array().into_iter().flatten() {
        let (manifest, media_type) = oci_manifest(a, d, 0)?;
        let m: Value = serde_json::from_slice(&manifest)
            .map_err(|x| fail("load", &a.name, format!("parse manifest: {x}")))?;
        let config = verified_blob(a, &m["config"])?;
        let mut layers = Vec::new();
        for l in m["layers"].as_array().into_iter().flatten() {
            let (digest, size) = descriptor(a, l)?;
            let path = a.path(&format!("blobs/{}/{}", digest.algorithm().name(), digest.hex()))?;
            let media_type = l["mediaType"].as_str().unwrap_or_default().to_string();
            layers.push((digest, size, media_type, path));
        }
        let record =
            ingest(store, "load", &a.name, &config, &layers, Some((manifest, media_type)))?;
        let annotations = &d["annotations"];
        let name = annotations["io.containerd.image.name"]
            .as_str()
            .or(annotations["org.opencontainers.image.ref.name"].as_str())
            // A bare tag (`latest`) names no repository: the image loads untagged.
            .filter(|r| r.contains('/') || r.contains(':'));
        let refs = name.map(|r| normalize(&a.name, r)).transpose()?.into_iter().collect();
        out.push((record, refs));
    }
    if out.is_empty() {
        return Err(fail("load", &a.name, "index.json lists no images"));
    }
    Ok(out)
}

fn descriptor(a: &Unpacked, d: &Value) -> Result<(Digest, u64)> {
    let digest = Digest::parse(d["digest"].as_str().unwrap_or_default())
        .map_err(|x| fail("load", &a.name, format!("descriptor digest: {x}")))?;
    Ok((digest, d["size"].as_u64().unwrap_or(0)))
}

/// A small blob (manifest, config) read whole; its digest must match the descriptor's.
fn verified_blob(a: &Unpacked, d: &Value) -> Result<Vec<u8>> {
    let (digest, _) = descriptor(a, d)?;
    let data = a.read(&format!("blobs/{}/{}", digest.algorithm().name(), digest.hex()))?;
    let mut h = Digester::new(digest.algorithm());
    h.update(&data);
    let actual = h.finish();
    if actual != digest {
        return Err(fail(
            "load",
            &a.name,
            format!("digest mismatch: blob {digest} hashes to {actual}"),
        ));
    }
    Ok(data)
}

/// The image manifest of an index entry; a nested index yields the host platform's.
fn oci_manifest(a: &Unpacked, d: &Value, depth: u32) -> Result<(Vec<u8>, String)> {
    let data = verified_blob(a, d)?;
    let v: Value = serde_json::from_slice(&data)
        .map_err(|x| fail("load", &a.name, format!("parse manifest: {x}")))?;
    let Some(list) = v["manifests"].as_array() else {
        let media = v["mediaType"]
            .as_str()
            .or(d["mediaType"].as_str())
            .unwrap_or(berth_registry::OCI_MANIFEST);
        return Ok((data, media.to_string()));
    };
    let host = berth_registry::Platform::host();
    let chosen = list
        .iter()
        .find(|m| {
            m["platform"]["architecture"].as_str() == Some(host.architecture.as_str())
                && m["platform"]["os"].as_str() == Some(host.os.as_str())
        })
        .or(list.first());
    match chosen {
        Some(m) if depth < 4 => oci_manifest(a, m, depth + 1),
        _ => Err(fail("load", &a.name, "index lists no manifest for this platform")),
    }
}

/// `import`: a rootfs tarball (plain, gzip or zstd) as a one-layer image tagged `reference`.
/// Returns the image id.
pub fn import(e: &Engine, input: impl Read, name: &str, reference: Option<&str>) -> Result<String> {
    let store = super::pull::store(e)?;
    let err = |m: String| fail("import", name, m);
    let mut input = std::io::BufReader::new(input);
    let head = std::io::BufRead::fill_buf(&mut input).map_err(|x| err(x.to_string()))?.to_vec();
    let mut reader: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(input))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::Decoder::with_buffer(input).map_err(|x| err(x.to_string()))?)
    } else {
        Box::new(input)
    };
    let mut tmp =
        tempfile::NamedTempFile::new_in(store.scratch_dir()).map_err(|x| err(x.to_string()))?;
    std::io::copy(&mut reader, tmp.as_file_mut()).map_err(|x| err(format!("read: {x}")))?;
    let (digest, size, media_type) = describe(tmp.path()).map_err(|x| err(x.to_string()))?;
    let host = berth_registry::Platform::host();
    let config = serde_json::json!({
        "architecture": host.architecture,
        "os": host.os,
        "created": crate::now(),
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [digest.to_string()]},
        "history": [{"created": crate::now(), "comment": format!("Imported from {name}")}],
    });
    let config = serde_json::to_vec(&config).map_err(|x| err(x.to_string()))?;
    let _lease = store.lease().map_err(|x| err(crate::error::chain(&x)))?;
    let layers = [(digest, size, media_type, tmp.path().to_path_buf())];
    let mut record = ingest(&store, "import", name, &config, &layers, None)?;
    record.reference = reference.map(|r| normalize(name, r)).transpose()?;
    let info = store.put_image(&record).map_err(|x| err(crate::error::chain(&x)))?;
    Ok(info.id.to_string())
}
