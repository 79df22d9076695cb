//! A runtime killed at every point of `create` and `delete` (as a crash or `kill -9` would):
//! afterwards `state` answers, `delete --force` succeeds, and nothing is left — no process,
//! cgroup, mount or state entry. The points are berth-runtime's own
//! (`BERTH_RUNTIME_FAULT`, crates/runtime/src/fault.rs); runc has none, so these tests are
//! berth-only.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use berth_test_support::{require_container, Bundle, Container};

/// berth-runtime's fault points of one command (`create`, `delete`), so a point added there
/// is tested here without a second list to keep in step.
fn points(command: &str) -> Vec<&'static str> {
    let prefix = format!("{command}-");
    berth_runtime::fault::POINTS.into_iter().filter(|p| p.starts_with(&prefix)).collect()
}

fn is_berth(c: &Container) -> bool {
    c.runtime().path.file_name().is_some_and(|n| n == "berth-runtime")
}

fn sleeper(name: &str) -> Bundle {
    let mut b = Bundle::new(name);
    b.args(&["sleep", "1000"]);
    b.write_config();
    b
}

#[test]
fn create_killed_at_every_point_leaves_nothing_after_delete() {
    require_container!();
    let create = points("create");
    assert!(!create.is_empty());
    for point in create {
        let b = sleeper(&format!("fault-{}", &point[7..]));
        let c = Container::new(&b);
        if !is_berth(&c) {
            eprintln!("skip: fault points are berth-runtime's own");
            return;
        }
        let args = ["create", "--bundle", b.path().to_str().unwrap(), c.id()];
        let out = c.cmd(args).env("BERTH_RUNTIME_FAULT", point).output();
        assert_eq!(out.status.code(), None, "{point}: killed by SIGKILL\n{out}");
        // Whatever `state` says, it answers without crashing; then delete cleans up.
        let _ = c.state_output();
        let del = c.delete(true);
        del.success();
        c.assert_nothing_left();
        eprintln!("ok {point}");
    }
}

#[test]
fn delete_killed_half_way_can_be_run_again() {
    require_container!();
    let delete = points("delete");
    assert!(!delete.is_empty());
    for point in delete {
        let b = sleeper(&format!("fault-{point}"));
        let c = Container::new(&b);
        if !is_berth(&c) {
            eprintln!("skip: fault points are berth-runtime's own");
            return;
        }
        c.run_detached().success();
        let out = c.cmd(["delete", "--force", c.id()]).env("BERTH_RUNTIME_FAULT", point).output();
        assert_eq!(out.status.code(), None, "{point}: killed\n{out}");
        c.delete(true).success();
        c.assert_nothing_left();
    }
}
