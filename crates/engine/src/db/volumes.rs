//! Volume records: the `volumes` table, beside `containers` in the same database. Which
//! containers use a volume is not stored here: it is read from their records' mounts, so a
//! container record and its volume uses cannot disagree.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::Db;
use crate::error::{Error, Result};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    driver TEXT NOT NULL DEFAULT 'local',
    created TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    anonymous INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL DEFAULT ''
);";

/// One volume as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    /// Unique name (64 hex digits for an anonymous volume).
    pub name: String,
    /// Always `local`: a directory under `<data>/volumes/<name>/_data`.
    pub driver: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// `volume create --label`, JSON object.
    pub labels: String,
    /// Made by `-v /dst` or `--mount type=volume` without a source; `rm -v` removes it.
    pub anonymous: bool,
    /// The container whose create made it (empty for `volume create`): a failed create
    /// removes what it made.
    pub created_by: String,
}

impl Db {
    /// Adds a volume record; `Ok(false)` if the name exists already.
    pub fn insert_volume(&self, v: &VolumeRecord) -> Result<bool> {
        let n = self
            .conn()?
            .execute(
                "INSERT OR IGNORE INTO volumes (name, driver, created, labels, anonymous,
                 created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![v.name, v.driver, v.created, v.labels, v.anonymous, v.created_by],
            )
            .map_err(self.err())?;
        Ok(n == 1)
    }

    /// The volume named `name`, if any.
    pub fn volume(&self, name: &str) -> Result<Option<VolumeRecord>> {
        self.conn()?
            .query_row("SELECT * FROM volumes WHERE name = ?1", [name], volume_row)
            .optional()
            .map_err(self.err())
    }

    /// Every volume, by name.
    pub fn volumes(&self) -> Result<Vec<VolumeRecord>> {
        let mut stmt =
            self.conn()?.prepare("SELECT * FROM volumes ORDER BY name").map_err(self.err())?;
        let rows = stmt.query_map([], volume_row).map_err(self.err())?;
        rows.collect::<std::result::Result<_, _>>().map_err(self.err())
    }

    /// Removes the volume record.
    pub fn delete_volume(&self, name: &str) -> Result<()> {
        self.conn()?
            .execute("DELETE FROM volumes WHERE name = ?1", [name])
            .map(|_| ())
            .map_err(|source| Error::db(&self.path, source))
    }
}

fn volume_row(r: &Row<'_>) -> rusqlite::Result<VolumeRecord> {
    Ok(VolumeRecord {
        name: r.get("name")?,
        driver: r.get("driver")?,
        created: r.get("created")?,
        labels: r.get("labels")?,
        anonymous: r.get("anonymous")?,
        created_by: r.get("created_by")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    #[test]
    fn insert_once_get_list_delete() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths { data: tmp.path().join("d"), run: tmp.path().join("r") };
        let db = Db::open(&paths).unwrap();
        let v = VolumeRecord {
            name: "data".into(),
            driver: "local".into(),
            created: "t".into(),
            labels: "{}".into(),
            anonymous: false,
            created_by: String::new(),
        };
        assert!(db.insert_volume(&v).unwrap());
        assert!(!db.insert_volume(&v).unwrap(), "the name is taken");
        assert_eq!(db.volume("data").unwrap(), Some(v.clone()));
        assert_eq!(db.volumes().unwrap(), [v]);
        db.delete_volume("data").unwrap();
        assert_eq!(db.volume("data").unwrap(), None);
        // The containers table is untouched by the volumes table.
        assert!(db.list().unwrap().is_empty());
    }
}
