//! Holds, removal, pruning and reclamation of unreferenced blobs and snapshots.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::{params, TransactionBehavior};

use crate::records::{db_err, parse, ImageInfo, Pruned, Reclaimed, RecordError, Removed};
use crate::store::{remove_tree, Store};
use crate::Digest;

impl Store {
    /// Marks `image` as used by `holder` (a container id): [`Store::remove`] then refuses it
    /// without force, and [`Store::prune`] keeps it.
    pub fn hold(&self, image: &Digest, holder: &str) -> Result<(), RecordError> {
        self.db()
            .execute(
                "INSERT OR IGNORE INTO holds (image, holder) VALUES (?1, ?2)",
                params![image.to_string(), holder],
            )
            .map_err(db_err("hold image"))
            .map(|_| ())
    }

    /// Drops every hold of `holder`.
    pub fn release(&self, holder: &str) -> Result<(), RecordError> {
        self.db()
            .execute("DELETE FROM holds WHERE holder = ?1", params![holder])
            .map_err(db_err("release image"))
            .map(|_| ())
    }

    fn holders(&self, image: &Digest) -> Result<Vec<String>, RecordError> {
        let db = self.db();
        let err = db_err("read holders");
        let mut st = db
            .prepare("SELECT holder FROM holds WHERE image = ?1 ORDER BY holder")
            .map_err(&err)?;
        let out = st
            .query_map(params![image.to_string()], |r| r.get(0))
            .map_err(&err)?
            .collect::<Result<_, _>>()
            .map_err(&err)?;
        Ok(out)
    }

    /// `rmi`: by reference, removes that reference and deletes the image when it was the last
    /// one; by id, deletes the image (several references or holders need `force`). A held
    /// image is only untagged, even with force. Reclaims content nothing references.
    pub fn remove(&self, name_or_id: &str, force: bool) -> Result<Removed, RecordError> {
        let image = self.lookup(name_or_id)?;
        let by_ref = image.references.iter().any(|r| r == name_or_id);
        let holders = self.holders(&image.id)?;
        let mut out = Removed::default();
        let untag: Vec<String> = if by_ref {
            vec![name_or_id.to_owned()]
        } else if image.references.len() > 1 && !force {
            return Err(RecordError::MultipleReferences {
                image: image.id,
                references: image.references,
            });
        } else {
            image.references.clone()
        };
        let last = untag.len() == image.references.len();
        if last && !holders.is_empty() && !force {
            return Err(RecordError::InUse { image: image.id, holders });
        }
        let mut db = self.db();
        let err = db_err("remove image");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        for r in &untag {
            tx.execute("DELETE FROM refs WHERE name = ?1", params![r]).map_err(&err)?;
        }
        if last && holders.is_empty() {
            tx.execute("DELETE FROM images WHERE id = ?1", params![image.id.to_string()])
                .map_err(&err)?;
            out.deleted.push(image.id.clone());
        }
        tx.commit().map_err(&err)?;
        drop(db);
        out.untagged = untag;
        if !out.deleted.is_empty() {
            out.reclaimed = self.reclaim()?;
        }
        Ok(out)
    }

    /// `image prune`: deletes dangling images (no reference, no holder), then reclaims.
    pub fn prune(&self) -> Result<Pruned, RecordError> {
        let mut db = self.db();
        let err = db_err("prune images");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        let ids: Vec<String> = {
            let mut st = tx
                .prepare(
                    "SELECT id FROM images WHERE id NOT IN (SELECT image FROM refs)
                     AND id NOT IN (SELECT image FROM holds)",
                )
                .map_err(&err)?;
            let rows = st.query_map([], |r| r.get(0)).map_err(&err)?;
            rows.collect::<Result<_, _>>().map_err(&err)?
        };
        for id in &ids {
            tx.execute("DELETE FROM images WHERE id = ?1", params![id]).map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        drop(db);
        let deleted = ids.into_iter().map(parse).collect::<Result<_, _>>()?;
        Ok(Pruned { deleted, reclaimed: self.reclaim()? })
    }

    /// Overlay lower dirs of an image, top layer first (the order `lowerdir=` wants).
    pub fn rootfs_for(&self, image: &ImageInfo) -> Result<Vec<PathBuf>, RecordError> {
        let mut dirs = Vec::with_capacity(image.layers.len());
        for chain in image.chain_ids().iter().rev() {
            let snap = self.snapshot(chain).ok_or_else(|| RecordError::MissingContent {
                image: image.id.clone(),
                what: "snapshot",
                digest: chain.clone(),
            })?;
            dirs.push(snap.path);
        }
        Ok(dirs)
    }

    /// Deletes blobs and snapshots no image references, unless an ingest or lease is active
    /// (then `deferred` is set and nothing is touched).
    pub fn reclaim(&self) -> Result<Reclaimed, RecordError> {
        let Some(_gc) = self.gc_exclusive().map_err(|source| RecordError::Lock { source })? else {
            return Ok(Reclaimed { deferred: true, ..Reclaimed::default() });
        };
        let (blobs, chains) = self.referenced()?;
        let mut out = Reclaimed::default();
        for alg in ["sha256", "sha512"] {
            let dir = self.root.join("blobs").join(alg);
            for (name, path) in list(&dir)? {
                if !blobs.contains(&format!("{alg}:{name}")) {
                    out.blob_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    std::fs::remove_file(&path)
                        .map_err(|source| RecordError::Reclaim { path, source })?;
                    out.blobs += 1;
                }
            }
        }
        for (name, path) in list(&self.root.join("snapshots"))? {
            if !chains.contains(&name) {
                // Renamed into our work dir first, so a half-deleted snapshot is never visible.
                let trash = self.work_item("trash");
                std::fs::rename(&path, &trash)
                    .map_err(|source| RecordError::Reclaim { path: path.clone(), source })?;
                remove_tree(&trash).map_err(|source| RecordError::Reclaim { path, source })?;
                out.snapshots += 1;
            }
        }
        Ok(out)
    }

    /// (blob digests as strings, chain-id hexes) referenced by any image.
    fn referenced(&self) -> Result<(HashSet<String>, HashSet<String>), RecordError> {
        let db = self.db();
        let err = db_err("list referenced content");
        let mut blobs = HashSet::new();
        let mut chains = HashSet::new();
        let mut st = db.prepare("SELECT id, config FROM images").map_err(&err)?;
        for row in st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(&err)?
        {
            let (id, config) = row.map_err(&err)?;
            blobs.insert(id);
            blobs.insert(config);
        }
        let mut st = db.prepare("SELECT blob, chain_id FROM layers").map_err(&err)?;
        for row in st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(&err)?
        {
            let (blob, chain) = row.map_err(&err)?;
            blobs.insert(blob);
            chains.insert(parse(chain)?.hex().to_owned());
        }
        Ok((blobs, chains))
    }
}

fn list(dir: &Path) -> Result<Vec<(String, PathBuf)>, RecordError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|source| RecordError::Reclaim { path: dir.to_owned(), source })?;
    Ok(rd.flatten().map(|e| (e.file_name().to_string_lossy().into_owned(), e.path())).collect())
}
