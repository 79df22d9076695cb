use oci_spec::runtime::LinuxMemoryBuilder;

use super::*;

/// The value the kernel shows for "unlimited" (PAGE_COUNTER_MAX * PAGE_SIZE on x86_64).
const UNLIMITED: &str = "9223372036854771712";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(limit: &str, memsw: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LIMIT), limit).unwrap();
        if let Some(memsw) = memsw {
            std::fs::write(dir.path().join(MEMSW), memsw).unwrap();
        }
        for name in ["memory.soft_limit_in_bytes", "memory.swappiness", "memory.oom_control"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        Fixture { dir }
    }

    fn get(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap()
    }
}

#[test]
fn limit_reservation_swappiness_oom() {
    let fx = Fixture::new(UNLIMITED, Some(UNLIMITED));
    let memory = LinuxMemoryBuilder::default()
        .limit(64 << 20)
        .swap(128 << 20)
        .reservation(32 << 20)
        .swappiness(10u64)
        .disable_oom_killer(true)
        .build()
        .unwrap();
    apply(fx.dir.path(), &memory).unwrap();
    assert_eq!(fx.get(LIMIT), (64 << 20).to_string());
    assert_eq!(fx.get(MEMSW), (128 << 20).to_string());
    assert_eq!(fx.get("memory.soft_limit_in_bytes"), (32 << 20).to_string());
    assert_eq!(fx.get("memory.swappiness"), "10");
    assert_eq!(fx.get("memory.oom_control"), "1");
}

#[test]
fn write_order_depends_on_direction() {
    // Raising: the new memsw (256M) is above the current limit (64M), so memsw goes first.
    let fx = Fixture::new(&(64 << 20).to_string(), Some(&(64 << 20).to_string()));
    assert_eq!(first_write(&fx, 128 << 20, 256 << 20), MEMSW);
    // Lowering: the limit goes first, or the new memsw would be below the current limit.
    let fx = Fixture::new(&(256 << 20).to_string(), Some(&(512 << 20).to_string()));
    assert_eq!(first_write(&fx, 32 << 20, 64 << 20), LIMIT);
    // Unlimited memsw can always go first.
    let fx = Fixture::new(&(256 << 20).to_string(), Some(&(512 << 20).to_string()));
    assert_eq!(first_write(&fx, 32 << 20, -1), MEMSW);
}

/// Which file `set_limit_and_swap` writes first. The memsw file is replaced by a directory so
/// writing it fails; if the limit changed anyway, the limit was written before it.
fn first_write(fx: &Fixture, limit: i64, swap: i64) -> &'static str {
    let before = fx.get(LIMIT);
    let memsw = fx.dir.path().join(MEMSW);
    std::fs::remove_file(&memsw).unwrap();
    std::fs::create_dir(&memsw).unwrap();
    let err = set_limit_and_swap(fx.dir.path(), Some(limit), Some(swap)).unwrap_err();
    assert!(err.to_string().contains(MEMSW), "{err}");
    if fx.get(LIMIT) == before {
        MEMSW
    } else {
        LIMIT
    }
}

#[test]
fn unlimited_memory_lifts_swap_too() {
    let fx = Fixture::new(&(64 << 20).to_string(), Some(&(128 << 20).to_string()));
    apply(fx.dir.path(), &LinuxMemoryBuilder::default().limit(-1).build().unwrap()).unwrap();
    assert_eq!(fx.get(LIMIT), "-1");
    assert_eq!(fx.get(MEMSW), "-1");
}

#[test]
fn no_swap_accounting() {
    let fx = Fixture::new(UNLIMITED, None);
    // memsw == limit means "no swap", which is what the host gives anyway.
    let same = LinuxMemoryBuilder::default().limit(1 << 20).swap(1 << 20).build().unwrap();
    apply(fx.dir.path(), &same).unwrap();
    assert_eq!(fx.get(LIMIT), "1048576");
    let more = LinuxMemoryBuilder::default().limit(1 << 20).swap(2 << 20).build().unwrap();
    let err = apply(fx.dir.path(), &more).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
}

#[test]
fn invalid_values() {
    let fx = Fixture::new(UNLIMITED, Some(UNLIMITED));
    let below = LinuxMemoryBuilder::default().limit(2 << 20).swap(1 << 20).build().unwrap();
    assert!(matches!(apply(fx.dir.path(), &below), Err(Error::InvalidResource { .. })));
    let negative = LinuxMemoryBuilder::default().limit(-5).build().unwrap();
    let err = apply(fx.dir.path(), &negative).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid resource memory.limit = -5: must be -1 (unlimited) or positive"
    );
    let swappiness = LinuxMemoryBuilder::default().swappiness(101u64).build().unwrap();
    assert!(apply(fx.dir.path(), &swappiness).is_err());
}

#[test]
fn write_error_names_file_and_value() {
    let tmp = tempfile::tempdir().unwrap();
    let err = apply(tmp.path(), &LinuxMemoryBuilder::default().reservation(5).build().unwrap())
        .unwrap_err();
    let expect = format!("write 5 to {}", tmp.path().join("memory.soft_limit_in_bytes").display());
    assert_eq!(err.to_string(), expect);
    assert!(std::error::Error::source(&err).is_some());
}
