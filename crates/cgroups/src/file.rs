//! Reading and writing single cgroup interface files, with errors that carry path and value.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use crate::Error;

/// Writes `value` to `dir/name` in one `write(2)`.
///
/// The file is opened without `O_CREAT`: a missing interface file means the controller is
/// absent, and silently creating a regular file (possible on a tmpfs fixture) would hide that.
pub(crate) fn write(dir: &Path, name: &str, value: &str) -> Result<(), Error> {
    let path = dir.join(name);
    tracing::trace!(?path, value, "cgroup write");
    let result = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut file| file.write_all(value.as_bytes()));
    result.map_err(|source| Error::Write { path, value: value.to_owned(), source })
}

/// Reads `dir/name` and trims the trailing newline.
pub(crate) fn read(dir: &Path, name: &str) -> Result<String, Error> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim_end().to_owned()),
        Err(source) => Err(Error::Read { path, source }),
    }
}

/// True if the interface file exists (e.g. `memory.memsw.limit_in_bytes` needs swap
/// accounting, `memory.swap.max` needs swap support).
pub(crate) fn exists(dir: &Path, name: &str) -> bool {
    dir.join(name).exists()
}

/// Reads a file holding one unsigned number; `max` (v2 "unlimited") reads as `u64::MAX`.
pub(crate) fn read_u64(dir: &Path, name: &str) -> Result<u64, Error> {
    let text = read(dir, name)?;
    if text == "max" {
        return Ok(u64::MAX);
    }
    text.parse().map_err(|_| Error::ParseValue { path: dir.join(name), value: text })
}

/// `memory.checkBeforeUpdate` and v1's `EBUSY`: a limit below the usage in `usage_file` is
/// refused naming both numbers. `limit` <= 0 (unset or unlimited) always passes.
pub(crate) fn check_limit(
    dir: &Path,
    usage_file: &str,
    limit_file: &str,
    limit: i64,
) -> Result<(), Error> {
    let Ok(wanted) = u64::try_from(limit) else { return Ok(()) };
    if wanted == 0 {
        return Ok(());
    }
    let usage = read_u64(dir, usage_file)?;
    if wanted < usage {
        return Err(Error::LimitBelowUsage { path: dir.join(limit_file), limit, usage });
    }
    Ok(())
}

/// Reads a `cgroup.procs` file into pids.
pub(crate) fn read_pids(dir: &Path) -> Result<Vec<i32>, Error> {
    let text = read(dir, "cgroup.procs")?;
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            line.trim().parse::<i32>().map_err(|_| Error::ParseValue {
                path: dir.join("cgroup.procs"),
                value: line.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_does_not_create_missing_files() {
        let tmp = tempfile::tempdir().unwrap();
        let err = write(tmp.path(), "pids.max", "10").unwrap_err();
        assert_eq!(err.to_string(), format!("write 10 to {}/pids.max", tmp.path().display()));
        assert_eq!(err.raw_os_error(), Some(2)); // ENOENT
    }

    #[test]
    fn write_truncates() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("pids.max"), "max\n").unwrap();
        write(tmp.path(), "pids.max", "7").unwrap();
        assert_eq!(read(tmp.path(), "pids.max").unwrap(), "7");
    }

    #[test]
    fn read_pids_parses_lines() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cgroup.procs"), "12\n345\n").unwrap();
        assert_eq!(read_pids(tmp.path()).unwrap(), vec![12, 345]);
        std::fs::write(tmp.path().join("cgroup.procs"), "").unwrap();
        assert!(read_pids(tmp.path()).unwrap().is_empty());
    }
}
