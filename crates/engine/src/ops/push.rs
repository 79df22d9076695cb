//! `berth push`: upload a stored image to its registry, as Docker does: every layer (in
//! parallel) and the config, each checked first and skipped when the repository has it,
//! mounted from another repository of the same registry when the image came from there,
//! then the manifest, exactly as stored (so the digest is the image id).
//!
//! Nothing local is written: the store is only read, under a lease so that a concurrent
//! `rmi` cannot reclaim a blob while it is being sent.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_image::{Digest, ImageInfo, Store};
use berth_registry::{BlobPushed, Client, Reference};

use super::Engine;
use crate::error::{Error, Result};

/// Layers sent at once (Docker's default `max-concurrent-uploads` is 5).
const PARALLEL: usize = 4;

/// Options of `push`.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// `--all-tags`: every stored tag of the repository.
    pub all_tags: bool,
    /// `--tls-verify=false`.
    pub insecure_tls: bool,
}

/// What happened to one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerPushed {
    /// The repository had it (`Layer already exists`).
    Exists,
    /// Mounted from this repository of the same registry (`Mounted from NAME`).
    Mounted(String),
    /// Uploaded (`Pushed`).
    Pushed,
}

/// One step of a push, for progress output.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The repository pushed to (Docker: `The push refers to repository [NAME]`).
    Repository(String),
    /// Short ids of the layers (of their diff ids, as Docker shows), base first.
    Layers(Vec<String>),
    /// Layer `index` is in the repository now.
    Layer(usize, LayerPushed),
    /// The manifest was put: Docker's `TAG: digest: DIGEST size: N`.
    Tagged {
        /// The tag.
        tag: String,
        /// The manifest digest.
        digest: String,
        /// The manifest's size in bytes.
        size: usize,
    },
}

fn push_err(image: &str, message: impl std::fmt::Display) -> Error {
    Error::Push { image: image.to_string(), message: message.to_string() }
}

/// The message of a registry error, with `unauthorized:` in front when it was a 401/403
/// (as Docker says it).
fn registry_message(x: &berth_registry::Error) -> String {
    let text = crate::error::chain(x);
    if x.is_unauthorized() && !text.contains("unauthorized") {
        return format!("unauthorized: {text}");
    }
    text
}

