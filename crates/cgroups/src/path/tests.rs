use super::*;
use crate::layout::tests::{MOUNTINFO_HYBRID, MOUNTINFO_V1, MOUNTINFO_V2};

const OWN_V1: &str = "\
12:cpuset:/
11:memory:/user.slice/session-3.scope
4:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/session-3.scope
3:pids:/user.slice/session-3.scope
";
const OWN_HYBRID: &str = include_str!("../../tests/fixtures/proc-cgroup-hybrid-host");
const OWN_V2_ROOT: &str = "0::/\n";

fn paths(cgroup: &Cgroup) -> Vec<String> {
    cgroup.dirs().iter().map(|d| d.path.display().to_string()).collect()
}

#[test]
fn parses_proc_cgroup() {
    let own = parse_proc_cgroup(OWN_V1).unwrap();
    assert_eq!(own.unified, None);
    assert!(own.v1.contains(&(vec!["cpu".into(), "cpuacct".into()], "/user.slice".into())));
    let own = parse_proc_cgroup("0::/system.slice/x.service\n").unwrap();
    assert_eq!(own.unified.as_deref(), Some("/system.slice/x.service"));
    assert!(parse_proc_cgroup("garbage\n").is_err());
}

#[test]
fn v1_relative_nests_under_own_cgroup_per_hierarchy() {
    let layout = Layout::from_mountinfo(MOUNTINFO_V1).unwrap();
    let cgroup = resolve(&layout, OWN_V1, None, "berth/c1").unwrap();
    assert_eq!(cgroup.mode(), Mode::V1);
    assert_eq!(
        paths(&cgroup),
        [
            "/sys/fs/cgroup/systemd/user.slice/session-3.scope/berth/c1",
            "/sys/fs/cgroup/cpu,cpuacct/user.slice/berth/c1",
            "/sys/fs/cgroup/memory/user.slice/session-3.scope/berth/c1",
            "/sys/fs/cgroup/pids/user.slice/session-3.scope/berth/c1",
            "/sys/fs/cgroup/cpuset/berth/c1",
        ]
    );
    assert_eq!(
        cgroup.path_of("cpuacct"),
        Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/user.slice/berth/c1"))
    );
}

#[test]
fn absolute_is_relative_to_mount_point() {
    let layout = Layout::from_mountinfo(MOUNTINFO_V1).unwrap();
    // The own-cgroup text is not even parsed for absolute paths.
    let cgroup = resolve(&layout, "garbage", Some(Path::new("/kube//pod1/./c1")), "x").unwrap();
    assert_eq!(cgroup.dirs()[2].path, Path::new("/sys/fs/cgroup/memory/kube/pod1/c1"));
}

#[test]
fn hybrid_host_sample_includes_unified() {
    let layout = Layout::from_mountinfo(MOUNTINFO_HYBRID).unwrap();
    let cgroup = resolve(&layout, OWN_HYBRID, Some(Path::new("t/c1")), "x").unwrap();
    assert_eq!(cgroup.mode(), Mode::Hybrid);
    let unified = cgroup.dirs().iter().find(|d| d.is_unified()).unwrap();
    assert_eq!(unified.path, Path::new("/sys/fs/cgroup/unified/t/c1"));
    let memory = cgroup.path_of("memory").unwrap();
    assert!(memory.starts_with("/sys/fs/cgroup/memory/"), "{memory:?}");
    assert!(memory.ends_with("t/c1"));
}

#[test]
fn v2_root_and_nested() {
    let layout = Layout::from_mountinfo(MOUNTINFO_V2).unwrap();
    let cgroup = resolve(&layout, OWN_V2_ROOT, None, "berth/c1").unwrap();
    assert_eq!(cgroup.mode(), Mode::V2);
    assert_eq!(paths(&cgroup), ["/sys/fs/cgroup/berth/c1"]);
    let cgroup = resolve(&layout, "0::/system.slice/a.service\n", Some(Path::new("c1")), "x");
    assert_eq!(paths(&cgroup.unwrap()), ["/sys/fs/cgroup/system.slice/a.service/c1"]);
    assert_eq!(cgroup_path_of_v2(&layout), "/sys/fs/cgroup/berth/c1");
}

fn cgroup_path_of_v2(layout: &Layout) -> String {
    let cgroup = resolve(layout, OWN_V2_ROOT, Some(Path::new("")), "berth/c1").unwrap();
    cgroup.path_of("memory").unwrap().display().to_string()
}

#[test]
fn mount_root_is_stripped() {
    let text = "30 24 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    let layout = Layout::from_mountinfo(text).unwrap();
    let cgroup = resolve(&layout, "0::/docker/abc/init\n", None, "c1").unwrap();
    assert_eq!(paths(&cgroup), ["/sys/fs/cgroup/init/c1"]);
    let err = resolve(&layout, "0::/elsewhere\n", None, "c1").unwrap_err();
    assert!(matches!(err, Error::OwnCgroupOutsideMount { .. }), "{err}");
}

#[test]
fn refused_paths() {
    let layout = Layout::from_mountinfo(MOUNTINFO_V2).unwrap();
    for bad in ["/", "a/../../etc", "..", "/./"] {
        let err = resolve(&layout, OWN_V2_ROOT, Some(Path::new(bad)), "x").unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{bad}: {err}");
    }
}

#[test]
fn own_cgroup_missing() {
    let layout = Layout::from_mountinfo(MOUNTINFO_V1).unwrap();
    let err = resolve(&layout, "0::/\n", None, "c1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "own cgroup for hierarchy name=systemd not found in /proc/self/cgroup"
    );
}

#[test]
fn serde_round_trip() {
    let layout = Layout::from_mountinfo(MOUNTINFO_V1).unwrap();
    let cgroup = resolve(&layout, OWN_V1, None, "berth/c1").unwrap();
    let json = serde_json::to_string(&cgroup).unwrap();
    assert!(json.contains("\"mode\":\"v1\""), "{json}");
    let back: Cgroup = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cgroup);
}
