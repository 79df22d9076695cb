//! Verified ingest of blobs and layers: one streaming pass, nothing visible until it verified.
//!
//! A layer is read once. The calling thread hashes the compressed bytes, writes them to the
//! blob's temp file, inflates them and hashes the tar stream (the diff id); a scoped thread
//! unpacks that tar stream from a bounded channel. So inflate and file creation run on two
//! cores, as `tar -xzf` runs tar and gzip.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use crate::digest::{Digest, Digester};
use crate::pipeline::{pump, ChannelReader, TarSink, CHUNK};
use crate::store::{remove_tree, Checkpoint, Store, StoreError};
use crate::unpack::{self, UnpackError, UnpackStats};

/// Chunks in flight between the inflate and unpack threads (bounded memory: 4 MiB).
const IN_FLIGHT: usize = 16;
/// The file next to a snapshot's `fs` holding its unpacked size (decimal bytes, see
/// [`UnpackStats::unpacked_bytes`]): written in the work dir, so it appears with the
/// snapshot and goes with it. Snapshots unpacked by an older berth have none.
const UNPACKED_SIZE: &str = "unpacked-size";
/// How far the inflated stream may run past the layer's file-size limit: more than the
/// chunks in flight plus the one being filled, so the unpacker always hits its limit first.
const STREAM_SLACK: u64 = ((IN_FLIGHT + 2) * CHUNK) as u64;

/// A layer as a manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDesc {
    /// Digest of the (compressed) blob.
    pub digest: Digest,
    /// Size of the blob in bytes.
    pub size: u64,
    /// Layer media type; chooses the decompressor (see [`Compression::from_media_type`]).
    pub media_type: String,
}

/// An unpacked layer stack prefix, keyed by its chain id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The chain id (OCI image-spec) naming the snapshot.
    pub chain_id: Digest,
    /// The unpacked layer in overlay form (`snapshots/<hex>/fs`), a lower dir for overlayfs.
    pub path: PathBuf,
}

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (one or more members).
    Gzip,
    /// zstd (one or more frames).
    Zstd,
}

impl Compression {
    /// From an OCI or Docker layer media type; `None` for types that are not layers we can
    /// unpack (encrypted layers, artifacts).
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        let m = media_type;
        if m.ends_with("+gzip") || m.ends_with(".tar.gzip") {
            Some(Compression::Gzip)
        } else if m.ends_with("+zstd") {
            Some(Compression::Zstd)
        } else if m.ends_with(".tar") || m.ends_with(".diff.tar") {
            Some(Compression::None)
        } else {
            None
        }
    }
}

/// Failures of [`Store::ingest_blob`] and [`Store::ingest_layer`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Locking or store layout failure.
    #[error("prepare the store for {digest}")]
    Store {
        /// The blob or layer being ingested.
        digest: Digest,
        /// The store failure.
        #[source]
        source: StoreError,
    },
    /// Reading the source stream failed.
    #[error("read blob {digest}")]
    Read {
        /// The blob.
        digest: Digest,
        /// The errno or transport failure.
        #[source]
        source: io::Error,
    },
    /// Writing or renaming a temp file failed (disk full lands here).
    #[error("write {path} for {digest}")]
    Write {
        /// The blob or layer.
        digest: Digest,
        /// The file or directory written.
        path: PathBuf,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The stream is longer or shorter than the descriptor says.
    #[error("blob {digest} has {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// Descriptor size.
        expected: u64,
        /// Bytes read (a lower bound when too long: reading stops past `expected`).
        actual: u64,
    },
    /// The content does not hash to the expected digest.
    #[error("blob content hashes to {actual}, expected {expected}")]
    DigestMismatch {
        /// The expected digest.
        expected: Digest,
        /// The digest of what was read.
        actual: Digest,
    },
    /// The uncompressed tar does not match the config's diff id.
    #[error("layer {layer} uncompresses to {actual}, expected diff id {expected}")]
    DiffIdMismatch {
        /// The layer blob.
        layer: Digest,
        /// The diff id from the image config.
        expected: Digest,
        /// The digest of the uncompressed stream.
        actual: Digest,
    },
    /// The media type names no compression we know.
    #[error("layer {layer} has unsupported media type {media_type:?}")]
    UnsupportedMediaType {
        /// The layer blob.
        layer: Digest,
        /// The media type.
        media_type: String,
    },
    /// Decompression failed (corrupt stream).
    #[error("decompress layer {layer}")]
    Decompress {
        /// The layer blob.
        layer: Digest,
        /// The decoder error.
        #[source]
        source: io::Error,
    },
    /// The layer inflates past [`crate::StoreOptions::inflate_limit`] (a decompression bomb).
    #[error("layer {layer} inflates past {limit} bytes; refusing it as a decompression bomb")]
    InflateLimit {
        /// The layer blob.
        layer: Digest,
        /// The limit for this layer's blob size.
        limit: u64,
    },
    /// Unpacking the tar failed or was refused.
    #[error("unpack layer {layer}")]
    Unpack {
        /// The layer blob.
        layer: Digest,
        /// What happened, naming the entry.
        #[source]
        source: UnpackError,
    },
}

