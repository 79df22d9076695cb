//! hugetlb limits and page sizes, shared by v1 (`hugetlb.2MB.limit_in_bytes`) and v2
//! (`hugetlb.2MB.max`, plus `hugetlb.2MB.rsvd.max` where the kernel has reservations).

use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::{file, Error};

/// Writes each limit in `dir`; `v2` picks the file names. A page size the kernel does not
/// offer (no such file) is refused naming the size.
pub(crate) fn apply(dir: &Path, limits: &[LinuxHugepageLimit], v2: bool) -> Result<(), Error> {
    for limit in limits {
        let size = limit.page_size();
        let name = if v2 {
            format!("hugetlb.{size}.max")
        } else {
            format!("hugetlb.{size}.limit_in_bytes")
        };
        if size.is_empty() || size.contains('/') || !file::exists(dir, &name) {
            return Err(Error::InvalidResource {
                name: "hugepageLimits.pageSize",
                value: size.clone(),
                reason: "the kernel offers no hugetlb limit for this page size",
            });
        }
        let value = match (limit.limit(), v2) {
            (value, true) if value < 0 => "max".to_owned(),
            (value, _) => value.to_string(),
        };
        file::write(dir, &name, &value)?;
        let rsvd = format!("hugetlb.{size}.rsvd.{}", if v2 { "max" } else { "limit_in_bytes" });
        if file::exists(dir, &rsvd) {
            file::write(dir, &rsvd, &value)?;
        }
    }
    Ok(())
}

/// The huge page sizes of this host as cgroup file names spell them (`2MB`, `1GB`), from
/// `/sys/kernel/mm/hugepages/hugepages-<kB>kB`.
pub(crate) fn page_sizes() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/kernel/mm/hugepages") else { return Vec::new() };
    let mut sizes: Vec<(u64, String)> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| {
            let kb: u64 = name.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok()?;
            Some((kb, size_name(kb)))
        })
        .collect();
    sizes.sort();
    sizes.into_iter().map(|(_, name)| name).collect()
}

/// `2048` kB -> `2MB`, `1048576` -> `1GB`, `64` -> `64KB` (the kernel's `mem_fmt`).
pub(crate) fn size_name(kb: u64) -> String {
    if kb >= 1 << 20 && kb % (1 << 20) == 0 {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 && kb % (1 << 10) == 0 {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxHugepageLimitBuilder;

    fn limit(size: &str, value: i64) -> LinuxHugepageLimit {
        LinuxHugepageLimitBuilder::default().page_size(size).limit(value).build().unwrap()
    }

    #[test]
    fn names() {
        assert_eq!(size_name(2048), "2MB");
        assert_eq!(size_name(1_048_576), "1GB");
        assert_eq!(size_name(64), "64KB");
    }

    #[test]
    fn v1_and_v2_files() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max"] {
            std::fs::write(tmp.path().join(name), "").unwrap();
        }
        apply(tmp.path(), &[limit("2MB", 4 << 20)], false).unwrap();
        apply(tmp.path(), &[limit("2MB", -1)], true).unwrap();
        let get = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap();
        assert_eq!(get("hugetlb.2MB.limit_in_bytes"), (4 << 20).to_string());
        assert_eq!(get("hugetlb.2MB.max"), "max");
        assert_eq!(get("hugetlb.2MB.rsvd.max"), "max");
        let err = apply(tmp.path(), &[limit("3MB", 1)], true).unwrap_err();
        assert!(err.to_string().contains("3MB"), "{err}");
    }
}
