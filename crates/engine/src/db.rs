//! Container records in SQLite (`<data>/berth.db`); volume records in `db/volumes.rs`.
//!
//! Every state change is one statement in its own transaction; WAL mode and a busy timeout
//! let concurrent `berth` processes read and write without corrupting or losing a record.
//! The record says what the engine last *knew*; `ops::reconcile` brings it up to date with
//! the monitor's exit file and the init's liveness before anything is shown.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::paths::Paths;

mod volumes;
pub use volumes::VolumeRecord;

/// One container as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// 64-hex id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The image reference, or `rootfs:<dir>` for `--rootfs`.
    pub image: String,
    /// The process's argv.
    pub command: Vec<String>,
    /// Creation time, RFC 3339.
    pub created: String,
    /// `created`, `running`, `exited`.
    pub state: String,
    /// Host pid of the init while running; 0 otherwise.
    pub pid: i32,
    /// Exit status once exited.
    pub exit_code: Option<i32>,
    /// Start time, RFC 3339.
    pub started_at: Option<String>,
    /// End time, RFC 3339.
    pub finished_at: Option<String>,
    /// The low-level runtime binary.
    pub runtime: String,
    /// `--rm`.
    pub auto_remove: bool,
    /// The run options as given, for `inspect` (JSON).
    pub config: String,
    /// The last run lost a process to the OOM killer (the monitor's `oom-killed` marker).
    #[serde(default)]
    pub oom_killed: bool,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image TEXT NOT NULL,
    command TEXT NOT NULL,
    created TEXT NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    started_at TEXT,
    finished_at TEXT,
    runtime TEXT NOT NULL,
    auto_remove INTEGER NOT NULL DEFAULT 0,
    config TEXT NOT NULL DEFAULT '{}',
    oom_killed INTEGER NOT NULL DEFAULT 0
);";

/// Columns added after the first release, for databases created before them.
const ADDED_COLUMNS: &[(&str, &str)] = &[("oom_killed", "INTEGER NOT NULL DEFAULT 0")];

/// How long a statement waits for another process's lock (SQLite's busy handler).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// "database is locked" / "database table is locked".
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// The records database, opened (and created) at its first use: commands that need no
/// container records (`pull`, `images`, `rmi`, ...) never touch it. On a new data root,
/// creating it costs six fsyncs (SQLite's switch to WAL through a rollback journal, then the
/// new WAL and its directory), 10–40 ms on a busy disk, which `pull` does not need.
#[derive(Debug)]
pub struct Db {
    /// Set by the first [`Db::conn`]; the engine is single-threaded per command.
    conn: std::cell::OnceCell<Connection>,
    pub(crate) path: PathBuf,
}

impl Db {
    /// The database under `paths`. Creates the data root (mode 0700, before anything else
    /// makes it with a wider mode), but opens nothing until the database is used.
    pub fn open(paths: &Paths) -> Result<Db> {
        crate::paths::mkdir(&paths.data)?;
        Ok(Db { conn: std::cell::OnceCell::new(), path: paths.db() })
    }

    /// The connection, opening (and creating) the database on first use.
    pub(crate) fn conn(&self) -> Result<&Connection> {
        if let Some(c) = self.conn.get() {
            return Ok(c);
        }
        let c = Db::connect(&self.path)?;
        Ok(self.conn.get_or_init(|| c))
    }

    fn connect(path: &std::path::Path) -> Result<Connection> {
        // SQLite returns "database is locked" without calling the busy handler in a few
        // cases of opening (another connection rebuilding the WAL index of a WAL kept
        // from the last close, a schema change racing ours): seen once with six `run`s
        // starting together in the slow cgroup-v2 VM. Opening is idempotent, so it is
        // tried again, within the same 30 s the busy handler would wait.
        let start = std::time::Instant::now();
        loop {
            match Db::open_once(path) {
                Err(e) if is_busy(&e) && start.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other.map_err(|source| Error::db(path, source)),
            }
        }
    }

