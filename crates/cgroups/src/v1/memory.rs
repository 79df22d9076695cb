//! v1 memory controller: `memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`,
//! `memory.soft_limit_in_bytes`, `memory.swappiness`, `memory.oom_control`.
//!
//! `checkBeforeUpdate` compares the new limit with `memory.usage_in_bytes` first; without it
//! the kernel tries to reclaim and answers `EBUSY`, which is reported with the usage too.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::v1::limit_value;
use crate::{file, Error};

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";
const USAGE: &str = "memory.usage_in_bytes";

/// True if any value this module writes is set.
pub(crate) fn is_set(memory: &LinuxMemory) -> bool {
    memory.limit().is_some()
        || memory.swap().is_some()
        || memory.reservation().is_some()
        || memory.swappiness().is_some()
        || memory.disable_oom_killer() == Some(true)
}

/// Writes the memory limits in `dir`.
pub(crate) fn apply(dir: &Path, memory: &LinuxMemory) -> Result<(), Error> {
    let limit = memory.limit();
    if let (Some(true), Some(limit)) = (memory.check_before_update(), limit) {
        file::check_limit(dir, USAGE, LIMIT, limit)?;
    }
    // runc: lifting the memory limit without a swap value lifts memory+swap too, otherwise the
    // old memsw limit would stay the effective one.
    let swap = match (limit, memory.swap()) {
        (Some(-1), None) => Some(-1),
        (_, swap) => swap,
    };
    set_limit_and_swap(dir, limit, swap)?;
    if let Some(reservation) = memory.reservation() {
        let value = limit_value("memory.reservation", reservation)?;
        file::write(dir, "memory.soft_limit_in_bytes", &value)?;
    }
    if let Some(swappiness) = memory.swappiness() {
        if swappiness > 100 {
            return Err(Error::InvalidResource {
                name: "memory.swappiness",
                value: swappiness.to_string(),
                reason: "must be between 0 and 100",
            });
        }
        file::write(dir, "memory.swappiness", &swappiness.to_string())?;
    }
    if memory.disable_oom_killer() == Some(true) {
        file::write(dir, "memory.oom_control", "1")?;
    }
    Ok(())
}

/// The kernel requires memory+swap >= memory at every moment, so the order of the two writes
/// depends on the direction of the change (as in runc's `setMemoryAndSwap`): when the new
/// memory+swap value is above the current memory limit (raising), memsw goes first;
/// otherwise (lowering) the memory limit goes first.
fn set_limit_and_swap(dir: &Path, limit: Option<i64>, swap: Option<i64>) -> Result<(), Error> {
    if let (Some(limit), Some(swap)) = (limit, swap) {
        if limit > 0 && swap >= 0 && swap < limit {
            return Err(Error::InvalidResource {
                name: "memory.swap",
                value: swap.to_string(),
                reason: "memory+swap must not be below the memory limit",
            });
        }
        let current = read_limit(dir)?;
        if swap == -1 || current < u64::try_from(swap).unwrap_or(0) {
            write_swap(dir, swap, Some(limit))?;
            return write_limit(dir, limit);
        }
    }
    if let Some(limit) = limit {
        write_limit(dir, limit)?;
    }
    if let Some(swap) = swap {
        write_swap(dir, swap, limit)?;
    }
    Ok(())
}

/// Writes memory+swap; without swap accounting (`memsw` file absent) a request for
/// "unlimited" or "no swap" (memsw equal to the limit) means nothing and is skipped.
fn write_swap(dir: &Path, swap: i64, limit: Option<i64>) -> Result<(), Error> {
    let value = limit_value("memory.swap", swap)?;
    if !file::exists(dir, MEMSW) {
        if swap == -1 || Some(swap) == limit {
            return Ok(());
        }
        return Err(Error::Unsupported { what: format!("{MEMSW} (swap accounting)") });
    }
    file::write(dir, MEMSW, &value)
}

/// The kernel answers `EBUSY` when it cannot reclaim down to a new limit; report the usage.
fn write_limit(dir: &Path, limit: i64) -> Result<(), Error> {
    match file::write(dir, LIMIT, &limit_value("memory.limit", limit)?) {
        Err(err) if err.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
            file::check_limit(dir, USAGE, LIMIT, limit)?;
            Err(err)
        }
        result => result,
    }
}

fn read_limit(dir: &Path) -> Result<u64, Error> {
    let text = file::read(dir, LIMIT)?;
    text.parse().map_err(|_| Error::ParseValue { path: dir.join(LIMIT), value: text })
}

#[cfg(test)]
mod tests;
