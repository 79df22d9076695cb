//! Invalid input must be refused cleanly: non-zero exit, one stderr line naming the field or
//! path at fault, and nothing left behind (runtime.md "Errors": an error MUST leave the
//! environment as if the operation were never attempted; "Create": a new container MUST NOT
//! be created).

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use berth_test_support::{require_container, Bundle, Container};
use serde_json::json;

/// Runs `create` and checks the refusal: failure, exactly one non-empty stderr line that
/// contains one of `needles` (case-insensitive), an empty state root, no cgroup, process or
/// mount left.
#[track_caller]
fn expect_rejected(c: &Container, needles: &[&str]) {
    let out = c.create();
    out.failure();
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "exactly one error line\n{out}");
    let line = lines[0].to_lowercase();
    assert!(
        needles.iter().any(|n| line.contains(&n.to_lowercase())),
        "the error names one of {needles:?}\n{out}"
    );
    assert!(c.state_entries().is_empty(), "state root is empty: {:?}", c.state_entries());
    c.assert_nothing_left();
}

fn rejected(b: &Bundle, needles: &[&str]) {
    let c = Container::new(b);
    expect_rejected(&c, needles);
}

#[test]
fn config_syntax_error() {
    require_container!();
    let b = Bundle::new("bad-syntax");
    b.write_raw_config("{\"ociVersion\": \"1.0.2\", \"process\": {");
    rejected(&b, &["config.json"]);
}

#[test]
fn config_wrong_type() {
    require_container!();
    let mut b = Bundle::new("bad-type");
    b.spec["process"]["args"] = json!("sh");
    b.write_config();
    rejected(&b, &["args"]);
}

#[test]
fn unknown_namespace_type() {
    require_container!();
    let mut b = Bundle::new("bad-ns");
    b.namespace("foo", None);
    b.write_config();
    rejected(&b, &["foo"]);
}

#[test]
fn duplicate_namespace_type() {
    require_container!();
    // config-linux.md "Namespaces": duplicated types MUST generate an error.
    let mut b = Bundle::new("dup-ns");
    b.spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "uts"}));
    b.write_config();
    rejected(&b, &["uts", "duplicate"]);
}

#[test]
fn namespace_path_of_wrong_type() {
    require_container!();
    // config-linux.md "Namespaces": MUST error if `path` is not a namespace of type `type`.
    let mut b = Bundle::new("ns-wrong-type");
    let path = format!("/proc/{}/ns/uts", std::process::id());
    b.namespace("network", Some(&path));
    b.write_config();
    rejected(&b, &[&path, "network", "netns"]);
}

#[test]
fn missing_rootfs() {
    require_container!();
    let mut b = Bundle::new("no-rootfs");
    b.spec["root"]["path"] = json!("missing-rootfs");
    b.write_config();
    rejected(&b, &["missing-rootfs"]);
}

#[test]
fn bind_mount_of_missing_source() {
    require_container!();
    let mut b = Bundle::new("bad-mount");
    b.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": "/nonexistent-berth-source",
        "options": ["rbind"]
    }));
    b.write_config();
    rejected(&b, &["/nonexistent-berth-source"]);
}

#[test]
fn mount_of_unknown_filesystem_type() {
    require_container!();
    let mut b = Bundle::new("bad-fstype");
    b.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "berthfs", "source": "none"
    }));
    b.write_config();
    rejected(&b, &["berthfs", "/data"]);
}

#[test]
fn uid_mappings_without_user_namespace() {
    require_container!();
    // Mappings that cannot apply are a config mistake; berth refuses them (runc ignores them).
    let mut b = Bundle::new("maps-no-userns");
    b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    b.write_config();
    rejected(&b, &["uidMappings", "mapping", "user namespace"]);
}

#[test]
fn device_path_conflicts_with_existing_file() {
    require_container!();
    // config-linux.md "Devices": a file at `path` that does not match MUST generate an error.
    let mut b = Bundle::new("dev-conflict");
    std::fs::write(b.rootfs().join("devfile"), "not a device\n").unwrap();
    b.spec["linux"]["devices"] = json!([{"path": "/devfile", "type": "c", "major": 1, "minor": 3}]);
    b.write_config();
    rejected(&b, &["/devfile"]);
}

