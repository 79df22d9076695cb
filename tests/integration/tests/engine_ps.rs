//! `berth ps --filter` (Docker's semantics: the same key ORs, different keys AND; a status
//! filter lists stopped containers without `-a`), `ps --format json` (Docker's fields),
//! `-n`/`-l` (the newest containers in any state) and `-s` (SIZE, with the image's).

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use berth_test_support::engine::Engine;
use berth_test_support::require_container;

/// The names `ps ARGS… --format json` lists, sorted.
fn names(env: &Engine, args: &[&str]) -> Vec<String> {
    let mut all = vec!["ps", "--format", "json"];
    all.extend_from_slice(args);
    let out = env.berth(all);
    out.success();
    let mut names: Vec<String> = out
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["Names"].as_str().unwrap().to_string()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn filters_or_within_a_key_and_across_keys() {
    require_container!();
    let env = Engine::with_rootfs("ps");
    env.run(&["-d", "--name", "web", "-l", "tier=front"], &["sleep", "1000"]).success();
    env.run(&["-d", "--name", "frozen", "-l", "tier=front"], &["sleep", "1000"]).success();
    env.berth(["pause", "frozen"]).success();
    env.run(&["--name", "job", "-l", "tier=back"], &["true"]).success();
    env.make("create", &["--name", "fresh"], &["true"]).success();
    assert_eq!(names(&env, &[]), ["frozen", "web"], "running and paused by default");
    assert_eq!(names(&env, &["-f", "status=exited"]), ["job"], "a status filter needs no -a");
    assert_eq!(names(&env, &["-f", "status=running", "-f", "status=created"]), ["fresh", "web"]);
    assert_eq!(names(&env, &["-f", "status=paused"]), ["frozen"]);
    assert_eq!(names(&env, &["-a", "-f", "label=tier=back"]), ["job"]);
    assert_eq!(names(&env, &["-a", "-f", "label=tier"]), ["frozen", "job", "web"]);
    assert_eq!(names(&env, &["-a", "-f", "label=tier", "-f", "status=running"]), ["web"]);
    assert_eq!(
        names(&env, &["-a", "-f", "name=^we", "-f", "name=^fr"]),
        ["fresh", "frozen", "web"]
    );
    assert_eq!(names(&env, &["-a", "-f", "name=^/jo"]), ["job"], "Docker's leading slash");
    let job = env.inspect("job")["Id"].as_str().unwrap().to_string();
    assert_eq!(names(&env, &["-a", "-f", &format!("id={}", &job[..6])]), ["job"]);
    let q = env.berth(["ps", "-q", "--no-trunc", "-f", "status=exited"]);
    assert_eq!(q.stdout, format!("{job}\n"), "{q}");
    for bad in ["status=sleeping", "colour=red", "name=(", "status"] {
        let out = env.berth(["ps", "-f", bad]);
        assert_eq!(out.code(), Some(125), "{bad}\n{out}");
        assert!(out.stderr.contains("--filter"), "{out}");
    }
    env.finish();
}

#[test]
fn json_lines_have_dockers_fields() {
    require_container!();
    let env = Engine::with_rootfs("ps");
    let flags = ["-d", "--name", "j", "-l", "a=1", "-l", "b=2", "-v", "vol:/v", "-v", "/etc:/h"];
    env.run(&flags, &["sleep", "1000"]).success();
    let out = env.berth(["ps", "--format", "json"]);
    out.success();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let doc = env.inspect("j");
    assert_eq!(v["ID"], doc["Id"].as_str().unwrap()[..12], "{v}");
    assert_eq!(v["Names"], "j");
    assert_eq!(v["State"], "running");
    assert_eq!(v["Labels"], "a=1,b=2");
    assert_eq!(v["Command"], "\"sleep 1000\"");
    assert_eq!(v["Pid"], doc["State"]["Pid"]);
    assert_eq!(v["Mounts"], "vol,/etc");
    assert_eq!(v["LocalVolumes"], "1");
    assert!(v["Status"].as_str().unwrap().starts_with("Up "), "{v}");
    assert!(v["CreatedAt"].as_str().unwrap().ends_with(" +0000 UTC"), "{v}");
    let bad = env.berth(["ps", "--format", "{{.Names}}"]);
    assert_eq!(bad.code(), Some(125), "{bad}");
    env.finish();
}

#[test]
fn ancestor_matches_the_image_by_reference_or_id() {
    require_container!();
    let registry = &berth_test_support::require_registry!().plain.host;
    let env = Engine::with_rootfs("ps");
    let image = format!("{registry}/busybox:latest");
    let id = env.berth(["pull", "-q", &image]);
    id.success();
    let id = id.stdout.trim().to_string();
    env.berth(["create", "--name", "img", "--cgroup-parent", env.parent(), &image, "true"])
        .success();
    env.make("create", &["--name", "plain"], &["true"]).success();
    assert_eq!(names(&env, &["-a", "-f", &format!("ancestor={image}")]), ["img"]);
    let short = id.trim_start_matches("sha256:");
    assert_eq!(names(&env, &["-a", "-f", &format!("ancestor={}", &short[..12])]), ["img"]);
    assert!(names(&env, &["-a", "-f", "ancestor=no-such-image"]).is_empty());
    env.finish();
}

/// Output to a reader that went away (`berth ps | head -1`) ends quietly with exit 0, as
/// `ls` and `docker` do, not with "Broken pipe" and 125. A socket whose peer is closed gives
/// the write EPIPE without a race.
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    use std::process::Stdio;

    require_container!();
    let env = Engine::with_rootfs("pipe");
    env.make("create", &["--name", "quiet"], &["true"]).success();
    for args in [&["inspect", "quiet"][..], &["ps", "-a"], &["ps", "-a", "--format", "json"]] {
        let (reader, writer) = UnixStream::pair().unwrap();
        drop(reader);
        let mut cmd = env.command().args(args).into_command();
        let out = cmd.stdout(Stdio::from(OwnedFd::from(writer))).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn last_and_latest_are_the_newest_in_any_state() {
    require_container!();
    let env = Engine::with_rootfs("ps");
    env.run(&["--name", "first"], &["true"]).success();
    env.run(&["-d", "--name", "second"], &["sleep", "1000"]).success();
    env.make("create", &["--name", "third"], &["true"]).success();
    assert_eq!(names(&env, &[]), ["second"], "running ones by default");
    assert_eq!(names(&env, &["-n", "1"]), ["third"], "a created one counts");
    assert_eq!(names(&env, &["-l"]), ["third"]);
    assert_eq!(names(&env, &["--latest"]), ["third"]);
    assert_eq!(names(&env, &["-n", "2"]), ["second", "third"]);
    assert_eq!(names(&env, &["--last", "9"]), ["first", "second", "third"]);
    assert_eq!(names(&env, &["-n", "0"]), ["second"], "Docker's -n 0 is no limit");
    // The limit counts the containers the filters pass.
    assert_eq!(names(&env, &["-n", "1", "-f", "status=exited"]), ["first"]);
    let third = env.inspect("third")["Id"].as_str().unwrap().to_string();
    let q = env.berth(["ps", "-lq", "--no-trunc"]);
    assert_eq!(q.stdout, format!("{third}\n"), "{q}");
    // Newest first in the table too.
    let table = env.berth(["ps", "-n", "3"]);
    let order: Vec<&str> =
        table.stdout.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(order.len(), 3, "{table}");
    assert_eq!(order[0], &third[..12], "{table}");
    env.finish();
}

#[test]
fn size_is_the_writable_layer_and_virtual_adds_the_image() {
    require_container!();
    let registry = &berth_test_support::require_registry!().plain.host;
    let env = Engine::with_rootfs("ps");
    let image = format!("{registry}/busybox:latest");
    env.berth(["pull", "-q", &image]).success();
    let parent = env.parent();
    let write = "head -c 1000000 /dev/zero > /big";
    env.berth(["run", "--name", "big", "--cgroup-parent", parent, &image, "sh", "-c", write])
        .success();
    env.berth(["create", "--name", "fresh", "--cgroup-parent", parent, &image, "true"]).success();
    env.make("create", &["--name", "plain"], &["true"]).success();
    // The image's size as `images` prints it: the last column of its row.
    let images = env.berth(["images"]);
    let row = images.stdout.lines().find(|l| l.contains("busybox")).unwrap();
    let image_size = row.split_whitespace().last().unwrap().to_string();
    let size_of = |name: &str| {
        let out =
            env.berth(["ps", "-a", "-s", "--format", "json", "-f", &format!("name=^{name}$")]);
        out.success();
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
        v["Size"].as_str().unwrap().to_string()
    };
    assert_eq!(size_of("fresh"), format!("0B (virtual {image_size})"));
    let big = size_of("big");
    assert!(big.starts_with("1MB (virtual "), "1,000,000 bytes written: {big}");
    assert_eq!(size_of("plain"), "0B", "a --rootfs directory is not berth's to count");
    // Without -s nothing is counted: Docker's JSON says 0B.
    let plain = env.berth(["ps", "-a", "--format", "json", "-f", "name=^big$"]);
    let v: serde_json::Value = serde_json::from_str(plain.stdout.trim()).unwrap();
    assert_eq!(v["Size"], "0B", "{plain}");
    // The table: SIZE after NAMES, PID still last.
    let table = env.berth(["ps", "-a", "-s"]);
    let header = table.stdout.lines().next().unwrap();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(columns[columns.len() - 3..], ["NAMES", "SIZE", "PID"], "{table}");
    let line = table.stdout.lines().find(|l| l.contains(" fresh ")).unwrap();
    assert!(line.contains("B (virtual "), "{table}");
    assert!(!env.berth(["ps", "-a"]).stdout.contains("SIZE"), "no column without -s");
    env.finish();
}
