//! v2 cpuset controller: `cpuset.cpus` and `cpuset.mems`. Unlike v1, an empty value means
//! "inherit the parent's", so nothing has to be copied down at creation.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::{file, Error};

/// Writes `linux.resources.cpu.cpus`/`mems` when set.
pub(crate) fn apply(dir: &Path, cpu: &LinuxCpu) -> Result<(), Error> {
    if let Some(cpus) = cpu.cpus().as_ref().filter(|c| !c.is_empty()) {
        file::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = cpu.mems().as_ref().filter(|m| !m.is_empty()) {
        file::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxCpuBuilder;

    #[test]
    fn writes_only_what_is_set() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cpuset.cpus"), "").unwrap();
        let cpu = LinuxCpuBuilder::default().cpus("0-1").build().unwrap();
        apply(tmp.path(), &cpu).unwrap();
        assert_eq!(std::fs::read_to_string(tmp.path().join("cpuset.cpus")).unwrap(), "0-1");
        // cpuset.mems does not exist in the fixture: it was not touched.
    }
}
