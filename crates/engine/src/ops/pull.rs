//! `berth pull`: resolve the manifest for this platform, fetch the config, then stream every
//! layer from the registry straight into the store (hash, inflate, unpack in one pass),
//! layers in parallel; record the image last, so a failed or killed pull leaves no image.

use berth_image::{
    chain_ids, Checkpoint, Digest, ImageInfo, ImageRecord, LayerDesc, LayerRecord, Store,
    StoreOptions,
};
use berth_registry::{Client, ClientConfig, Mirror, Platform, Reference};

use super::Engine;
use crate::display::short_id;
use crate::error::{Error, Result};

/// Options of `pull`.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `--platform os/arch[/variant]`; the host's by default.
    pub platform: Option<String>,
    /// `--tls-verify=false`.
    pub insecure_tls: bool,
}

/// One step of a pull, for progress output. Layers are numbered base first.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The manifest was resolved.
    Resolved {
        /// Manifest digest.
        digest: String,
        /// Short ids (12 hex digits) of the layers, base first.
        layers: Vec<String>,
        /// Compressed size of each layer.
        sizes: Vec<u64>,
    },
    /// Layer `index` is already in the store.
    LayerExists(usize),
    /// `done` bytes of layer `index` arrived.
    LayerBytes {
        /// The layer's position.
        index: usize,
        /// Bytes read so far.
        done: u64,
    },
    /// Layer `index` was downloaded and unpacked.
    LayerDone(usize),
    /// Something failed and was recovered from: a mirror (or an https attempt) failed and
    /// the next endpoint served (`berth.toml` mirrors and insecure registries).
    Note(String),
}

/// Counts the bytes read through it and reports them, at most every 256 KiB.
struct Counting<R> {
    inner: R,
    index: usize,
    done: u64,
    reported: u64,
    tx: std::sync::mpsc::Sender<Progress>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done > 0 {
            // The store wrote what the last read returned before asking for more.
            crate::fault::point("pull-layer-partial");
        }
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if n == 0 || self.done - self.reported >= 256 * 1024 {
            self.reported = self.done;
            let _ = self.tx.send(Progress::LayerBytes { index: self.index, done: self.done });
        }
        Ok(n)
    }
}

fn pull_err(image: &str, e: impl std::fmt::Display) -> Error {
    Error::Pull { image: image.to_string(), message: e.to_string() }
}

/// The image store of this engine; its ingest checkpoints are fault points
/// (`pull-layer-verified`, `pull-layer-blob-published`).
pub fn store(e: &Engine) -> Result<Store> {
    let options = StoreOptions {
        checkpoint: Some(|step: Checkpoint| match step {
            Checkpoint::LayerVerified => crate::fault::point("pull-layer-verified"),
            Checkpoint::LayerBlobPublished => crate::fault::point("pull-layer-blob-published"),
        }),
        ..StoreOptions::default()
    };
    Store::open_with(&e.paths.data.join("images"), options)
        .map_err(|x| Error::ImageStore(crate::error::chain(&x)))
}

/// The registry client: Docker's rules (loopback registries over plain http), the
/// certs.d directory, the auth files, and `berth.toml`'s mirrors and insecure registries.
pub fn client(reference: &Reference, o: &PullOptions) -> Result<Client> {
    client_for(reference.registry(), o)
}

/// The registry client for the registry `host` (`host[:port]`).
pub fn client_for(host: &str, o: &PullOptions) -> Result<Client> {
    let config = crate::config::load()?;
    let mut insecure: Vec<String> = std::env::var("BERTH_INSECURE_REGISTRIES")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let loopback =
        host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
    // Listed in berth.toml, a loopback registry gets https first like any other.
    if loopback && !config.insecure.iter().any(|h| h == host) {
        insecure.push(host.to_string());
    }
    let mirrors =
        config.mirrors.into_iter().map(|(registry, endpoints)| Mirror { registry, endpoints });
    Ok(Client::new(ClientConfig {
        insecure,
        unverified_tls: config.insecure,
        mirrors: mirrors.collect(),
        tls_verify: !o.insecure_tls,
        certs_dir: "/etc/berth/certs.d".into(),
        auth_files: berth_registry::auth::default_auth_files(),
        ..ClientConfig::default()
    }))
}

