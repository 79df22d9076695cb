//! Image records in SQLite (schema in `schema`): references, images, their layers, holders;
//! and reclamation.
//!
//! Content (blobs, snapshots) is referenced only through these tables: reclamation deletes
//! blobs and snapshots no image row mentions, under the exclusive gc lock.

use std::path::PathBuf;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::digest::{chain_ids, Digest};
use crate::store::{Store, StoreError};

/// Failures of the record operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A database statement failed.
    #[error("{op} in the image database")]
    Db {
        /// The operation (`store image`, `list images`, …).
        op: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored digest no longer parses (the database was edited by hand).
    #[error("corrupt digest {value:?} in the image database")]
    Corrupt {
        /// The stored text.
        value: String,
    },
    /// No image matches.
    #[error("no such image: {name}")]
    NotFound {
        /// The name or id asked for.
        name: String,
    },
    /// An id prefix matches several images.
    #[error("image id prefix {prefix} is ambiguous")]
    Ambiguous {
        /// The prefix.
        prefix: String,
    },
    /// `put_image` before all of the image's content is in the store.
    #[error("image {image} is missing {what} {digest}")]
    MissingContent {
        /// The image (manifest digest).
        image: Digest,
        /// `blob` or `snapshot`.
        what: &'static str,
        /// The missing digest (blob digest or chain id).
        digest: Digest,
    },
    /// Removal refused without force.
    #[error("image {image} is in use by {holders:?}")]
    InUse {
        /// The image.
        image: Digest,
        /// The holders (container ids).
        holders: Vec<String>,
    },
    /// Removal by id of an image with several references, refused without force (as docker).
    #[error("image {image} is referenced by {references:?}; remove them by name or use force")]
    MultipleReferences {
        /// The image.
        image: Digest,
        /// Its references.
        references: Vec<String>,
    },
    /// Locking for reclamation failed.
    #[error("lock the store for reclamation")]
    Lock {
        /// The store failure.
        #[source]
        source: StoreError,
    },
    /// Deleting unreferenced content failed.
    #[error("remove {path}")]
    Reclaim {
        /// The blob or snapshot.
        path: PathBuf,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
}

/// One layer of an image, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    /// Compressed blob digest.
    pub digest: Digest,
    /// Uncompressed tar digest (from the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Layer media type.
    pub media_type: String,
    /// Blob size.
    pub size: u64,
    /// Bytes of the unpacked layer as Docker counts a layer's diff (see
    /// [`crate::UnpackStats::unpacked_bytes`]); `None` when not recorded (an image stored
    /// by an older berth). [`Store::put_image`] takes it from the snapshot when not given.
    pub unpacked_size: Option<u64>,
}

/// What [`Store::put_image`] stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// A reference to point at this image (`registry/name:tag`), if any; moved from any
    /// image it pointed to before (that one may become dangling).
    pub reference: Option<String>,
    /// The manifest digest: the image id.
    pub manifest_digest: Digest,
    /// The manifest media type.
    pub manifest_media_type: String,
    /// The config blob digest.
    pub config_digest: Digest,
    /// `os/arch[/variant]`.
    pub platform: String,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// Size as the caller counts it (the engine passes its blobs' sum; what it shows is
    /// the layers' `unpacked_size`).
    pub size: u64,
}

/// A stored image as listed by [`Store::images`] and [`Store::lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The manifest digest (image id).
    pub id: Digest,
    /// The config digest.
    pub config_digest: Digest,
    /// The manifest media type.
    pub manifest_media_type: String,
    /// `os/arch[/variant]`.
    pub platform: String,
    /// As given to `put_image`.
    pub size: u64,
    /// When it was first stored, Unix seconds (not when it was made: see `config_created`).
    pub stored: i64,
    /// The config's `created` as written there (RFC 3339, unparsed), `None` when it has
    /// none or the config cannot be read.
    pub config_created: Option<String>,
    /// References pointing at it, sorted; empty for a dangling image.
    pub references: Vec<String>,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
}

impl ImageInfo {
    /// Chain ids of the layers, bottom first (the snapshot keys).
    pub fn chain_ids(&self) -> Vec<Digest> {
        chain_ids(&self.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>())
    }
}

/// Outcome of [`Store::remove`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// References removed.
    pub untagged: Vec<String>,
    /// Images deleted.
    pub deleted: Vec<Digest>,
    /// Content reclaimed afterwards.
    pub reclaimed: Reclaimed,
}

/// Outcome of [`Store::prune`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Dangling images deleted.
    pub deleted: Vec<Digest>,
    /// Content reclaimed.
    pub reclaimed: Reclaimed,
}

/// Content removed by a reclamation pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Blobs deleted.
    pub blobs: u64,
    /// Snapshots deleted.
    pub snapshots: u64,
    /// Blob bytes freed (snapshot sizes are not counted).
    pub blob_bytes: u64,
    /// True when an ingest or lease was active, so reclamation was left to a later prune.
    pub deferred: bool,
}