impl Store {
    /// Streams `reader` into the store under `expected`, verifying digest (and `size` when
    /// given) while streaming. An existing blob is reused without reading. Returns the path.
    pub fn ingest_blob(
        &self,
        expected: &Digest,
        size: Option<u64>,
        reader: impl Read,
    ) -> Result<PathBuf, IngestError> {
        let store_err = |source| IngestError::Store { digest: expected.clone(), source };
        let _gc = self.gc_shared().map_err(store_err)?;
        let _lock = self.lock_digest("blob", expected).map_err(store_err)?;
        self.ingest_blob_locked(expected, size, reader)
    }

    fn ingest_blob_locked(
        &self,
        expected: &Digest,
        size: Option<u64>,
        mut reader: impl Read,
    ) -> Result<PathBuf, IngestError> {
        let dest = self.blob_path(expected);
        if dest.is_file() {
            return Ok(dest);
        }
        let tmp = self.work_item("blob");
        let werr = |path: &Path, source| IngestError::Write {
            digest: expected.clone(),
            path: path.to_owned(),
            source,
        };
        let mut file = File::create(&tmp).map_err(|e| werr(&tmp, e))?;
        let mut digester = Digester::new(expected.algorithm());
        let mut buf = vec![0u8; CHUNK];
        let result = (|| {
            loop {
                let n = read_some(&mut reader, &mut buf, expected)?;
                if n == 0 {
                    break;
                }
                digester.update(&buf[..n]);
                check_not_too_long(expected, size, digester.len())?;
                file.write_all(&buf[..n]).map_err(|e| werr(&tmp, e))?;
            }
            verify(expected, size, digester)
        })();
        if let Err(e) = result {
            drop(file);
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        self.publish_blob(expected, &file, &tmp, Synced::No)
    }

    /// fsync (unless done), make read-only and rename a verified temp blob into place. A blob
    /// is durable before its name appears: a present blob is trusted without reading it.
    fn publish_blob(
        &self,
        digest: &Digest,
        file: &File,
        tmp: &Path,
        synced: Synced,
    ) -> Result<PathBuf, IngestError> {
        let dest = self.blob_path(digest);
        let werr = |path: &Path, source| IngestError::Write {
            digest: digest.clone(),
            path: path.to_owned(),
            source,
        };
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o444)).map_err(|e| werr(tmp, e))?;
        if synced == Synced::No {
            file.sync_all().map_err(|e| werr(tmp, e))?;
        }
        std::fs::rename(tmp, &dest).map_err(|e| werr(&dest, e))?;
        Ok(dest)
    }

    /// The snapshot for `chain_id`, if it was unpacked.
    pub fn snapshot(&self, chain_id: &Digest) -> Option<Snapshot> {
        let path = self.snapshot_dir(chain_id).join("fs");
        path.is_dir().then(|| Snapshot { chain_id: chain_id.clone(), path })
    }

    /// The unpacked size recorded with the snapshot `chain_id` when it was unpacked; `None`
    /// for a snapshot an older berth unpacked (or none at all).
    pub fn snapshot_unpacked_size(&self, chain_id: &Digest) -> Option<u64> {
        let text = std::fs::read_to_string(self.snapshot_dir(chain_id).join(UNPACKED_SIZE)).ok()?;
        text.trim().parse().ok()
    }

    /// Ingests one layer in a single pass over `reader` (the compressed blob): stores the
    /// blob, verifies its digest, size and `diff_id`, and unpacks it in overlay form into the
    /// snapshot `chain_id`. Blob and snapshot appear only after everything verified; an
    /// existing snapshot is reused (reading only what is needed to store a missing blob).
    pub fn ingest_layer(
        &self,
        desc: &LayerDesc,
        diff_id: &Digest,
        chain_id: &Digest,
        reader: impl Read,
    ) -> Result<Snapshot, IngestError> {
        let layer = &desc.digest;
        let store_err = |source| IngestError::Store { digest: layer.clone(), source };
        let compression = Compression::from_media_type(&desc.media_type).ok_or_else(|| {
            IngestError::UnsupportedMediaType {
                layer: layer.clone(),
                media_type: desc.media_type.clone(),
            }
        })?;
        let _gc = self.gc_shared().map_err(store_err)?;
        // Lock order everywhere: blob, then snapshot; no one waits for a blob holding a snapshot.
        let _blob = self.lock_digest("blob", layer).map_err(store_err)?;
        let _snap = self.lock_digest("snapshot", chain_id).map_err(store_err)?;
        let has_blob = self.has_blob(layer);
        if let Some(snap) = self.snapshot(chain_id) {
            if !has_blob {
                self.ingest_blob_locked(layer, Some(desc.size), reader)?;
            }
            return Ok(snap);
        }
        let work = self.work_item("layer");
        let result = self.unpack_into(&work, desc, compression, diff_id, has_blob, reader);
        let published = result.and_then(|blob| self.publish_layer(desc, chain_id, &work, blob));
        let _ = remove_tree(&work);
        published
    }

    fn unpack_into(
        &self,
        work: &Path,
        desc: &LayerDesc,
        compression: Compression,
        diff_id: &Digest,
        has_blob: bool,
        reader: impl Read,
    ) -> Result<Option<(File, PathBuf)>, IngestError> {
        let layer = &desc.digest;
        let werr = |path: &Path, source| IngestError::Write {
            digest: layer.clone(),
            path: path.to_owned(),
            source,
        };
        let fs_dir = work.join("fs");
        std::fs::create_dir_all(&fs_dir).map_err(|e| werr(&fs_dir, e))?;
        let blob_tmp = work.join("blob");
        let mut blob = if has_blob {
            None
        } else {
            Some(File::create(&blob_tmp).map_err(|e| werr(&blob_tmp, e))?)
        };
        let (tx, rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let limit = self.options.inflate_limit(desc.size);
        let opts = unpack::Options { max_file_bytes: limit, ..unpack::Options::detect() };
        // The stream may run a little past the file limit (tar headers, and the chunks in
        // flight), so that a bomb made of file content is refused by the unpacker, which
        // names the entry, rather than here.
        let sink = TarSink::new(diff_id, tx, limit.saturating_add(limit / 8 + STREAM_SLACK));
        let (pumped, unpacked) = std::thread::scope(|s| {
            let unpacker = s.spawn(|| unpack::unpack(layer, &fs_dir, ChannelReader::new(rx), opts));
            let pumped = pump(reader, desc, compression, blob.as_mut(), &blob_tmp, sink);
            // The whole blob is written: its fsync overlaps the unpacker's last chunks (up to
            // IN_FLIGHT of them), instead of following them. Still unverified, it stays in the
            // work dir until `publish_layer`.
            let pumped = pumped.and_then(|p| match &blob {
                Some(f) => f.sync_all().map(|()| p).map_err(|e| werr(&blob_tmp, e)),
                None => Ok(p),
            });
            (pumped, unpacker.join())
        });
        let unpacked = joined(layer, unpacked);
        if matches!(pumped, Err(IngestError::InflateLimit { .. })) {
            // The unpacker stopped first and says which entry: that is the better error.
            if let Err(e @ IngestError::Unpack { source: UnpackError::TooLarge { .. }, .. }) =
                unpacked
            {
                return Err(e);
            }
        }
        let (compressed, diff) = pumped?;
        verify(layer, Some(desc.size), compressed)?;
        let actual = diff.finish();
        if &actual != diff_id {
            return Err(IngestError::DiffIdMismatch {
                layer: layer.clone(),
                expected: diff_id.clone(),
                actual,
            });
        }
        let stats: UnpackStats = unpacked?;
        tracing::debug!(%layer, entries = stats.entries, bytes = stats.file_bytes, "layer unpacked");
        let size_file = work.join(UNPACKED_SIZE);
        std::fs::write(&size_file, stats.unpacked_bytes.to_string())
            .map_err(|e| werr(&size_file, e))?;
        Ok(blob.map(|f| (f, blob_tmp)))
    }

    fn publish_layer(
        &self,
        desc: &LayerDesc,
        chain_id: &Digest,
        work: &Path,
        blob: Option<(File, PathBuf)>,
    ) -> Result<Snapshot, IngestError> {
        let layer = &desc.digest;
        let werr = |path: &Path, source| IngestError::Write {
            digest: layer.clone(),
            path: path.to_owned(),
            source,
        };
        self.checkpoint(Checkpoint::LayerVerified);
        if let Some((file, tmp)) = blob {
            self.publish_blob(layer, &file, &tmp, Synced::Already)?;
        }
        self.checkpoint(Checkpoint::LayerBlobPublished);
        if self.options.sync_snapshots {
            let dir = File::open(work).map_err(|e| werr(work, e))?;
            rustix::fs::syncfs(&dir).map_err(|e| werr(work, e.into()))?;
        }
        let dest = self.snapshot_dir(chain_id);
        let _ = std::fs::remove_file(work.join("blob"));
        std::fs::rename(work, &dest).map_err(|e| werr(&dest, e))?;
        Ok(Snapshot { chain_id: chain_id.clone(), path: dest.join("fs") })
    }
}

