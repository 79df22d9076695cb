//! pids controller: `pids.max`, the same file and values in v1 and v2.

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::{file, Error};

/// Writes `pids.max`: a positive limit as is, a negative one as `max`; 0 leaves it unchanged
/// (runc 1.1 treats 0 as "not set").
pub(crate) fn apply(dir: &Path, pids: &LinuxPids) -> Result<(), Error> {
    match pids.limit() {
        0 => Ok(()),
        limit if limit < 0 => file::write(dir, "pids.max", "max"),
        limit => file::write(dir, "pids.max", &limit.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxPidsBuilder;

    fn run(limit: i64) -> String {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("pids.max"), "unchanged").unwrap();
        apply(tmp.path(), &LinuxPidsBuilder::default().limit(limit).build().unwrap()).unwrap();
        std::fs::read_to_string(tmp.path().join("pids.max")).unwrap()
    }

    #[test]
    fn limits() {
        assert_eq!(run(1000), "1000");
        assert_eq!(run(-1), "max");
        assert_eq!(run(0), "unchanged");
    }

    #[test]
    fn zero_keeps_an_earlier_limit() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("pids.max"), "max").unwrap();
        for (limit, expect) in [(32, "32"), (0, "32"), (-1, "max")] {
            apply(tmp.path(), &LinuxPidsBuilder::default().limit(limit).build().unwrap()).unwrap();
            assert_eq!(std::fs::read_to_string(tmp.path().join("pids.max")).unwrap(), expect);
        }
    }
}