/// The file `login` writes: `$REGISTRY_AUTH_FILE` when set (podman's variable), else
/// Docker's `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`).
pub fn login_file() -> std::path::PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    if let Some(f) = env("REGISTRY_AUTH_FILE") {
        return f;
    }
    let home = env("HOME").unwrap_or_else(|| "/root".into());
    env("DOCKER_CONFIG").unwrap_or_else(|| home.join(".docker")).join("config.json")
}

fn runtime(what: &str) -> Result<tokio::runtime::Runtime> {
    registry_runtime().map_err(|x| pull_err(what, x))
}

/// The runtime registry work (pull, push) runs on: two workers, I/O and timers.
pub(crate) fn registry_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}

/// `login`: checks the credentials against `registry` and stores them in [`login_file`].
pub fn login(registry: &str, user: &str, password: &str, o: &PullOptions) -> Result<()> {
    let creds = berth_registry::Credentials {
        username: user.to_string(),
        password: password.to_string(),
        identity_token: None,
    };
    let client = client_for(registry, o)?;
    runtime(registry)?
        .block_on(client.login(registry, &creds, &login_file()))
        .map_err(|x| Error::Login { registry: registry.to_string(), message: login_message(&x) })
}

fn login_message(x: &berth_registry::Error) -> String {
    let text = crate::error::chain(x);
    if x.is_unauthorized() && !text.contains("unauthorized") {
        return format!("unauthorized: {text}");
    }
    text
}

/// `logout`: removes `registry`'s credentials; false if there were none.
pub fn logout(registry: &str) -> Result<bool> {
    berth_registry::auth::remove_credentials(&login_file(), registry).map_err(|x| Error::Login {
        registry: registry.to_string(),
        message: crate::error::chain(&x),
    })
}

