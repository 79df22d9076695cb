//! `berth commit CONTAINER [REPO[:TAG]]`: the container's changes as a new image on top of
//! the one it was made from, as `docker commit` makes it.
//!
//! Order, each step before anything is stored:
//! 1. the container, the reference and every `--change` are checked;
//! 2. the image it runs on is found by its top layer (the top lower of its saved overlay), so
//!    a tag moved since `run` does not matter;
//! 3. a running container is paused (unless `--pause=false`) while its upper directory is
//!    written as a layer: a tar with OCI whiteouts (`layer_writer`), gzipped into the store's
//!    `tmp/`, its diff id hashed on the way; it is thawed as soon as the layer is written
//!    (a commit killed meanwhile leaves a pause nobody holds: the next command that looks
//!    thaws it, `ops::pause`);
//! 4. under a store lease, config, layers and manifest go through the store's verifying
//!    ingest (the new layer is unpacked into its snapshot as a pulled one would be), and the
//!    image record and its tag are written last: a commit killed before that leaves only
//!    unreferenced blobs, which the next `reclaim` removes.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;

use berth_image::layer_writer::{write_tree, TreeOptions};
use berth_image::{Algorithm, Digest, Digester, ImageInfo, Store};
use serde_json::{json, Value};

use super::diff::Layers;
use super::Engine;
use crate::db::Record;
use crate::error::{Error, Result};

/// `commit`'s flags.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `-m`: the history entry's comment.
    pub message: Option<String>,
    /// `-a`: the image's author.
    pub author: Option<String>,
    /// `-c`: Dockerfile instructions applied to the config.
    pub changes: Vec<String>,
    /// `--pause`: freeze a running container while its changes are read.
    pub pause: bool,
}

fn fail(id: &str, message: impl std::fmt::Display) -> Error {
    Error::Archive { op: "commit", path: id.to_string(), message: message.to_string() }
}

/// Commits container `key` as a new image, tagged `reference` if given; returns its id.
pub fn commit(e: &Engine, key: &str, reference: Option<&str>, o: &CommitOptions) -> Result<String> {
    let r = e.get(key)?;
    let reference = reference
        .map(|x| {
            berth_registry::Reference::parse(x).map(|p| p.to_string()).map_err(|why| {
                Error::InvalidFlag {
                    flag: "REPOSITORY[:TAG]",
                    value: x.into(),
                    reason: why.to_string(),
                }
            })
        })
        .transpose()?;
    let layers = Layers::of(e, &r, "commit")?;
    let store = super::pull::store(e)?;
    let base = base_image(&store, &layers, &r)?;
    let base_config = super::images::config_of(&store, &base)?;
    let (config, created_by) = container_config(&base_config, &r, &o.changes)?;
    // Frozen while its upper directory is read, as Docker does.
    let hold = if o.pause { super::pause::CommitHold::take(e, &r)? } else { None };
    let layer = write_layer(&store, &layers, &r.id);
    crate::fault::point("commit-paused");
    hold.map(super::pause::CommitHold::release).transpose()?;
    let Layer { tmp, diff_id, digest, size } = layer?;
    let config = new_config(&base_config, config, &created_by, &r, o, &diff_id);
    let config = serde_json::to_vec(&config).map_err(|x| fail(&r.id, x))?;
    let _lease = store.lease().map_err(|x| fail(&r.id, crate::error::chain(&x)))?;
    let mut all: Vec<(Digest, u64, String, PathBuf)> = base
        .layers
        .iter()
        .map(|l| {
            let media = super::save::oci_media_type(&l.media_type);
            (l.digest.clone(), l.size, media, store.blob_path(&l.digest))
        })
        .collect();
    all.push((digest, size, LAYER_MEDIA_TYPE.to_string(), tmp.path().to_path_buf()));
    let mut record = super::load::ingest(&store, "commit", &r.id, &config, &all, None)?;
    record.reference = reference;
    crate::fault::point("commit-before-record");
    let info = store.put_image(&record).map_err(|x| fail(&r.id, crate::error::chain(&x)))?;
    Ok(info.id.to_string())
}

/// The stored image whose layers the container's overlay has, found by its top layer
/// (`commit`'s parent, `ps -s`'s virtual size).
pub(crate) fn base_image(store: &Store, layers: &Layers, r: &Record) -> Result<ImageInfo> {
    let gone = || Error::WrongState {
        op: "commit",
        id: r.id.clone(),
        reason: format!("the image it was created from ({}) is no longer stored", r.image),
    };
    // `snapshots/<chain id hex>/fs`, top first.
    let top = layers.lowers.first().and_then(|p| p.parent()).and_then(|p| p.file_name());
    let top = top.map(|t| t.to_string_lossy().to_string()).ok_or_else(gone)?;
    let images = store.images().map_err(|x| fail(&r.id, crate::error::chain(&x)))?;
    let matches = |i: &ImageInfo| {
        i.layers.len() == layers.lowers.len()
            && i.chain_ids().last().is_some_and(|c| c.hex() == top)
    };
    // The image as named at `run` if it still fits, else any image with those layers.
    let named = super::images::resolve_name(store, &r.image);
    let mut found: Vec<ImageInfo> = images.into_iter().filter(matches).collect();
    found.sort_by_key(|i| !i.references.contains(&named));
    found.into_iter().next().ok_or_else(gone)
}

