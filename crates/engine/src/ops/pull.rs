//! `berth pull`: resolve the manifest for this platform, fetch the config, then stream every
//! layer from the registry straight into the store (hash, inflate, unpack in one pass),
//! layers in parallel; record the image last, so a failed or killed pull leaves no image.

use berth_image::{chain_ids, Digest, ImageInfo, ImageRecord, LayerDesc, LayerRecord, Store};
use berth_registry::{Client, ClientConfig, Platform, Reference};

use super::Engine;
use crate::error::{Error, Result};

/// Options of `pull`.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `--platform os/arch[/variant]`; the host's by default.
    pub platform: Option<String>,
    /// `--tls-verify=false`.
    pub insecure_tls: bool,
}

/// One step of a pull, for progress output.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The manifest was resolved.
    Resolved {
        /// Manifest digest.
        digest: String,
        /// Number of layers.
        layers: usize,
    },
    /// A layer is already in the store.
    LayerExists(String),
    /// A layer was downloaded and unpacked.
    LayerDone(String),
}

fn pull_err(image: &str, e: impl std::fmt::Display) -> Error {
    Error::Pull { image: image.to_string(), message: e.to_string() }
}

/// The image store of this engine.
pub fn store(e: &Engine) -> Result<Store> {
    Store::open(&e.paths.data.join("images"))
        .map_err(|x| pull_err("(store)", crate::error::chain(&x)))
}

/// The registry client: Docker's rules (loopback registries over plain http), the
/// certs.d directory and the auth files.
pub fn client(reference: &Reference, o: &PullOptions) -> Client {
    let mut insecure: Vec<String> = std::env::var("BERTH_INSECURE_REGISTRIES")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let host = reference.registry().to_string();
    if host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]") {
        insecure.push(host);
    }
    Client::new(ClientConfig {
        insecure,
        tls_verify: !o.insecure_tls,
        certs_dir: "/etc/berth/certs.d".into(),
        auth_files: berth_registry::auth::default_auth_files(),
        ..ClientConfig::default()
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
    let client = client(&reference, o);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|x| pull_err(image, x))?;
    let resolved = rt
        .block_on(client.resolve(&reference, &platform))
        .map_err(|x| pull_err(image, crate::error::chain(&x)))?;
    progress(Progress::Resolved {
        digest: resolved.manifest_digest.to_string(),
        layers: resolved.layers.len(),
    });
    let config = rt
        .block_on(client.fetch_blob_bytes(&reference, &resolved.config))
        .map_err(|x| pull_err(image, crate::error::chain(&x)))?;
    let config_digest = digest(image, resolved.config.digest().as_ref())?;
    let _lease = store.lease().map_err(|x| pull_err(image, crate::error::chain(&x)))?;
    store
        .ingest_blob(&config_digest, Some(config.len() as u64), &config[..])
        .map_err(|x| pull_err(image, crate::error::chain(&x)))?;
    let diff_ids = diff_ids(image, &config, resolved.layers.len())?;
    let chains = chain_ids(&diff_ids);
    let mut layers = Vec::new();
    for (desc, diff_id) in resolved.layers.iter().zip(&diff_ids) {
        layers.push(LayerRecord {
            digest: digest(image, desc.digest().as_ref())?,
            diff_id: diff_id.clone(),
            media_type: desc.media_type().to_string(),
            size: desc.size(),
        });
    }
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = layers
            .iter()
            .zip(&resolved.layers)
            .zip(&chains)
            .map(|((l, desc), chain)| {
                let (store, client, rt, reference) = (&store, &client, &rt, &reference);
                s.spawn(move || -> Result<bool> {
                    if store.snapshot(chain).is_some() && store.has_blob(&l.digest) {
                        return Ok(false);
                    }
                    let blob = rt
                        .block_on(client.fetch_blob(reference, desc))
                        .map_err(|x| pull_err(image, crate::error::chain(&x)))?;
                    let d = LayerDesc {
                        digest: l.digest.clone(),
                        size: l.size,
                        media_type: l.media_type.clone(),
                    };
                    store
                        .ingest_layer(&d, &l.diff_id, chain, blob.into_reader())
                        .map_err(|x| pull_err(image, crate::error::chain(&x)))?;
                    Ok(true)
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(&layers)
            .map(|(h, l)| {
                let fresh = h.join().map_err(|_| pull_err(image, "a layer thread panicked"))??;
                let short = l.digest.to_string().chars().skip(7).take(12).collect();
                progress(if fresh {
                    Progress::LayerDone(short)
                } else {
                    Progress::LayerExists(short)
                });
                Ok(())
            })
            .collect()
    });
    results.into_iter().collect::<Result<Vec<()>>>()?;
    let size = layers.iter().map(|l| l.size).sum();
    let record = ImageRecord {
        reference: Some(reference.to_string()),
        manifest_digest: digest(image, resolved.manifest_digest.as_ref())?,
        manifest_media_type: resolved.media_type.clone(),
        config_digest,
        platform: resolved.platform.as_ref().unwrap_or(&platform).to_string(),
        layers,
        size,
    };
    store.put_image(&record).map_err(|x| pull_err(image, crate::error::chain(&x)))
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