    fn open_once(path: &std::path::Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // No checkpoint when the last connection closes (two fsyncs in every `berth`
        // command, and the WAL made again by the next write): the WAL is checkpointed when it
        // reaches `wal_autocheckpoint` pages. Durability is WAL's with synchronous=NORMAL
        // either way: a killed process loses no committed record.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(crate::network::records::SCHEMA)?;
        add_missing_columns(&conn)?;
        conn.execute_batch(volumes::SCHEMA)?;
        Ok(conn)
    }

    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |source| Error::db(&self.path, source)
    }

    /// Adds a record; a taken name is [`Error::NameInUse`].
    pub fn insert(&self, r: &Record) -> Result<()> {
        if let Some(other) = self.by_name(&r.name)? {
            return Err(Error::NameInUse { name: r.name.clone(), id: other.id });
        }
        let command = serde_json::to_string(&r.command).unwrap_or_else(|_| "[]".into());
        self.conn()?
            .execute(
                "INSERT INTO containers (id, name, image, command, created, state, pid, runtime,
                 auto_remove, config) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    r.id,
                    r.name,
                    r.image,
                    command,
                    r.created,
                    r.state,
                    r.pid,
                    r.runtime,
                    r.auto_remove,
                    r.config
                ],
            )
            .map(|_| ())
            .map_err(|e| match e {
                // Lost a race with another `berth` for the same name.
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Error::NameInUse { name: r.name.clone(), id: "?".into() }
                }
                e => self.err()(e),
            })
    }

    fn by_name(&self, name: &str) -> Result<Option<Record>> {
        self.conn()?
            .query_row("SELECT * FROM containers WHERE name = ?1", [name], row)
            .optional()
            .map_err(self.err())
    }

    /// Finds a container by exact id, exact name, or unique id prefix.
    pub fn get(&self, key: &str) -> Result<Record> {
        let exact = self
            .conn()?
            .query_row("SELECT * FROM containers WHERE id = ?1 OR name = ?1", [key], row)
            .optional()
            .map_err(self.err())?;
        if let Some(r) = exact {
            return Ok(r);
        }
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::NoSuchContainer(key.to_string()));
        }
        let mut stmt = self
            .conn()?
            .prepare("SELECT * FROM containers WHERE id LIKE ?1 || '%'")
            .map_err(self.err())?;
        let found: Vec<Record> = stmt
            .query_map([key], row)
            .map_err(self.err())?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err())?;
        match found.len() {
            1 => Ok(found.into_iter().next().ok_or_else(|| Error::NoSuchContainer(key.into()))?),
            0 => Err(Error::NoSuchContainer(key.to_string())),
            _ => Err(Error::NoSuchContainer(format!(
                "{key} (ambiguous: {} containers match)",
                found.len()
            ))),
        }
    }

    /// Every container, newest first.
    pub fn list(&self) -> Result<Vec<Record>> {
        let mut stmt = self
            .conn()?
            .prepare("SELECT * FROM containers ORDER BY created DESC")
            .map_err(self.err())?;
        let rows = stmt.query_map([], row).map_err(self.err())?;
        rows.collect::<std::result::Result<_, _>>().map_err(self.err())
    }

    /// Marks the container running with its init's pid.
    pub fn set_running(&self, id: &str, pid: i32, started_at: &str) -> Result<()> {
        self.conn()?
            .execute(
                "UPDATE containers SET state = 'running', pid = ?2, started_at = ?3,
                 exit_code = NULL, finished_at = NULL, oom_killed = 0 WHERE id = ?1",
                params![id, pid, started_at],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Marks the container exited (`oom_killed`: the OOM killer took a process of it).
    pub fn set_exited(
        &self,
        id: &str,
        code: i32,
        finished_at: &str,
        oom_killed: bool,
    ) -> Result<()> {
        self.conn()?
            .execute(
                "UPDATE containers SET state = 'exited', pid = 0, exit_code = ?2, finished_at = ?3,
                 oom_killed = ?4 WHERE id = ?1",
                params![id, code, finished_at, oom_killed],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Replaces the options the container was created with (`update`).
    pub fn set_config(&self, id: &str, config: &str) -> Result<()> {
        self.conn()?
            .execute("UPDATE containers SET config = ?2 WHERE id = ?1", params![id, config])
            .map(|_| ())
            .map_err(self.err())
    }

    /// Gives the container another name; a taken name is [`Error::NameInUse`].
    pub fn rename(&self, id: &str, name: &str) -> Result<()> {
        if let Some(other) = self.by_name(name)? {
            return Err(Error::NameInUse { name: name.to_string(), id: other.id });
        }
        self.conn()?
            .execute("UPDATE containers SET name = ?2 WHERE id = ?1", params![id, name])
            .map(|_| ())
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Error::NameInUse { name: name.to_string(), id: "?".into() }
                }
                e => self.err()(e),
            })
    }

    /// Removes the record.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.conn()?
            .execute("DELETE FROM containers WHERE id = ?1", [id])
            .map(|_| ())
            .map_err(self.err())
    }
}

