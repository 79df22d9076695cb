use std::path::Path;

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
};

use super::*;

/// A fake v2 tree: `root/a/b` with `cgroup.controllers` and `cgroup.subtree_control` at each
/// level.
fn tree(root: &Path, controllers: &str) {
    for dir in [root.to_path_buf(), root.join("a"), root.join("a/b")] {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup.controllers"), controllers).unwrap();
        std::fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
    }
}

fn subtree(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap()
}

#[test]
fn enables_from_root_down_to_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    tree(root, "cpuset cpu io memory pids\n");
    std::fs::write(root.join("cgroup.subtree_control"), "cpu memory\n").unwrap();
    enable_controllers(root, &root.join("a/b")).unwrap();
    // The fixture file keeps only the last write; the kernel would merge.
    assert_eq!(subtree(root), "+cpuset +io +pids");
    assert_eq!(subtree(&root.join("a")), "+cpuset +cpu +io +memory +pids");
    assert_eq!(subtree(&root.join("a/b")), "", "the leaf itself delegates nothing");
}

#[test]
fn nothing_to_enable() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path(), "");
    enable_controllers(tmp.path(), &tmp.path().join("a/b")).unwrap();
    assert_eq!(subtree(tmp.path()), "");
}

#[test]
fn missing_controllers_file_is_a_read_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("a")).unwrap();
    let err = enable_controllers(tmp.path(), &tmp.path().join("a")).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
}

#[test]
fn applies_all_resources_and_unified() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for name in ["memory.max", "memory.swap.max", "cpu.weight", "cpu.max", "pids.max", "io.weight"]
    {
        std::fs::write(dir.join(name), "").unwrap();
    }
    let resources = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(1 << 30).swap(-1).build().unwrap())
        .cpu(LinuxCpuBuilder::default().shares(1024u64).quota(50_000).build().unwrap())
        .pids(LinuxPidsBuilder::default().limit(-1).build().unwrap())
        .unified(HashMap::from([("io.weight".to_owned(), "50".to_owned())]))
        .build()
        .unwrap();
    apply(dir, &resources).unwrap();
    let get = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(get("memory.max"), "1073741824");
    assert_eq!(get("memory.swap.max"), "max");
    assert_eq!(get("cpu.weight"), "39");
    assert_eq!(get("cpu.max"), "50000");
    assert_eq!(get("pids.max"), "max");
    assert_eq!(get("io.weight"), "50");
}

#[test]
fn unified_key_cannot_escape() {
    let tmp = tempfile::tempdir().unwrap();
    for key in ["../x", "a/b", "", ".hidden"] {
        let map = HashMap::from([(key.to_owned(), "1".to_owned())]);
        let err = apply_unified(tmp.path(), &map).unwrap_err();
        assert!(matches!(err, Error::InvalidResource { .. }), "{key}: {err}");
    }
}
