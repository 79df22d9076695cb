//! `berth images`, `rmi`, `tag`: the image store's records.

use berth_image::{ImageInfo, Store};
use berth_registry::Reference;

use super::Engine;
use crate::error::{Error, Result};

fn err(image: &str, x: &dyn std::error::Error) -> Error {
    Error::Pull { image: image.to_string(), message: crate::error::chain(x) }
}

/// Every stored image.
pub fn list(e: &Engine) -> Result<Vec<ImageInfo>> {
    super::pull::store(e)?.images().map_err(|x| err("(images)", &x))
}

/// The name the store knows `name` by: as given when it has it, else Docker's normalised
/// form (`busybox` is `docker.io/library/busybox:latest`).
pub fn resolve_name(store: &Store, name: &str) -> String {
    if store.lookup(name).is_ok() {
        return name.to_string();
    }
    Reference::parse(name).map_or_else(|_| name.to_string(), |r| r.to_string())
}

/// Finds an image by reference (as given or normalised) or id.
pub fn lookup(store: &Store, name: &str) -> Result<ImageInfo> {
    store.lookup(&resolve_name(store, name)).map_err(|x| Error::NoSuchImage {
        image: name.to_string(),
        message: crate::error::chain(&x),
    })
}

/// Removes `image` (a reference or id); an image a container uses is refused unless
/// `force`. Returns the untagged references and deleted ids as Docker prints them.
pub fn rmi(e: &Engine, image: &str, force: bool) -> Result<Vec<String>> {
    let store = super::pull::store(e)?;
    let removed = store.remove(&resolve_name(&store, image), force).map_err(|x| err(image, &x))?;
    let _ = store.reclaim();
    let mut out: Vec<String> = removed.untagged.iter().map(|r| format!("Untagged: {r}")).collect();
    out.extend(removed.deleted.iter().map(|d| format!("Deleted: {d}")));
    Ok(out)
}

/// Adds reference `new` to `src`.
pub fn tag(e: &Engine, src: &str, new: &str) -> Result<()> {
    let store = super::pull::store(e)?;
    let new = Reference::parse(new).map_err(|x| Error::InvalidFlag {
        flag: "TARGET_IMAGE",
        value: new.to_string(),
        reason: x.to_string(),
    })?;
    store.tag(&resolve_name(&store, src), &new.to_string()).map(|_| ()).map_err(|x| err(src, &x))
}

/// The parsed image config blob of `info`.
pub fn config_of(store: &Store, info: &ImageInfo) -> Result<serde_json::Value> {
    let path = store.blob_path(&info.config_digest);
    let text = std::fs::read(&path).map_err(Error::io("read image config", &path))?;
    serde_json::from_slice(&text)
        .map_err(|x| err(&info.id.to_string(), &x as &dyn std::error::Error))
}

/// `image inspect`: Docker's image JSON.
pub fn inspect(e: &Engine, image: &str) -> Result<serde_json::Value> {
    let store = super::pull::store(e)?;
    let info = lookup(&store, image)?;
    let config = config_of(&store, &info)?;
    let repo_digests: Vec<String> = info
        .references
        .iter()
        .filter_map(|r| r.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map(|(r, _)| r))
        .map(|r| format!("{r}@{}", info.id))
        .collect();
    let layers: Vec<String> = info.layers.iter().map(|l| l.diff_id.to_string()).collect();
    let mut doc = serde_json::json!({
        "Id": info.id.to_string(),
        "RepoTags": info.references,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": config["comment"].as_str().unwrap_or(""),
        "Created": config["created"].as_str().unwrap_or(""),
        "Author": config["author"].as_str().unwrap_or(""),
        "Config": config.get("config").cloned().unwrap_or(serde_json::json!({})),
        "Architecture": config["architecture"].as_str().unwrap_or(""),
        "Os": config["os"].as_str().unwrap_or(""),
        "Size": info.size,
        "RootFS": {"Type": "layers", "Layers": layers},
        "Metadata": {"ConfigDigest": info.config_digest.to_string(), "Platform": info.platform},
    });
    if let Some(v) = config["variant"].as_str() {
        doc["Variant"] = v.into();
    }
    Ok(doc)
}

/// `image prune`: removes dangling images (no reference, no container); returns their ids
/// and the bytes of blobs reclaimed.
pub fn prune(e: &Engine) -> Result<(Vec<String>, u64)> {
    let pruned = super::pull::store(e)?.prune().map_err(|x| err("(prune)", &x))?;
    Ok((pruned.deleted.iter().map(ToString::to_string).collect(), pruned.reclaimed.blob_bytes))
}
