//! The store directory: layout, per-process work dirs, file locks and crash cleanup.
//!
//! ```text
//! root/
//!   store.db                 SQLite: image records and references (see schema.rs)
//!   blobs/<alg>/<hex>        verified blobs, read-only
//!   snapshots/<hex>/fs       unpacked layers by chain id (overlay lower dirs)
//!   locks/<alg>-<hex>        flock files, one per digest being ingested (never removed)
//!   gc.lock                  shared by ingests and leases, exclusive for reclamation
//!   tmp/<work>/              one private dir per open Store, flock-held while it lives
//! ```
//! Everything is written under `tmp/<work>/` and renamed into place only after it verified,
//! so a process killed at any point leaves nothing visible; the next [`Store::open`] removes
//! work dirs whose flock is free (their owner is gone).

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rustix::fs::{self as rfs, FlockOperation, Mode, OFlags};

use crate::digest::Digest;

/// Failures opening or locking the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A store directory could not be created.
    #[error("create store directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
    /// A lock file could not be opened or locked.
    #[error("lock {path}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
    /// Removing a dead process's leftovers failed.
    #[error("clean up stale work directory {path}")]
    Sweep {
        /// The leftover directory.
        path: PathBuf,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
    /// The SQLite database could not be opened or migrated.
    #[error("open the image database {path}")]
    OpenDb {
        /// store.db.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
}

/// Options for [`Store::open_with`].
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// `syncfs` each snapshot before it becomes visible (survives power loss, costs time on
    /// disks). Blobs are always fsynced. Off by default, like containerd and podman: a kill -9
    /// never loses written data, only a power cut does.
    pub sync_snapshots: bool,
    /// With [`StoreOptions::inflate_floor`], how far a layer may expand: see
    /// [`StoreOptions::inflate_limit`]. Default 200 (text inflates 3–10×; gzip tops out near
    /// 1,032×, zstd and GNU sparse entries have no ceiling at all).
    pub inflate_ratio: u64,
    /// The limit for small layers, whatever their ratio. Default 1 GiB.
    pub inflate_floor: u64,
    /// Called with the name of each [`Checkpoint`] a layer ingest passes. The engine's
    /// kill -9 tests die there (`BERTH_ENGINE_FAULT`), to prove that a process killed
    /// between two steps leaves nothing visible; `None` by default.
    pub checkpoint: Option<fn(Checkpoint)>,
}

/// The instants of a layer ingest between two durable steps, where a crash is most likely
/// to leave something half done; see [`StoreOptions::checkpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// The blob and its unpacked tree verified (digest, size, diff id) in the work dir;
    /// neither is in place yet. Unpack streams with the download, so this is also the end
    /// of the unpack.
    LayerVerified,
    /// The blob was renamed into `blobs/`; the snapshot is still in the work dir.
    LayerBlobPublished,
}

impl Checkpoint {
    /// A stable name for the checkpoint (`layer-verified`, `layer-blob-published`).
    pub fn name(self) -> &'static str {
        match self {
            Checkpoint::LayerVerified => "layer-verified",
            Checkpoint::LayerBlobPublished => "layer-blob-published",
        }
    }
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            sync_snapshots: false,
            inflate_ratio: 200,
            inflate_floor: 1 << 30,
            checkpoint: None,
        }
    }
}

impl StoreOptions {
    /// The most a layer of `blob_size` compressed bytes may expand to:
    /// `max(inflate_floor, inflate_ratio × blob_size)`. Both its tar stream and the sum of its
    /// files' sizes (sparse holes included) are held to it, so a decompression bomb or a
    /// sparse file claiming terabytes is refused instead of filling the disk.
    pub fn inflate_limit(&self, blob_size: u64) -> u64 {
        self.inflate_floor.max(self.inflate_ratio.saturating_mul(blob_size))
    }
}

/// A content-addressed image store rooted at one directory; shareable across threads
/// (`&Store` is enough to ingest several layers in parallel) and processes.
#[derive(Debug)]
pub struct Store {
    pub(crate) root: PathBuf,
    pub(crate) options: StoreOptions,
    /// Written under the mutex by record operations; SQLite's own locking covers other processes.
    pub(crate) db: Mutex<rusqlite::Connection>,
    /// This process's private work dir under tmp/, flock-held by `_work_lock` until drop.
    pub(crate) work: PathBuf,
    _work_lock: OwnedFd,
    /// Source of unique names inside `work`.
    counter: AtomicU64,
}

/// A held flock; released on drop.
#[derive(Debug)]
pub struct Lock {
    _fd: OwnedFd,
}

/// Holds off reclamation (`remove`/`prune`) while a pull is between its ingests and
/// [`Store::put_image`]. Obtained from [`Store::lease`].
#[derive(Debug)]
pub struct Lease {
    _lock: Lock,
}

