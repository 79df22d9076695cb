//! berth's content-addressed image store: verified blobs, layers unpacked once into overlay
//! snapshots keyed by chain id, and image records in SQLite.
//!
//! # Layout
//! - [`digest`](crate::Digest): `sha256:`/`sha512:` digests, the streaming [`Digester`],
//!   [`chain_ids`].
//! - `store`: [`Store::open`], the directory layout, per-digest locks, crash cleanup.
//! - `ingest`: [`Store::ingest_blob`] and [`Store::ingest_layer`] (one pass: hash, store,
//!   inflate, hash, unpack), [`Snapshot`].
//!   `pipeline` holds the streaming loop and the channel to the unpack thread.
//! - `unpack`: tar → overlayfs form with fd-relative, symlink-proof path resolution
//!   (`plan` decides, `fsops` and `entry` apply).
//! - [`layer_writer`]: a directory tree as a tar stream (`export`), or an overlay upper
//!   directory as an OCI layer (`commit`: whiteouts become `.wh.` entries).
//! - `schema`: the SQLite tables. `records`: [`Store::put_image`], [`Store::images`],
//!   [`Store::lookup`], [`Store::tag`].
//! - `gc`: [`Store::hold`]/[`Store::release`], [`Store::remove`], [`Store::prune`],
//!   [`Store::reclaim`], [`Store::rootfs_for`].
//!
//! Synchronous by design: the engine runs ingests on blocking threads, one per layer.
//!
//! ```no_run
//! use berth_image::{chain_ids, Digest, LayerDesc, Store};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::open(std::path::Path::new("/var/lib/berth/images"))?;
//! let _lease = store.lease()?;
//! let desc = LayerDesc {
//!     digest: Digest::parse("sha256:64e4170b31f239e9406b8b2649c050770e77d09bd8a9cdb6ad422b6138ab94f1")?,
//!     size: 1038258,
//!     media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
//! };
//! let diff_id = Digest::parse("sha256:5b824d01b3e4b74717a05ee8c0e38c4d68627b698638d03881d2a43100555e9f")?;
//! let chain = &chain_ids(std::slice::from_ref(&diff_id))[0];
//! let snapshot = store.ingest_layer(&desc, &diff_id, chain, std::fs::File::open("layer.tar.gz")?)?;
//! println!("unpacked into {}", snapshot.path.display());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod digest;
mod gc;
mod ingest;
pub mod layer_writer;
mod pipeline;
mod records;
mod schema;
mod store;
mod unpack;

pub use digest::{chain_ids, Algorithm, Digest, DigestError, Digester};
pub use ingest::{Compression, IngestError, LayerDesc, Snapshot};
pub use records::{ImageInfo, ImageRecord, LayerRecord, Pruned, Reclaimed, RecordError, Removed};
pub use store::{Checkpoint, Lease, Lock, Store, StoreError, StoreOptions};
pub use unpack::{UnpackError, UnpackStats};