/// Hashes what is written through it: before the gzip encoder, the tar's digest (the diff
/// id); after it, the blob's.
struct Tee<W: Write> {
    inner: W,
    digest: Digester,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The gzipped layer as written: the file, and the digests of the tar (its diff id) and of
/// the gzip (its blob digest), both hashed on the way out so the file is not read again
/// before the store's ingest verifies it.
struct Layer {
    tmp: tempfile::NamedTempFile,
    diff_id: Digest,
    digest: Digest,
    size: u64,
}

/// The media type of the layer `commit` writes.
const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The upper directory as a gzipped OCI layer in the store's private work directory.
fn write_layer(store: &Store, layers: &Layers, id: &str) -> Result<Layer> {
    let io = |op: &str, x: &dyn std::fmt::Display| fail(id, format!("{op}: {x}"));
    // In the store's private work dir, not directly in `tmp/`: another berth opening the
    // store sweeps plain files there, and would delete the layer while it is written.
    let tmp = tempfile::NamedTempFile::new_in(store.scratch_dir())
        .map_err(|x| io("create layer file", &x))?;
    let file = tmp.as_file().try_clone().map_err(|x| io("create layer file", &x))?;
    let gz_out = Tee { inner: file, digest: Digester::new(Algorithm::Sha256) };
    let gz = flate2::write::GzEncoder::new(gz_out, flate2::Compression::default());
    let tee = Tee { inner: gz, digest: Digester::new(Algorithm::Sha256) };
    let upper = rustix::fs::open(
        &layers.upper,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|x| Error::Io { op: "open", path: layers.upper.clone(), source: x.into() })?;
    let opts = TreeOptions {
        whiteouts: true,
        skip_contents: Vec::new(),
        skip: super::diff::engine_made(layers),
    };
    let (tee, _) =
        write_tree(upper.as_fd(), tee, &opts).map_err(|x| fail(id, crate::error::chain(&x)))?;
    let gz_out = tee.inner.finish().map_err(|x| io("write layer", &x))?;
    gz_out.inner.sync_all().map_err(|x| io("write layer", &x))?;
    let size = gz_out.digest.len();
    Ok(Layer { tmp, diff_id: tee.digest.finish(), digest: gz_out.digest.finish(), size })
}

/// The container's `config`: the image's, with what the container ran with (command,
/// environment, working directory, user, labels), then the `--change` lines; and the
/// container's command (before the changes), Docker's `created_by` of a commit.
fn container_config(base: &Value, r: &Record, changes: &[String]) -> Result<(Value, String)> {
    let mut c = base["config"].as_object().cloned().unwrap_or_default();
    let run: Value = serde_json::from_str(&r.config).unwrap_or_default();
    let entrypoint: Vec<Value> =
        c.get("Entrypoint").and_then(Value::as_array).cloned().unwrap_or_default();
    let command: Vec<Value> = r.command.iter().map(|s| json!(s)).collect();
    if command.len() >= entrypoint.len() && command[..entrypoint.len()] == entrypoint[..] {
        let cmd = &command[entrypoint.len()..];
        if !cmd.is_empty() {
            c.insert("Cmd".into(), json!(cmd));
        }
    }
    if run["env"].as_array().is_some_and(|e| !e.is_empty()) {
        c.insert("Env".into(), run["env"].clone());
    }
    for (from, to) in [("workdir", "WorkingDir"), ("user", "User")] {
        if let Some(v) = run[from].as_str().filter(|v| !v.is_empty()) {
            c.insert(to.into(), json!(v));
        }
    }
    if run["labels"].as_object().is_some_and(|l| !l.is_empty()) {
        c.insert("Labels".into(), run["labels"].clone());
    }
    let created_by: Vec<&str> = c
        .get("Cmd")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let created_by = created_by.join(" ");
    for line in changes {
        super::image_changes::apply(&mut c, line).map_err(|reason| Error::InvalidFlag {
            flag: "--change",
            value: line.clone(),
            reason,
        })?;
    }
    Ok((Value::Object(c), created_by))
}

/// The new image config: the base one with the new `config`, one more diff id and one more
/// history entry (`created_by`: the container's command, as Docker records a commit).
fn new_config(
    base: &Value,
    config: Value,
    created_by: &str,
    r: &Record,
    o: &CommitOptions,
    diff_id: &Digest,
) -> Value {
    let now = crate::now();
    let mut c = base.clone();
    c["created"] = json!(now);
    c["config"] = config;
    c["container"] = json!(r.id);
    match &o.author {
        Some(a) => c["author"] = json!(a),
        None => {
            if let Some(m) = c.as_object_mut() {
                m.remove("author");
            }
        }
    }
    let mut diff_ids = c["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default();
    diff_ids.push(json!(diff_id.to_string()));
    c["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    let mut entry = json!({"created": now, "created_by": created_by});
    if let Some(a) = &o.author {
        entry["author"] = json!(a);
    }
    if let Some(m) = &o.message {
        entry["comment"] = json!(m);
    }
    let mut history = c["history"].as_array().cloned().unwrap_or_default();
    history.push(entry);
    c["history"] = json!(history);
    c
}