/// Whether a temp blob's content was already fsynced when it is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Synced {
    Already,
    No,
}

/// The unpack thread's result; a panic there is resumed here.
fn joined(
    layer: &Digest,
    unpacked: std::thread::Result<Result<UnpackStats, UnpackError>>,
) -> Result<UnpackStats, IngestError> {
    match unpacked {
        Ok(r) => r.map_err(|source| IngestError::Unpack { layer: layer.clone(), source }),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

pub(crate) fn read_some(
    reader: &mut impl Read,
    buf: &mut [u8],
    digest: &Digest,
) -> Result<usize, IngestError> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => {
                return other.map_err(|source| IngestError::Read { digest: digest.clone(), source })
            }
        }
    }
}

pub(crate) fn check_not_too_long(
    digest: &Digest,
    size: Option<u64>,
    read: u64,
) -> Result<(), IngestError> {
    match size {
        Some(expected) if read > expected => {
            Err(IngestError::SizeMismatch { digest: digest.clone(), expected, actual: read })
        }
        _ => Ok(()),
    }
}

pub(crate) fn verify(
    expected: &Digest,
    size: Option<u64>,
    digester: Digester,
) -> Result<(), IngestError> {
    let len = digester.len();
    if let Some(want) = size.filter(|want| *want != len) {
        return Err(IngestError::SizeMismatch {
            digest: expected.clone(),
            expected: want,
            actual: len,
        });
    }
    let actual = digester.finish();
    if &actual != expected {
        return Err(IngestError::DigestMismatch { expected: expected.clone(), actual });
    }
    Ok(())
}
