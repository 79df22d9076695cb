//! v2 memory controller: `memory.max`, `memory.low`, `memory.swap.max`.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::{file, Error};

/// Writes the memory settings in `dir`. OCI's `swap` is memory+swap (the v1 meaning), so it is
/// converted with [`swap_to_v2`]. `swappiness`, `kernel*` and `disableOOMKiller` have no v2
/// equivalent and are ignored (logged at debug level), as runc does.
pub(crate) fn apply(dir: &Path, memory: &LinuxMemory) -> Result<(), Error> {
    // v2 never refuses a lower memory.max: it reclaims, then OOM-kills. checkBeforeUpdate asks
    // for a refusal instead when the usage is above the new limit.
    if let (Some(true), Some(limit)) = (memory.check_before_update(), memory.limit()) {
        file::check_limit(dir, "memory.current", "memory.max", limit)?;
    }
    // Swap first (runc's order): lowering memory.max with the old swap.max in place could push
    // the workload into swap it is about to lose.
    if let Some(swap) = swap_to_v2(memory.swap(), memory.limit())? {
        let value = max_value(swap);
        match file::write(dir, "memory.swap.max", &value) {
            // Without swap support there is no swap.max; "no swap" and "unlimited swap" are
            // then already true, anything else cannot be honoured.
            Err(Error::Write { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && (swap == -1 || swap == 0) => {}
            result => result?,
        }
    }
    if let Some(limit) = memory.limit() {
        file::write(dir, "memory.max", &checked("memory.limit", limit)?)?;
    }
    if memory.swappiness().is_some() || memory.disable_oom_killer() == Some(true) {
        tracing::debug!("memory.swappiness and disableOOMKiller have no cgroup v2 file: skipped");
    }
    if let Some(reservation) = memory.reservation() {
        file::write(dir, "memory.low", &checked("memory.reservation", reservation)?)?;
    }
    Ok(())
}

/// Converts OCI `memory.swap` (memory+swap, v1 semantics) to a `memory.swap.max` value
/// (swap alone), following runc's `ConvertMemorySwapToCgroupV2Value`:
/// - unset swap with unlimited memory means unlimited swap too (`Some(-1)`);
/// - unset swap stays unset (`None`), `-1` stays unlimited;
/// - otherwise `swap - limit`, which needs a positive limit not above `swap`.
pub fn swap_to_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<i64>, Error> {
    let invalid = |reason| Error::InvalidResource {
        name: "memory.swap",
        value: swap.unwrap_or(0).to_string(),
        reason,
    };
    match (swap, limit) {
        (None | Some(0), Some(-1)) => Ok(Some(-1)),
        (None | Some(0), _) => Ok(None),
        (Some(-1), _) => Ok(Some(-1)),
        (Some(_), None | Some(0) | Some(-1)) => Err(invalid("a swap limit needs a memory limit")),
        (Some(swap), Some(limit)) if swap < limit || limit < 0 => {
            Err(invalid("memory+swap must not be below the memory limit"))
        }
        (Some(swap), Some(limit)) => Ok(Some(swap - limit)),
    }
}

/// `-1` is written as `max`.
fn max_value(value: i64) -> String {
    if value == -1 {
        "max".to_owned()
    } else {
        value.to_string()
    }
}

fn checked(name: &'static str, value: i64) -> Result<String, Error> {
    if value < -1 {
        return Err(Error::InvalidResource {
            name,
            value: value.to_string(),
            reason: "must be -1 (unlimited) or positive",
        });
    }
    Ok(max_value(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxMemoryBuilder;

    const M: i64 = 1 << 20;

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_to_v2(None, None).unwrap(), None);
        assert_eq!(swap_to_v2(None, Some(64 * M)).unwrap(), None);
        assert_eq!(swap_to_v2(None, Some(-1)).unwrap(), Some(-1));
        assert_eq!(swap_to_v2(Some(-1), Some(64 * M)).unwrap(), Some(-1));
        assert_eq!(swap_to_v2(Some(96 * M), Some(64 * M)).unwrap(), Some(32 * M));
        assert_eq!(swap_to_v2(Some(64 * M), Some(64 * M)).unwrap(), Some(0));
        assert!(swap_to_v2(Some(32 * M), Some(64 * M)).is_err());
        assert!(swap_to_v2(Some(32 * M), None).is_err());
        assert!(swap_to_v2(Some(32 * M), Some(-1)).is_err());
    }

    fn fixture(with_swap: bool) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let mut files = vec!["memory.max", "memory.low"];
        if with_swap {
            files.push("memory.swap.max");
        }
        for name in files {
            std::fs::write(tmp.path().join(name), "max").unwrap();
        }
        tmp
    }

    fn get(tmp: &tempfile::TempDir, name: &str) -> String {
        std::fs::read_to_string(tmp.path().join(name)).unwrap()
    }

    #[test]
    fn writes_max_low_swap() {
        let tmp = fixture(true);
        let memory =
            LinuxMemoryBuilder::default().limit(64 * M).swap(96 * M).reservation(16 * M).build();
        apply(tmp.path(), &memory.unwrap()).unwrap();
        assert_eq!(get(&tmp, "memory.max"), (64 * M).to_string());
        assert_eq!(get(&tmp, "memory.swap.max"), (32 * M).to_string());
        assert_eq!(get(&tmp, "memory.low"), (16 * M).to_string());
    }

    #[test]
    fn unlimited() {
        let tmp = fixture(true);
        std::fs::write(tmp.path().join("memory.swap.max"), "0").unwrap();
        apply(tmp.path(), &LinuxMemoryBuilder::default().limit(-1).build().unwrap()).unwrap();
        assert_eq!(get(&tmp, "memory.max"), "max");
        assert_eq!(get(&tmp, "memory.swap.max"), "max");
    }

    #[test]
    fn host_without_swap() {
        let tmp = fixture(false);
        let no_swap = LinuxMemoryBuilder::default().limit(64 * M).swap(64 * M).build().unwrap();
        apply(tmp.path(), &no_swap).unwrap();
        assert_eq!(get(&tmp, "memory.max"), (64 * M).to_string());
        let some_swap = LinuxMemoryBuilder::default().limit(64 * M).swap(65 * M).build().unwrap();
        let err = apply(tmp.path(), &some_swap).unwrap_err();
        assert!(err.to_string().starts_with("write 1048576 to "), "{err}");
    }
}
