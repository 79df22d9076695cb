use super::*;

/// A classic cgroup v1 host (Debian 10 / CentOS 7 style, cpu and cpuacct co-mounted).
pub(crate) const MOUNTINFO_V1: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
27 26 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,name=systemd
30 26 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
31 26 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
32 26 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
33 26 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset,clone_children
";

/// A pure cgroup v2 host, plus an unrelated tmpfs.
pub(crate) const MOUNTINFO_V2: &str = "\
24 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
40 24 0:33 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw
";

/// This build host: v1 hierarchies with cpu and cpuacct apart, cgroup2 at `unified`.
pub(crate) const MOUNTINFO_HYBRID: &str =
    include_str!("../../tests/fixtures/mountinfo-hybrid-host");

#[test]
fn v1_hierarchies_in_mount_order() {
    let layout = Layout::from_mountinfo(MOUNTINFO_V1).unwrap();
    assert!(!layout.is_v2());
    let Layout::V1 { hierarchies } = &layout else { panic!("not v1: {layout:?}") };
    let names: Vec<String> = hierarchies.iter().map(|h| h.controllers.join(",")).collect();
    assert_eq!(names, ["name=systemd", "cpu,cpuacct", "memory", "pids", "cpuset"]);
    assert_eq!(hierarchies[1].mount.mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
    assert_eq!(hierarchies[1].mount.root, Path::new("/"));
    assert!(hierarchies[4].has("cpuset"));
    assert!(layout.unified().is_none());
}

#[test]
fn hybrid_host_sample() {
    let layout = Layout::from_mountinfo(MOUNTINFO_HYBRID).unwrap();
    let Layout::Hybrid { hierarchies, unified } = &layout else { panic!("not hybrid: {layout:?}") };
    assert_eq!(unified.mount_point, Path::new("/sys/fs/cgroup/unified"));
    let memory = hierarchies.iter().find(|h| h.has("memory")).unwrap();
    assert_eq!(memory.mount.mount_point, Path::new("/sys/fs/cgroup/memory"));
    // cpu and cpuacct are separate mounts on this host.
    assert!(hierarchies.iter().any(|h| h.controllers == ["cpu"]));
    assert!(hierarchies.iter().any(|h| h.controllers == ["cpuacct"]));
    assert!(!layout.is_v2());
}

#[test]
fn pure_v2() {
    let layout = Layout::from_mountinfo(MOUNTINFO_V2).unwrap();
    assert!(layout.is_v2());
    assert_eq!(layout.unified().unwrap().mount_point, Path::new("/sys/fs/cgroup"));
    assert!(layout.hierarchies().is_empty());
}

#[test]
fn v2_with_only_a_named_v1_hierarchy_is_v2() {
    let text = format!(
        "{MOUNTINFO_V2}50 30 0:40 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    );
    assert!(Layout::from_mountinfo(&text).unwrap().is_v2());
}

#[test]
fn bind_mount_of_same_hierarchy_is_ignored() {
    let text = format!(
        "{MOUNTINFO_V1}60 22 0:28 /docker/x /mnt/mem rw,relatime - cgroup cgroup rw,memory\n"
    );
    let layout = Layout::from_mountinfo(&text).unwrap();
    let memory: Vec<_> = layout.hierarchies().iter().filter(|h| h.has("memory")).collect();
    assert_eq!(memory.len(), 1);
    assert_eq!(memory[0].mount.mount_point, Path::new("/sys/fs/cgroup/memory"));
}

#[test]
fn mount_root_and_escapes() {
    let text = "30 24 0:26 /kube\\040pods /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n";
    let layout = Layout::from_mountinfo(text).unwrap();
    let unified = layout.unified().unwrap();
    assert_eq!(unified.mount_point, Path::new("/sys/fs/my cgroup"));
    assert_eq!(unified.root, Path::new("/kube pods"));
}

#[test]
fn no_cgroup_mount() {
    let text = "24 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n";
    assert!(matches!(Layout::from_mountinfo(text), Err(Error::NoCgroupMount)));
}

#[test]
fn malformed_line_names_its_number() {
    let text = format!("{MOUNTINFO_V2}garbage line\n");
    let err = Layout::from_mountinfo(&text).unwrap_err();
    assert_eq!(err.to_string(), "parse mountinfo line 4: no ' - ' separator");
}

#[test]
fn super_options_filtering() {
    assert_eq!(v1_controllers("rw,cpuset,clone_children,release_agent=/x"), ["cpuset"]);
    assert_eq!(v1_controllers("rw,cpuacct,cpu"), ["cpu", "cpuacct"]);
    assert_eq!(v1_controllers("rw,xattr,name=systemd"), ["name=systemd"]);
}