#[test]
fn id_with_slash() {
    require_container!();
    let b = Bundle::new("id-slash");
    expect_rejected(&Container::with_id(&b, "a/b"), &["container id", "a/b"]);
}

#[test]
fn id_dot_dot() {
    require_container!();
    let b = Bundle::new("id-dotdot");
    expect_rejected(&Container::with_id(&b, ".."), &["container id", ".."]);
}

#[test]
fn bundle_is_not_a_directory() {
    require_container!();
    let b = Bundle::new("bundle-file");
    let file = b.path().join("config.json");
    let c = Container::new(&b);
    let out = c.cmd(["create", "--bundle"]).args([file.as_os_str()]).args([c.id()]).output();
    out.failure();
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "exactly one error line\n{out}");
    assert!(lines[0].contains(file.to_str().unwrap()), "the error names the bundle\n{out}");
    assert!(c.state_entries().is_empty());
    c.assert_nothing_left();
}

#[test]
fn process_not_found_fails_create_or_start() {
    require_container!();
    let mut b = Bundle::new("no-binary");
    b.args(&["/no/such/binary"]);
    b.write_config();
    let c = Container::new(&b);
    // runc and crun report this at create; a runtime may defer to start. Either way it fails.
    let created = c.create();
    if created.status.success() {
        c.start().failure();
        c.delete(true).success();
    } else {
        let lines = created.stderr_lines();
        assert!(lines.iter().any(|l| l.contains("/no/such/binary")), "{created}");
    }
    c.assert_nothing_left();
}

#[test]
fn readonly_path_that_does_not_exist_is_ignored() {
    require_container!();
    // config-linux.md "Readonly Paths" gives no error case; runc skips a missing path, and
    // berth must too: the container is created and runs.
    let mut b = Bundle::new("ro-missing");
    b.spec["linux"]["readonlyPaths"].as_array_mut().unwrap().push(json!("/no-such-ro-path"));
    b.args(&["true"]);
    b.write_config();
    let c = Container::new(&b);
    c.run().success();
    assert!(!b.rootfs().join("no-such-ro-path").exists(), "nothing is created for it");
    c.assert_nothing_left();
}

#[test]
fn invalid_rootfs_propagation() {
    require_container!();
    let mut b = Bundle::new("bad-propagation");
    b.spec["linux"]["rootfsPropagation"] = json!("sideways");
    b.write_config();
    rejected(&b, &["rootfsPropagation", "sideways"]);
}

#[test]
fn relative_cwd() {
    require_container!();
    // config.md Process: "cwd ... This value MUST be an absolute path."
    let mut b = Bundle::new("relative-cwd");
    b.spec["process"]["cwd"] = json!("tmp");
    b.write_config();
    rejected(&b, &["cwd"]);
}

#[test]
fn empty_args() {
    require_container!();
    // config.md Process: "args ... at least one entry" (REQUIRED on POSIX for create).
    let mut b = Bundle::new("empty-args");
    b.args(&[]);
    b.write_config();
    rejected(&b, &["args"]);
}

#[test]
fn bundle_that_does_not_exist() {
    require_container!();
    let b = Bundle::new("bundle-missing");
    let missing = b.path().join("no-such-bundle");
    let c = Container::new(&b);
    let out = c.cmd(["create", "--bundle"]).args([missing.as_os_str()]).args([c.id()]).output();
    out.failure();
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "exactly one error line\n{out}");
    assert!(lines[0].contains(missing.to_str().unwrap()), "the error names the bundle\n{out}");
    assert!(c.state_entries().is_empty());
    c.assert_nothing_left();
}

#[test]
fn id_of_1025_chars() {
    require_container!();
    let b = Bundle::new("id-long");
    let id = "a".repeat(1025);
    expect_rejected(&Container::with_id(&b, &id), &["container id", "too long", "invalid"]);
}
