//! `berth images`, `rmi`, `tag`: the image store's records.

use std::os::fd::AsFd;

use berth_image::{Digest, ImageInfo, Store};
use berth_registry::Reference;

use super::Engine;
use crate::error::{Error, Result};

fn err(image: &str, x: &dyn std::error::Error) -> Error {
    Error::Pull { image: image.to_string(), message: crate::error::chain(x) }
}

/// An image as `images` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The record.
    pub info: ImageInfo,
    /// When the image was made (its config's `created`), Unix seconds; `None` when the
    /// config has none, or one that does not parse, or 1970-01-01T00:00:00Z: Docker's API
    /// gives 0 for those and its CLI shows `N/A`.
    pub created: Option<u64>,
    /// Unpacked bytes of its layers (see [`layer_sizes`]), as Docker's SIZE.
    pub size: u64,
}

/// Every stored image, newest first by creation time as Docker lists them (images without
/// one last), then by when they were stored.
pub fn list(e: &Engine) -> Result<Vec<Summary>> {
    let store = super::pull::store(e)?;
    let infos = store.images().map_err(|x| err("(images)", &x))?;
    let mut out: Vec<Summary> = infos
        .into_iter()
        .map(|info| Summary {
            created: created_secs(&info),
            size: layer_sizes(&store, &info).iter().sum(),
            info,
        })
        .collect();
    // Stable: equal times keep the store's order, newest stored first.
    out.sort_by_key(|s| std::cmp::Reverse(s.created));
    Ok(out)
}

/// The image's creation time from its config's `created`, Unix seconds; see
/// [`Summary::created`].
pub fn created_secs(info: &ImageInfo) -> Option<u64> {
    let at = crate::display::parse_rfc3339(info.config_created.as_deref()?)?;
    let secs = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    (secs > 0).then_some(secs)
}

/// Each layer's unpacked size, bottom first, as Docker counts a layer's diff (each inode's
/// `st_size` once; directories and whiteouts 0). The store records it when it unpacks a
/// layer; for a layer stored by an older berth the snapshot is walked, and what the walk
/// found recorded, so that it is walked once. The compressed blob size stands in only when
/// the snapshot cannot be read.
pub fn layer_sizes(store: &Store, info: &ImageInfo) -> Vec<u64> {
    info.chain_ids()
        .iter()
        .zip(&info.layers)
        .map(|(chain_id, layer)| {
            if let Some(n) = layer.unpacked_size {
                return n;
            }
            let Some(n) = walk_snapshot(store, chain_id) else { return layer.size };
            // Only a cache: without it the next listing walks again.
            if let Err(x) = store.record_unpacked_size(chain_id, n) {
                tracing::debug!(%chain_id, error = %x, "unpacked size not recorded");
            }
            n
        })
        .collect()
}

/// The bytes in the snapshot `chain_id`, walked (`fstree::size`: Docker's `directory.Size`).
fn walk_snapshot(store: &Store, chain_id: &Digest) -> Option<u64> {
    use rustix::fs::{Mode, OFlags};
    let snapshot = store.snapshot(chain_id)?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let dir = rustix::fs::open(&snapshot.path, flags, Mode::empty()).ok()?;
    crate::fstree::size(dir.as_fd()).ok()
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
        "Size": layer_sizes(&store, &info).iter().sum::<u64>(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::LayerRecord;

    fn image(config_created: Option<&str>, layers: Vec<LayerRecord>) -> ImageInfo {
        ImageInfo {
            id: Digest::sha256_of(b"manifest"),
            config_digest: Digest::sha256_of(b"config"),
            manifest_media_type: String::new(),
            platform: "linux/amd64".into(),
            size: 0,
            stored: 1_700_000_000,
            config_created: config_created.map(str::to_string),
            references: Vec::new(),
            layers,
        }
    }

    #[test]
    fn created_is_the_configs_and_n_a_without_a_usable_one() {
        let secs = |c| created_secs(&image(c, Vec::new()));
        assert_eq!(secs(Some("2024-01-01T00:00:01.9Z")), Some(1_704_067_201));
        assert_eq!(secs(Some("2024-01-01T02:00:01+02:00")), Some(1_704_067_201));
        assert_eq!(secs(None), None);
        assert_eq!(secs(Some("yesterday")), None);
        // Reproducible builds' epoch and Go's zero time: Docker shows N/A for both.
        assert_eq!(secs(Some("1970-01-01T00:00:00Z")), None);
        assert_eq!(secs(Some("0001-01-01T00:00:00Z")), None);
    }

    #[test]
    fn layer_sizes_recorded_else_walked_else_compressed() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let layer = |diff: u8, unpacked| LayerRecord {
            digest: Digest::sha256_of(&[diff, 0]),
            diff_id: Digest::parse(&format!("sha256:{}", format!("{diff:02x}").repeat(32)))
                .unwrap(),
            media_type: String::new(),
            size: 999,
            unpacked_size: unpacked,
        };
        // One layer each, so the chain id is the diff id.
        let recorded = image(None, vec![layer(0xab, Some(5))]);
        assert_eq!(layer_sizes(&store, &recorded), [5]);
        let gone = image(None, vec![layer(0xab, None)]);
        assert_eq!(layer_sizes(&store, &gone), [999], "no snapshot: the compressed size");
        let fs = root.path().join("snapshots").join("ab".repeat(32)).join("fs");
        std::fs::create_dir_all(fs.join("etc")).unwrap();
        std::fs::write(fs.join("etc/passwd"), "root:x:0:0\n").unwrap();
        // A hard link counts once, a symlink its target's length.
        std::fs::hard_link(fs.join("etc/passwd"), fs.join("etc/again")).unwrap();
        std::os::unix::fs::symlink("passwd", fs.join("etc/link")).unwrap();
        assert_eq!(layer_sizes(&store, &gone), [11 + 6], "an older record: the snapshot walked");
    }
}