/// Pulls `image`; `progress` sees each step.
pub fn pull(
    e: &Engine,
    image: &str,
    o: &PullOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImageInfo> {
    let reference = Reference::parse(image).map_err(|x| pull_err(image, x))?;
    let platform = match &o.platform {
        Some(p) => Platform::parse(p).map_err(|x| pull_err(image, x))?,
        None => Platform::host(),
    };
    let store = store(e)?;
    let client = client(&reference, o)?;
    let rt = runtime(image)?;
    let resolved = rt
        .block_on(client.resolve(&reference, &platform))
        .map_err(|x| pull_err(image, crate::error::chain(&x)))?;
    client.take_notes().into_iter().for_each(|n| progress(Progress::Note(n)));
    progress(Progress::Resolved {
        digest: resolved.manifest_digest.to_string(),
        layers: resolved.layers.iter().map(|l| short_id(l.digest().as_ref(), false)).collect(),
        sizes: resolved.layers.iter().map(|l| l.size()).collect(),
    });
    let config = rt
        .block_on(client.fetch_blob_bytes(&reference, &resolved.config))
        .map_err(|x| pull_err(image, crate::error::chain(&x)))?;
    let config_digest = digest(image, resolved.config.digest().as_ref())?;
    let manifest_digest = digest(image, resolved.manifest_digest.as_ref())?;
    let _lease = store.lease().map_err(|x| pull_err(image, crate::error::chain(&x)))?;
    let diff_ids = diff_ids(image, &config, resolved.layers.len())?;
    let chains = chain_ids(&diff_ids);
    let mut layers = Vec::new();
    for (desc, diff_id) in resolved.layers.iter().zip(&diff_ids) {
        layers.push(LayerRecord {
            digest: digest(image, desc.digest().as_ref())?,
            diff_id: diff_id.clone(),
            media_type: desc.media_type().to_string(),
            size: desc.size(),
            // Recorded by the store from the snapshot it unpacked.
            unpacked_size: None,
        });
    }
    // The config and the manifest (kept so that `save` writes it exactly as the registry
    // served it) are stored, an fsync each, while the layers download.
    let small_blobs = || {
        put_blob(&store, image, &config_digest, &config)?;
        put_blob(&store, image, &manifest_digest, &resolved.raw_manifest)?;
        crate::fault::point("pull-after-config");
        Ok(())
    };
    let (descs, refs) = (&resolved.layers, &reference);
    fetch_layers(&rt, &client, refs, &store, descs, &layers, &chains, small_blobs, progress)
        .map_err(|x| match x {
            Error::Pull { message, .. } => pull_err(image, message),
            other => other,
        })?;
    client.take_notes().into_iter().for_each(|n| progress(Progress::Note(n)));
    crate::fault::point("pull-before-record");
    let size = layers.iter().map(|l| l.size).sum();
    let record = ImageRecord {
        reference: Some(reference.to_string()),
        manifest_digest,
        manifest_media_type: resolved.media_type.clone(),
        config_digest,
        platform: resolved.platform.as_ref().unwrap_or(&platform).to_string(),
        layers,
        size,
    };
    store.put_image(&record).map_err(|x| pull_err(image, crate::error::chain(&x)))
}

/// Downloads and unpacks the layers in parallel, one thread each; runs `meanwhile` on this
/// thread once they started, then reports progress from here as the workers send it.
#[allow(clippy::too_many_arguments)]
fn fetch_layers(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    reference: &Reference,
    store: &Store,
    descs: &[berth_registry::Descriptor],
    layers: &[LayerRecord],
    chains: &[Digest],
    meanwhile: impl FnOnce() -> Result<()>,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let image = reference.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let handles: Vec<_> = layers
            .iter()
            .zip(descs)
            .zip(chains)
            .enumerate()
            .map(|(index, ((l, desc), chain))| {
                let tx = tx.clone();
                let image = &image;
                s.spawn(move || -> Result<()> {
                    if store.snapshot(chain).is_some() && store.has_blob(&l.digest) {
                        let _ = tx.send(Progress::LayerExists(index));
                        return Ok(());
                    }
                    let blob = rt
                        .block_on(client.fetch_blob(reference, desc))
                        .map_err(|x| pull_err(image, crate::error::chain(&x)))?;
                    let d = LayerDesc {
                        digest: l.digest.clone(),
                        size: l.size,
                        media_type: l.media_type.clone(),
                    };
                    let reader = Counting {
                        inner: blob.into_reader(),
                        index,
                        done: 0,
                        reported: 0,
                        tx: tx.clone(),
                    };
                    store
                        .ingest_layer(&d, &l.diff_id, chain, reader)
                        .map_err(|x| pull_err(image, crate::error::chain(&x)))?;
                    let _ = tx.send(Progress::LayerDone(index));
                    Ok(())
                })
            })
            .collect();
        drop(tx);
        let done = meanwhile();
        for p in rx {
            progress(p);
        }
        let joined = handles
            .into_iter()
            .map(|h| h.join().map_err(|_| pull_err(&image, "a layer thread panicked"))?)
            .collect::<Result<Vec<()>>>();
        done.and(joined)
    })?;
    Ok(())
}

fn put_blob(store: &Store, image: &str, digest: &Digest, data: &[u8]) -> Result<()> {
    store
        .ingest_blob(digest, Some(data.len() as u64), data)
        .map(|_| ())
        .map_err(|x| pull_err(image, crate::error::chain(&x)))
}

fn digest(image: &str, s: &str) -> Result<Digest> {
    Digest::parse(s).map_err(|x| pull_err(image, x))
}

/// `rootfs.diff_ids` of an image config, one per layer.
fn diff_ids(image: &str, config: &[u8], layers: usize) -> Result<Vec<Digest>> {
    let v: serde_json::Value = serde_json::from_slice(config)
        .map_err(|x| pull_err(image, format!("image config: {x}")))?;
    let ids: Vec<Digest> = v["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter().filter_map(|d| d.as_str()).filter_map(|d| Digest::parse(d).ok()).collect()
        })
        .unwrap_or_default();
    if ids.len() != layers {
        return Err(pull_err(
            image,
            format!("image config lists {} diff_ids for {layers} layers", ids.len()),
        ));
    }
    Ok(ids)
}