/// `ALTER TABLE … ADD COLUMN` for each of [`ADDED_COLUMNS`] the table lacks. Concurrent
/// `berth` processes may race here; "duplicate column" from the loser is success.
fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('containers')")?;
    let have: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    for (name, decl) in ADDED_COLUMNS {
        if have.iter().any(|h| h == name) {
            continue;
        }
        match conn.execute_batch(&format!("ALTER TABLE containers ADD COLUMN {name} {decl}")) {
            Err(rusqlite::Error::SqliteFailure(_, Some(msg))) if msg.contains("duplicate") => {}
            other => other?,
        }
    }
    Ok(())
}

fn row(r: &Row<'_>) -> rusqlite::Result<Record> {
    let command: String = r.get("command")?;
    Ok(Record {
        id: r.get("id")?,
        name: r.get("name")?,
        image: r.get("image")?,
        command: serde_json::from_str(&command).unwrap_or_default(),
        created: r.get("created")?,
        state: r.get("state")?,
        pid: r.get("pid")?,
        exit_code: r.get("exit_code")?,
        started_at: r.get("started_at")?,
        finished_at: r.get("finished_at")?,
        runtime: r.get("runtime")?,
        auto_remove: r.get("auto_remove")?,
        config: r.get("config")?,
        oom_killed: r.get("oom_killed")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> Record {
        Record {
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            command: vec!["sh".into()],
            created: "2026-01-01T00:00:00Z".into(),
            state: "created".into(),
            pid: 0,
            exit_code: None,
            started_at: None,
            finished_at: None,
            runtime: "berth-runtime".into(),
            auto_remove: false,
            config: "{}".into(),
            oom_killed: false,
        }
    }

    #[test]
    fn insert_get_prefix_name_conflict_and_states() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths { data: tmp.path().join("d"), run: tmp.path().join("r") };
        let db = Db::open(&paths).unwrap();
        db.insert(&rec("abc123", "web")).unwrap();
        db.insert(&rec("abd456", "db")).unwrap();
        assert_eq!(db.get("web").unwrap().id, "abc123");
        assert_eq!(db.get("abc").unwrap().name, "web");
        assert!(matches!(db.get("ab"), Err(Error::NoSuchContainer(_))), "ambiguous prefix");
        assert!(matches!(db.insert(&rec("fff", "web")), Err(Error::NameInUse { .. })));
        db.set_running("abc123", 42, "t1").unwrap();
        assert_eq!(db.get("web").unwrap().pid, 42);
        db.set_exited("abc123", 137, "t2", true).unwrap();
        let r = db.get("web").unwrap();
        assert_eq!(
            (r.state.as_str(), r.exit_code, r.pid, r.oom_killed),
            ("exited", Some(137), 0, true)
        );
        db.set_running("abc123", 43, "t3").unwrap();
        assert!(!db.get("web").unwrap().oom_killed, "a new run starts clean");
        db.delete("abc123").unwrap();
        assert!(db.get("web").is_err());
        assert_eq!(db.list().unwrap().len(), 1);
    }

    #[test]
    fn a_database_from_before_oom_killed_gains_the_column() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths { data: tmp.path().join("d"), run: tmp.path().join("r") };
        std::fs::create_dir_all(&paths.data).unwrap();
        let old = SCHEMA.replace(",\n    oom_killed INTEGER NOT NULL DEFAULT 0", "");
        assert!(!old.contains("oom_killed"));
        let conn = Connection::open(paths.db()).unwrap();
        conn.execute_batch(&old).unwrap();
        conn.execute_batch(
            "INSERT INTO containers (id, name, image, command, created, state, runtime)
             VALUES ('abc', 'old', 'busybox', '[]', 't', 'exited', 'rt')",
        )
        .unwrap();
        drop(conn);
        let db = Db::open(&paths).unwrap();
        assert!(!db.get("old").unwrap().oom_killed);
        db.set_exited("abc", 137, "t2", true).unwrap();
        assert!(db.get("old").unwrap().oom_killed);
        Db::open(&paths).unwrap();
    }
}