impl Store {
    /// Opens (creating if needed) the store at `root` with default options.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Store::open_with(root, StoreOptions::default())
    }

    /// Opens the store at `root`, cleaning the leftovers of dead processes under `tmp/`.
    pub fn open_with(root: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        for sub in ["blobs/sha256", "blobs/sha512", "snapshots", "locks", "tmp"] {
            let path = root.join(sub);
            fs::create_dir_all(&path).map_err(|source| StoreError::CreateDir { path, source })?;
        }
        let tmp = root.join("tmp");
        sweep(&tmp)?;
        let (work, work_lock) = create_work(&tmp)?;
        let db_path = root.join("store.db");
        let db = crate::schema::open_db(&db_path)
            .map_err(|source| StoreError::OpenDb { path: db_path, source })?;
        Ok(Store {
            root: root.to_owned(),
            options,
            db: Mutex::new(db),
            work,
            _work_lock: work_lock,
            counter: AtomicU64::new(0),
        })
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join(digest.algorithm().name()).join(digest.hex())
    }

    /// True when the blob is in the store (it verified when it was ingested).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Tells [`StoreOptions::checkpoint`] that `step` was reached.
    pub(crate) fn checkpoint(&self, step: Checkpoint) {
        if let Some(f) = self.options.checkpoint {
            f(step);
        }
    }

    pub(crate) fn snapshot_dir(&self, chain_id: &Digest) -> PathBuf {
        self.root.join("snapshots").join(chain_id.hex())
    }

    /// This process's private work dir under `tmp/`, for a caller's scratch files: its
    /// flock keeps other processes' sweeps off it while this `Store` is open (a sweep
    /// removes plain files and unlocked dirs directly under `tmp/`), and once the process
    /// is gone the next sweep removes it.
    pub fn scratch_dir(&self) -> &Path {
        &self.work
    }

    /// A fresh unique path inside this process's work dir.
    pub(crate) fn work_item(&self, what: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.work.join(format!("{what}-{n}"))
    }

    /// Exclusive per-digest lock (ingest of that blob or snapshot), blocking.
    pub(crate) fn lock_digest(&self, kind: &str, digest: &Digest) -> Result<Lock, StoreError> {
        let name = format!("{kind}-{}-{}", digest.algorithm().name(), digest.hex());
        lock_file(&self.root.join("locks").join(name), FlockOperation::LockExclusive)
    }

    /// The shared side of gc.lock: taken by every ingest and by [`Lease`]s.
    pub(crate) fn gc_shared(&self) -> Result<Lock, StoreError> {
        lock_file(&self.root.join("gc.lock"), FlockOperation::LockShared)
    }

    /// The exclusive side of gc.lock, without waiting: `None` while any ingest or lease runs.
    pub(crate) fn gc_exclusive(&self) -> Result<Option<Lock>, StoreError> {
        let path = self.root.join("gc.lock");
        match lock_file(&path, FlockOperation::NonBlockingLockExclusive) {
            Ok(l) => Ok(Some(l)),
            Err(StoreError::Lock { source, .. })
                if source.kind() == std::io::ErrorKind::WouldBlock =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Keeps blobs and snapshots ingested by this process safe from reclamation until the
    /// lease drops; hold one from the first ingest of a pull until [`Store::put_image`].
    pub fn lease(&self) -> Result<Lease, StoreError> {
        Ok(Lease { _lock: self.gc_shared()? })
    }
}

fn lock_file(path: &Path, op: FlockOperation) -> Result<Lock, StoreError> {
    let err = |e: rustix::io::Errno| StoreError::Lock { path: path.to_owned(), source: e.into() };
    let fd = rfs::open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(err)?;
    rfs::flock(&fd, op).map_err(err)?;
    Ok(Lock { _fd: fd })
}

/// Makes `tmp/<pid>-<n>/` and holds an exclusive flock on it.
///
/// A concurrent [`sweep`] may lock and delete the new dir before we open or lock it; so an
/// open that finds it gone, or a lock whose name no longer refers to our inode, retries.
fn create_work(tmp: &Path) -> Result<(PathBuf, OwnedFd), StoreError> {
    let pid = std::process::id();
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = tmp.join(format!("{pid}-{nanos}-{attempt}"));
        let err = |e: std::io::Error| StoreError::CreateDir { path: path.clone(), source: e };
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(err(e)),
        }
        let fd = match rfs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            // Swept before we could even open it: make another.
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(err(e.into())),
        };
        if rfs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue;
        }
        let ours = rfs::fstat(&fd).map_err(|e| err(e.into()))?;
        match rfs::stat(&path) {
            Ok(st) if st.st_ino == ours.st_ino && st.st_dev == ours.st_dev => {
                return Ok((path, fd))
            }
            _ => continue,
        }
    }
}

/// Removes the work dirs of processes that are gone (their flock is free).
fn sweep(tmp: &Path) -> Result<(), StoreError> {
    let entries =
        fs::read_dir(tmp).map_err(|source| StoreError::Sweep { path: tmp.to_owned(), source })?;
    for entry in entries.flatten() {
        let path = entry.path();
        let dir_fd = rfs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        );
        let Ok(fd) = dir_fd else {
            // Not a directory: nothing of ours is a plain file at this level.
            let _ = fs::remove_file(&path);
            continue;
        };
        if rfs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_ok() {
            tracing::debug!(?path, "removing a dead process's work dir");
            remove_tree(&path)
                .map_err(|source| StoreError::Sweep { path: path.clone(), source })?;
        }
    }
    Ok(())
}

/// `rm -r` that stays on one filesystem's terms: std's remove_dir_all never follows symlinks.
pub(crate) fn remove_tree(path: &Path) -> std::io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