/// Pushes `name` (`REGISTRY/REPO[:TAG]`; with `all_tags`, `REGISTRY/REPO` and every stored
/// tag of it). Returns the references pushed.
pub fn push(
    e: &Engine,
    name: &str,
    o: &PushOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<String>> {
    let reference = Reference::parse(name).map_err(|x| push_err(name, x))?;
    if reference.digest().is_some() {
        return Err(push_err(name, "cannot push a digest reference; give a tag"));
    }
    // The store pull writes; push only reads it, so pull's fault points never fire here.
    let store = super::pull::store(e)?;
    let targets = targets(&store, name, &reference, o.all_tags)?;
    let client = super::pull::client_for(
        reference.registry(),
        &super::pull::PullOptions { platform: None, insecure_tls: o.insecure_tls },
    )?;
    let rt = super::pull::registry_runtime().map_err(|x| push_err(name, x))?;
    let _lease = store.lease().map_err(|x| push_err(name, crate::error::chain(&x)))?;
    progress(Progress::Repository(format!("{}/{}", reference.registry(), reference.repository())));
    let mut pushed = Vec::new();
    for (target, info) in targets {
        let shown = if o.all_tags { target.to_string() } else { name.to_string() };
        push_one(&rt, &client, &store, &target, &info, progress)
            .map_err(|x| push_err(&shown, x))?;
        pushed.push(target.to_string());
    }
    Ok(pushed)
}

/// The references to push and their images: `reference` itself, or with `all_tags` every
/// stored tag of its repository.
fn targets(
    store: &Store,
    name: &str,
    reference: &Reference,
    all_tags: bool,
) -> Result<Vec<(Reference, ImageInfo)>> {
    let missing = || {
        let full = reference.to_string();
        let also = if full == name { String::new() } else { format!(" (looked for {full})") };
        push_err(name, format!("no such image{also}"))
    };
    if !all_tags {
        let info = store.lookup(&reference.to_string()).map_err(|_| missing())?;
        return Ok(vec![(reference.clone(), info)]);
    }
    if name.rsplit('/').next().is_some_and(|last| last.contains(':')) {
        return Err(push_err(name, "a tag cannot be used with --all-tags/-a"));
    }
    let mut out = Vec::new();
    let images = store.images().map_err(|x| push_err(name, crate::error::chain(&x)))?;
    for info in images {
        for r in &info.references {
            let Ok(parsed) = Reference::parse(r) else { continue };
            let same = parsed.registry() == reference.registry()
                && parsed.repository() == reference.repository();
            if same && parsed.tag().is_some() && parsed.digest().is_none() {
                out.push((parsed, info.clone()));
            }
        }
    }
    if out.is_empty() {
        return Err(missing());
    }
    out.sort_by_key(|(r, _)| r.to_string());
    Ok(out)
}

/// A blob to send: its digest, size and file.
struct Blob {
    digest: berth_registry::Digest,
    size: u64,
    path: PathBuf,
}

/// Pushes one tag: layers, config, manifest. Errors are the message after `push REF:`.
fn push_one(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    store: &Store,
    target: &Reference,
    info: &ImageInfo,
    progress: &mut dyn FnMut(Progress),
) -> std::result::Result<(), String> {
    let (manifest, media_type) = super::save::manifest_of(store, info)
        .map_err(|x| format!("read the manifest of image {}: {x}", info.id))?;
    let doc: serde_json::Value = serde_json::from_slice(&manifest)
        .map_err(|x| format!("parse the manifest of image {}: {x}", info.id))?;
    let config = blob(store, &doc["config"])?;
    let layers: Vec<Blob> = doc["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| blob(store, l))
        .collect::<std::result::Result<_, _>>()?;
    // Docker names a pushed layer by its diff id; the records hold it beside the blob.
    let ids = layers
        .iter()
        .map(|l| {
            let rec = info.layers.iter().find(|r| r.digest.to_string() == l.digest.as_ref());
            let full = rec.map_or(l.digest.to_string(), |r| r.diff_id.to_string());
            crate::display::short_id(&full, false)
        })
        .collect();
    progress(Progress::Layers(ids));
    let from = mount_sources(info, target);
    let send = |b: &Blob| -> std::result::Result<BlobPushed, String> {
        rt.block_on(client.push_blob(target, &b.digest, b.size, &b.path, &from))
            .map_err(|x| registry_message(&x))
    };
    send_layers(&layers, &send, progress)?;
    send(&config)?;
    let size = manifest.len();
    let digest = rt
        .block_on(client.push_manifest(target, &media_type, manifest.into()))
        .map_err(|x| registry_message(&x))?;
    let tag = target.tag().unwrap_or(berth_registry::reference::DEFAULT_TAG).to_string();
    progress(Progress::Tagged { tag, digest: digest.to_string(), size });
    Ok(())
}

/// Sends the layers, [`PARALLEL`] at a time, reporting each as it is done.
fn send_layers(
    layers: &[Blob],
    send: &(dyn Fn(&Blob) -> std::result::Result<BlobPushed, String> + Sync),
    progress: &mut dyn FnMut(Progress),
) -> std::result::Result<(), String> {
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(layers.len()) {
            let (tx, next) = (tx.clone(), &next);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(layer) = layers.get(i) else { return };
                let done = send(layer);
                let failed = done.is_err();
                if tx.send((i, done)).is_err() || failed {
                    return;
                }
            });
        }
        drop(tx);
        let mut first_err = None;
        for (i, done) in rx {
            match done {
                Ok(BlobPushed::Exists) => progress(Progress::Layer(i, LayerPushed::Exists)),
                Ok(BlobPushed::Mounted(r)) => progress(Progress::Layer(i, LayerPushed::Mounted(r))),
                Ok(_) => progress(Progress::Layer(i, LayerPushed::Pushed)),
                Err(x) => {
                    // Stop handing out layers; the ones in flight finish.
                    next.store(layers.len(), Ordering::SeqCst);
                    first_err.get_or_insert(x);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    })
}

/// A descriptor of the manifest and the stored file holding it.
fn blob(store: &Store, desc: &serde_json::Value) -> std::result::Result<Blob, String> {
    let text = desc["digest"].as_str().unwrap_or_default();
    let local = Digest::parse(text).map_err(|x| format!("manifest descriptor {text:?}: {x}"))?;
    let digest = text.parse().map_err(|x| format!("manifest descriptor {text:?}: {x}"))?;
    let path = store.blob_path(&local);
    let size = desc["size"].as_u64().unwrap_or(0);
    match std::fs::metadata(&path) {
        Ok(m) if m.len() == size => Ok(Blob { digest, size, path }),
        Ok(m) => Err(format!(
            "blob {text} in the local store is {} bytes, the manifest says {size}: {}",
            m.len(),
            path.display()
        )),
        Err(x) => Err(format!(
            "blob {text} is not in the local store ({}: {x}); pull the image again",
            path.display()
        )),
    }
}

/// Other repositories of the target's registry that this image came from or was pushed to:
/// the registry may mount its blobs from there instead of receiving them again.
fn mount_sources(info: &ImageInfo, target: &Reference) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in info.references.iter().filter_map(|r| Reference::parse(r).ok()) {
        let other = r.registry() == target.registry() && r.repository() != target.repository();
        if other && !out.iter().any(|o| o == r.repository()) {
            out.push(r.repository().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(refs: &[&str]) -> ImageInfo {
        let d = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        ImageInfo {
            id: d.clone(),
            config_digest: d,
            manifest_media_type: String::new(),
            platform: String::new(),
            size: 0,
            stored: 0,
            config_created: None,
            references: refs.iter().map(|r| r.to_string()).collect(),
            layers: Vec::new(),
        }
    }

    #[test]
    fn mounts_come_from_other_repositories_of_the_same_registry() {
        let target = Reference::parse("r:5000/team/app:v1").unwrap();
        let i = info(&[
            "r:5000/busybox:latest",
            "r:5000/busybox:1.36",
            "r:5000/team/app:v0",
            "other:5000/busybox:latest",
            "docker.io/library/busybox:latest",
        ]);
        assert_eq!(mount_sources(&i, &target), ["busybox"]);
        assert!(mount_sources(&info(&[]), &target).is_empty());
    }

    #[test]
    fn unauthorized_is_said_once() {
        let source = berth_registry::RequestError::Unauthorized { detail: "log in".into() };
        let e = berth_registry::Error::Login { registry: "r".into(), url: "u".into(), source };
        assert!(registry_message(&e).starts_with("unauthorized: "), "{}", registry_message(&e));
    }
}