pub(crate) fn db_err(op: &'static str) -> impl Fn(rusqlite::Error) -> RecordError {
    move |source| RecordError::Db { op, source }
}

pub(crate) fn parse(value: String) -> Result<Digest, RecordError> {
    Digest::parse(&value).map_err(|_| RecordError::Corrupt { value })
}

/// The unpacked size another image's row has for the snapshot `chain_id`.
fn known_unpacked_size(db: &Connection, chain_id: &Digest) -> rusqlite::Result<Option<u64>> {
    db.query_row(
        "SELECT unpacked_size FROM layers WHERE chain_id = ?1 AND unpacked_size IS NOT NULL LIMIT 1",
        params![chain_id.to_string()],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|n| n.and_then(|n| u64::try_from(n).ok()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    pub(crate) fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.db.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records an image whose blobs (config, layers) and snapshots are all in the store, and
    /// points `record.reference` at it. The manifest blob is recorded too when present.
    pub fn put_image(&self, record: &ImageRecord) -> Result<ImageInfo, RecordError> {
        let id = &record.manifest_digest;
        let chains = self.check_content(record)?;
        let config_created = self.read_config_created(&record.config_digest);
        let unpacked: Vec<Option<u64>> = record
            .layers
            .iter()
            .zip(&chains)
            .map(|(l, chain)| l.unpacked_size.or_else(|| self.snapshot_unpacked_size(chain)))
            .collect();
        let mut db = self.db();
        let err = db_err("store image");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        let size = i64::try_from(record.size).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO images (id, config, media_type, platform, size, created, config_created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(id) DO UPDATE SET size = excluded.size,
                config_created = coalesce(excluded.config_created, config_created)",
            params![
                id.to_string(),
                record.config_digest.to_string(),
                record.manifest_media_type,
                record.platform,
                size,
                now(),
                config_created
            ],
        )
        .map_err(&err)?;
        tx.execute("DELETE FROM layers WHERE image = ?1", params![id.to_string()]).map_err(&err)?;
        for (pos, ((layer, chain), unpacked)) in
            record.layers.iter().zip(&chains).zip(unpacked).enumerate()
        {
            // A snapshot unpacked by an older berth has no size with it; another image's
            // row may have it (recorded by `record_unpacked_size`).
            let unpacked = match unpacked {
                Some(n) => Some(n),
                None => known_unpacked_size(&tx, chain).map_err(&err)?,
            };
            tx.execute(
                "INSERT INTO layers
                    (image, position, blob, diff_id, chain_id, media_type, size, unpacked_size)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id.to_string(),
                    i64::try_from(pos).unwrap_or(i64::MAX),
                    layer.digest.to_string(),
                    layer.diff_id.to_string(),
                    chain.to_string(),
                    layer.media_type,
                    i64::try_from(layer.size).unwrap_or(i64::MAX),
                    unpacked.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
                ],
            )
            .map_err(&err)?;
        }
        if let Some(name) = &record.reference {
            tx.execute(
                "INSERT INTO refs (name, image) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET image = excluded.image",
                params![name, id.to_string()],
            )
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        drop(db);
        self.info(id)
    }

    /// Every blob and snapshot of `record` is present; returns its chain ids.
    fn check_content(&self, record: &ImageRecord) -> Result<Vec<Digest>, RecordError> {
        let missing = |what, digest: &Digest| RecordError::MissingContent {
            image: record.manifest_digest.clone(),
            what,
            digest: digest.clone(),
        };
        if !self.has_blob(&record.config_digest) {
            return Err(missing("blob", &record.config_digest));
        }
        let diffs: Vec<Digest> = record.layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = chain_ids(&diffs);
        for (layer, chain) in record.layers.iter().zip(&chains) {
            if !self.has_blob(&layer.digest) {
                return Err(missing("blob", &layer.digest));
            }
            if self.snapshot(chain).is_none() {
                return Err(missing("snapshot", chain));
            }
        }
        Ok(chains)
    }

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<ImageInfo>, RecordError> {
        let ids: Vec<String> = {
            let db = self.db();
            let err = db_err("list images");
            let mut st =
                db.prepare("SELECT id FROM images ORDER BY created DESC, id").map_err(&err)?;
            let rows = st.query_map([], |r| r.get(0)).map_err(&err)?;
            rows.collect::<Result<_, _>>().map_err(&err)?
        };
        ids.into_iter().map(|id| self.info(&parse(id)?)).collect()
    }

    /// Finds an image by reference (exact), full digest (manifest or config), or a unique
    /// hex prefix of either (at least 4 digits).
    pub fn lookup(&self, name_or_id: &str) -> Result<ImageInfo, RecordError> {
        let db = self.db();
        let err = db_err("look up image");
        let by_ref: Option<String> = db
            .query_row("SELECT image FROM refs WHERE name = ?1", params![name_or_id], |r| r.get(0))
            .optional()
            .map_err(&err)?;
        if let Some(id) = by_ref {
            drop(db);
            return self.info(&parse(id)?);
        }
        let hex = name_or_id.split_once(':').map_or(name_or_id, |(_, h)| h);
        let is_hex = hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hex {
            return Err(RecordError::NotFound { name: name_or_id.to_owned() });
        }
        let pattern =
            if name_or_id.contains(':') { format!("{name_or_id}%") } else { format!("%:{hex}%") };
        let mut st = db
            .prepare("SELECT id FROM images WHERE id LIKE ?1 OR config LIKE ?1 LIMIT 2")
            .map_err(&err)?;
        let found: Vec<String> = st
            .query_map(params![pattern], |r| r.get(0))
            .map_err(&err)?
            .collect::<Result<_, _>>()
            .map_err(&err)?;
        drop(st);
        drop(db);
        match found.as_slice() {
            [] => Err(RecordError::NotFound { name: name_or_id.to_owned() }),
            [one] => self.info(&parse(one.clone())?),
            _ => Err(RecordError::Ambiguous { prefix: name_or_id.to_owned() }),
        }
    }

    fn info(&self, id: &Digest) -> Result<ImageInfo, RecordError> {
        let db = self.db();
        let err = db_err("read image");
        let row = db
            .query_row(
                "SELECT config, media_type, platform, size, created, config_created
                 FROM images WHERE id = ?1",
                params![id.to_string()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get::<_, i64>(3)?,
                        r.get(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(&err)?
            .ok_or_else(|| RecordError::NotFound { name: id.to_string() })?;
        let references: Vec<String> = db
            .prepare("SELECT name FROM refs WHERE image = ?1 ORDER BY name")
            .map_err(&err)?
            .query_map(params![id.to_string()], |r| r.get(0))
            .map_err(&err)?
            .collect::<Result<_, _>>()
            .map_err(&err)?;
        let mut st = db
            .prepare(
                "SELECT blob, diff_id, media_type, size, unpacked_size FROM layers
                 WHERE image = ?1 ORDER BY position",
            )
            .map_err(&err)?;
        let raw: Vec<(String, String, String, i64, Option<i64>)> = st
            .query_map(params![id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(&err)?
            .collect::<Result<_, _>>()
            .map_err(&err)?;
        let mut layers = Vec::with_capacity(raw.len());
        for (blob, diff, media_type, size, unpacked) in raw {
            let size = u64::try_from(size).unwrap_or(0);
            layers.push(LayerRecord {
                digest: parse(blob)?,
                diff_id: parse(diff)?,
                media_type,
                size,
                unpacked_size: unpacked.and_then(|n| u64::try_from(n).ok()),
            });
        }
        drop(st);
        drop(db);
        let config_digest = parse(row.0)?;
        // Recorded '' means the config has no `created`; NULL, an image stored before it was
        // recorded, whose config is read here each time (a few microseconds an image).
        let config_created = match row.5 {
            Some(c) => Some(c),
            None => self.read_config_created(&config_digest),
        }
        .filter(|c| !c.is_empty());
        Ok(ImageInfo {
            id: id.clone(),
            config_digest,
            manifest_media_type: row.1,
            platform: row.2,
            size: u64::try_from(row.3).unwrap_or(0),
            stored: row.4,
            config_created,
            references,
            layers,
        })
    }

    /// Records `bytes` as the unpacked size of the snapshot `chain_id` in every layer row
    /// that lacks it (images stored by an older berth), so that it is counted only once.
    pub fn record_unpacked_size(&self, chain_id: &Digest, bytes: u64) -> Result<(), RecordError> {
        self.db()
            .execute(
                "UPDATE layers SET unpacked_size = ?1
                 WHERE chain_id = ?2 AND unpacked_size IS NULL",
                params![i64::try_from(bytes).unwrap_or(i64::MAX), chain_id.to_string()],
            )
            .map(|_| ())
            .map_err(db_err("record unpacked size"))
    }

    /// The config's `created` string, `''` when it has none (or it is not a string);
    /// `None` when the config cannot be read or parsed, so that nothing is recorded for it.
    fn read_config_created(&self, config: &Digest) -> Option<String> {
        let bytes = std::fs::read(self.blob_path(config)).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        Some(v["created"].as_str().unwrap_or_default().to_owned())
    }

    /// Points `new_ref` at the image `src` names (replacing what `new_ref` pointed to).
    pub fn tag(&self, src: &str, new_ref: &str) -> Result<ImageInfo, RecordError> {
        let image = self.lookup(src)?;
        let db = self.db();
        db.execute(
            "INSERT INTO refs (name, image) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET image = excluded.image",
            params![new_ref, image.id.to_string()],
        )
        .map_err(db_err("tag image"))?;
        drop(db);
        self.info(&image.id)
    }
}
