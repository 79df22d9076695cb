//! v1 blkio controller: weights (`blkio.weight` with CFQ, `blkio.bfq.weight` with BFQ) and
//! throttling (`blkio.throttle.{read,write}_{bps,iops}_device`).
//!
//! `leafWeight` only ever existed with CFQ, which was removed in Linux 5.0: when its file is
//! absent it is skipped with a debug note (as runc does), rather than failing the container.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::{file, Error};

/// True if any value this module writes is set.
pub(crate) fn is_set(io: &LinuxBlockIo) -> bool {
    io.weight().is_some()
        || io.leaf_weight().is_some()
        || io.weight_device().as_ref().is_some_and(|d| !d.is_empty())
        || throttles(io).iter().any(|(_, list)| !list.is_empty())
}

/// The four throttle lists with their v1 file names.
pub(crate) fn throttles(io: &LinuxBlockIo) -> [(&'static str, &[LinuxThrottleDevice]); 4] {
    fn list(l: &Option<Vec<LinuxThrottleDevice>>) -> &[LinuxThrottleDevice] {
        l.as_deref().unwrap_or(&[])
    }
    [
        ("blkio.throttle.read_bps_device", list(io.throttle_read_bps_device())),
        ("blkio.throttle.write_bps_device", list(io.throttle_write_bps_device())),
        ("blkio.throttle.read_iops_device", list(io.throttle_read_iops_device())),
        ("blkio.throttle.write_iops_device", list(io.throttle_write_iops_device())),
    ]
}

/// Writes the blockIO settings in `dir`.
pub(crate) fn apply(dir: &Path, io: &LinuxBlockIo) -> Result<(), Error> {
    // CFQ's file first; BFQ takes the same range (10..1000 -> 1..1000) under its own name.
    let weight_file =
        if file::exists(dir, "blkio.weight") { "blkio.weight" } else { "blkio.bfq.weight" };
    if let Some(weight) = io.weight().filter(|w| *w != 0) {
        file::write(dir, weight_file, &weight.to_string())?;
    }
    if let Some(leaf) = io.leaf_weight().filter(|w| *w != 0) {
        write_or_skip(dir, "blkio.leaf_weight", &leaf.to_string())?;
    }
    let device_file =
        if weight_file == "blkio.weight" { "blkio.weight_device" } else { weight_file };
    for device in io.weight_device().as_deref().unwrap_or(&[]) {
        let id = format!("{}:{}", device.major(), device.minor());
        if let Some(weight) = device.weight() {
            file::write(dir, device_file, &format!("{id} {weight}"))?;
        }
        if let Some(leaf) = device.leaf_weight() {
            write_or_skip(dir, "blkio.leaf_weight_device", &format!("{id} {leaf}"))?;
        }
    }
    for (name, list) in throttles(io) {
        for device in list {
            let line = format!("{}:{} {}", device.major(), device.minor(), device.rate());
            file::write(dir, name, &line)?;
        }
    }
    Ok(())
}

/// The leaf weight files exist only with CFQ (gone since Linux 5.0).
fn write_or_skip(dir: &Path, name: &str, value: &str) -> Result<(), Error> {
    if !file::exists(dir, name) {
        tracing::debug!(name, value, "no CFQ on this kernel: blockIO leafWeight skipped");
        return Ok(());
    }
    file::write(dir, name, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
    };

    fn fixture(names: &[&str]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for name in names {
            std::fs::write(tmp.path().join(name), "").unwrap();
        }
        tmp
    }

    fn throttle(rate: u64) -> LinuxThrottleDevice {
        LinuxThrottleDeviceBuilder::default().major(8).minor(0).rate(rate).build().unwrap()
    }

    #[test]
    fn bfq_weight_throttle_and_no_leaf() {
        let tmp = fixture(&[
            "blkio.bfq.weight",
            "blkio.throttle.read_bps_device",
            "blkio.throttle.write_bps_device",
            "blkio.throttle.read_iops_device",
            "blkio.throttle.write_iops_device",
        ]);
        let io = LinuxBlockIoBuilder::default()
            .weight(300u16)
            .leaf_weight(200u16)
            .throttle_read_bps_device(vec![throttle(1_048_576)])
            .throttle_write_iops_device(vec![throttle(100)])
            .build()
            .unwrap();
        assert!(is_set(&io));
        apply(tmp.path(), &io).unwrap();
        let get = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap();
        assert_eq!(get("blkio.bfq.weight"), "300");
        assert_eq!(get("blkio.throttle.read_bps_device"), "8:0 1048576");
        assert_eq!(get("blkio.throttle.write_iops_device"), "8:0 100");
        assert_eq!(get("blkio.throttle.write_bps_device"), "");
        assert!(!tmp.path().join("blkio.leaf_weight").exists());
    }

    #[test]
    fn cfq_weight_device() {
        let tmp = fixture(&["blkio.weight", "blkio.weight_device", "blkio.leaf_weight_device"]);
        let device = LinuxWeightDeviceBuilder::default()
            .major(8)
            .minor(16)
            .weight(500u16)
            .leaf_weight(100u16)
            .build()
            .unwrap();
        let io = LinuxBlockIoBuilder::default().weight_device(vec![device]).build().unwrap();
        apply(tmp.path(), &io).unwrap();
        let get = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap();
        assert_eq!(get("blkio.weight_device"), "8:16 500");
        assert_eq!(get("blkio.leaf_weight_device"), "8:16 100");
    }

    #[test]
    fn weight_without_scheduler_names_the_file() {
        let tmp = fixture(&[]);
        let io = LinuxBlockIoBuilder::default().weight(300u16).build().unwrap();
        let err = apply(tmp.path(), &io).unwrap_err();
        assert!(err.to_string().contains("blkio.bfq.weight"), "{err}");
    }
}
