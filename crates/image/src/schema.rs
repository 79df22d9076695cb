//! The SQLite schema of the image records (`PRAGMA user_version = 1`):
//! - `images(id = manifest digest, config, media_type, platform, size, created = when
//!   stored, config_created)`: `config_created` is the config's `created` as written there
//!   (`''` when it has none)
//! - `layers(image, position, blob, diff_id, chain_id, media_type, size, unpacked_size)`,
//!   bottom first; `unpacked_size` is the snapshot's bytes as Docker counts a layer
//! - `refs(name, image)`: `name:tag` (or `name@digest`) → image
//! - `holds(image, holder)`: e.g. a container id; a held image is not deleted without force
//!
//! `config_created` and `unpacked_size` came later: stores made before lack them until
//! [`open_db`] adds them, and NULL there means "not recorded" (see [`add_column`]).

use std::path::Path;

use rusqlite::Connection;

/// How long opening waits for other processes' locks, in the busy handler or around it.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Opens (and makes, or brings up to date) the records database.
///
/// SQLite answers some races of opening with "database is locked" without calling the busy
/// handler: two processes making a new store at once (both switching it to WAL and writing
/// its schema; seen in `two_processes_ingest_the_same_layer`), or one rebuilding the WAL
/// index another left. Every step of opening is idempotent, so it is tried again, within
/// the time the busy handler would have waited.
pub(crate) fn open_db(path: &Path) -> rusqlite::Result<Connection> {
    let start = std::time::Instant::now();
    loop {
        match open_once(path) {
            Err(e) if is_busy(&e) && start.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn open_once(path: &Path) -> rusqlite::Result<Connection> {
    let new = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    let db = Connection::open(path)?;
    db.busy_timeout(BUSY_TIMEOUT)?;
    // A new database is made without fsyncs: with synchronous=NORMAL, the switch to WAL (a
    // rollback-journal transaction writing page 1) and the schema's first WAL frames cost six
    // fsyncs and a journal unlink, 10-40 ms of a cold `pull` on a busy disk. Nothing is
    // lost by it: a killed process leaves what it wrote in the page cache, and a power cut
    // can only take the database back to empty (the rollback journal and the WAL both
    // describe an empty database), which the schema statements below make again at the
    // next open. An existing database keeps NORMAL throughout, so no checkpoint ever runs
    // unsynced.
    db.pragma_update(None, "synchronous", if new { "OFF" } else { "NORMAL" })?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "foreign_keys", "ON")?;
    // The last connection to close would checkpoint the WAL into the database and delete it:
    // two fsyncs in every short-lived `berth` process, and a new WAL (and a directory fsync)
    // at the next write. The WAL stays instead and is checkpointed when it reaches
    // `wal_autocheckpoint` pages. Committed transactions survive a crash either way (WAL with
    // synchronous=NORMAL loses nothing on a process kill; a power cut may roll back the last
    // ones, as before).
    db.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    // A read of an existing store writes nothing: the schema statements below are no-ops
    // then, and the version is written only into a new database.
    let version: i64 = db.pragma_query_value(None, "user_version", |r| r.get(0))?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS images (
            id TEXT PRIMARY KEY, config TEXT NOT NULL, media_type TEXT NOT NULL,
            platform TEXT NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL,
            config_created TEXT);
         CREATE TABLE IF NOT EXISTS layers (
            image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            position INTEGER NOT NULL, blob TEXT NOT NULL, diff_id TEXT NOT NULL,
            chain_id TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
            unpacked_size INTEGER, PRIMARY KEY (image, position));
         CREATE TABLE IF NOT EXISTS refs (
            name TEXT PRIMARY KEY, image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);
         CREATE TABLE IF NOT EXISTS holds (
            image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            holder TEXT NOT NULL, PRIMARY KEY (image, holder));",
    )?;
    add_column(&db, "images", "config_created", "TEXT")?;
    add_column(&db, "layers", "unpacked_size", "INTEGER")?;
    if version != 1 {
        db.pragma_update(None, "user_version", 1)?;
    }
    if new {
        db.pragma_update(None, "synchronous", "NORMAL")?;
    }
    Ok(db)
}

/// Adds a nullable column to a table made before it existed (a new database has it from
/// its `CREATE TABLE`). Its rows from before read NULL, "not recorded", which the readers
/// fall back for; an older berth, which names the columns it writes, keeps working with the
/// table and leaves NULL in the new column. Found by name rather than by `user_version`,
/// because an older berth sets that back to 1; two processes adding it at once are fine
/// (the loser finds it there).
fn add_column(db: &Connection, table: &str, column: &str, sql_type: &str) -> rusqlite::Result<()> {
    let has = || {
        db.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?.exists([table, column])
    };
    if has()? {
        return Ok(());
    }
    match db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {sql_type}")) {
        Err(e) if !has()? => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::open_db;

    fn synchronous(db: &rusqlite::Connection) -> i64 {
        db.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap()
    }

    /// A new database is made unsynced but handed out with synchronous=NORMAL (1), in WAL
    /// mode, with its schema; opening it again finds the schema and writes nothing.
    #[test]
    fn a_new_database_is_made_unsynced_and_used_with_synchronous_normal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let db = open_db(&path).unwrap();
        assert_eq!(synchronous(&db), 1);
        let mode: String = db.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        drop(db);
        let again = open_db(&path).unwrap();
        assert_eq!(synchronous(&again), 1);
        let tables: i64 = again
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 4);
    }

    /// A store made before `config_created` and `unpacked_size` existed gets them, NULL in
    /// its old rows, and its data stays as it was.
    #[test]
    fn an_older_database_gains_the_new_columns_as_null() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE images (
                id TEXT PRIMARY KEY, config TEXT NOT NULL, media_type TEXT NOT NULL,
                platform TEXT NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL);
             CREATE TABLE layers (
                image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                position INTEGER NOT NULL, blob TEXT NOT NULL, diff_id TEXT NOT NULL,
                chain_id TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
                PRIMARY KEY (image, position));
             INSERT INTO images VALUES ('sha256:aa', 'sha256:cc', 'm', 'linux/amd64', 7, 99);
             INSERT INTO layers VALUES ('sha256:aa', 0, 'sha256:bb', 'sha256:dd', 'sha256:dd', 'm', 5);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(old);
        let db = open_db(&path).unwrap();
        let (created, config_created): (i64, Option<String>) = db
            .query_row("SELECT created, config_created FROM images", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((created, config_created), (99, None));
        let (size, unpacked): (i64, Option<i64>) = db
            .query_row("SELECT size, unpacked_size FROM layers", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((size, unpacked), (5, None));
        drop(db);
        // Opening it again finds the columns there.
        open_db(&path).unwrap();
    }
}
