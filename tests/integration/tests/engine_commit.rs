//! `berth diff`, `export`, `history` and `commit` on real containers of an image imported
//! from the busybox test rootfs (plus a few files of its own): a container adds, changes and
//! deletes files (and replaces a directory), then `diff` shows Docker's A/C/D lines,
//! `export` has the changes and not the deleted files (read from the engine's mount and,
//! once that is gone, from a private read-only mount that leaves nothing behind), `commit`
//! makes an image that `run` sees the same way, with its entry on top of `history`; a
//! running container is paused for the commit and thawed after; the layer's names are all
//! relative; a committed image pushes to the registry fixture and pulls back. Bad input
//! fails in one line, exit 125, and creates nothing.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;
use std::process::Command;

use berth_test_support::engine::Engine;
use berth_test_support::{require_container, Output};

const BASE: &str = "localhost/base:v1";

/// An engine whose store holds `BASE`: the busybox rootfs with `/srv/old/gone`, two hard
/// links `/srv/h1` and `/srv/h2`, imported.
fn with_image(label: &str) -> Engine {
    let env = Engine::with_rootfs(label);
    let rootfs = env.rootfs();
    std::fs::create_dir_all(rootfs.join("srv/old")).unwrap();
    std::fs::write(rootfs.join("srv/old/gone"), "old\n").unwrap();
    std::fs::write(rootfs.join("srv/h1"), "linked\n").unwrap();
    std::fs::hard_link(rootfs.join("srv/h1"), rootfs.join("srv/h2")).unwrap();
    let tarball = env.path("base.tar");
    let made =
        Command::new("tar").arg("-cf").arg(&tarball).arg("-C").arg(&rootfs).arg(".").status();
    assert!(made.unwrap().success());
    env.berth(["import", &tarball.display().to_string(), BASE]).success();
    env
}

/// What the test containers do to the image.
const CHANGES: &str = "echo new > /tmp/new; echo more >> /etc/passwd; rm /etc/group; \
                       rm -rf /srv/old; mkdir /srv/old; echo fresh > /srv/old/fresh";

/// `berth run --name NAME BASE sh -c SCRIPT` under the engine's cgroup parent.
fn run(env: &Engine, flags: &[&str], script: &str) -> Output {
    let mut args = vec!["run", "--cgroup-parent", env.parent()];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[BASE, "sh", "-c", script]);
    env.berth(args)
}

/// Entry names of a tar (trailing `/` dropped), and the link target of each hard link.
fn entries(tar: &[u8]) -> Vec<(String, tar::EntryType, String)> {
    berth_test_support::tarfile::listing(tar)
        .into_iter()
        .map(|(name, kind, link)| (name.trim_end_matches('/').to_string(), kind, link))
        .collect()
}

fn file_in(tar: &[u8], name: &str) -> String {
    let mut archive = tar::Archive::new(tar);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap() == Path::new(name) {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            return s;
        }
    }
    panic!("{name} not in the archive");
}

/// The top layer of `image` as an uncompressed tar, read back through `berth save`.
fn top_layer(env: &Engine, image: &str) -> Vec<u8> {
    let saved = env.path("saved.tar");
    env.berth(["save", "-o", &saved.display().to_string(), image]).success();
    let archive = std::fs::read(&saved).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&file_in(&archive, "manifest.json")).unwrap();
    let top = manifest[0]["Layers"].as_array().unwrap().last().unwrap().as_str().unwrap();
    let mut layer = Vec::new();
    for e in tar::Archive::new(&archive[..]).entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap() == Path::new(top) {
            e.read_to_end(&mut layer).unwrap();
        }
    }
    layer
}

fn export(env: &Engine, name: &str) -> Vec<u8> {
    let out = env.command().args(["export", name]).into_command().output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The exported tree has the changes and none of the deleted files.
fn check_export(tar: &[u8]) {
    let list = entries(tar);
    let names: Vec<&str> = list.iter().map(|e| e.0.as_str()).collect();
    for want in ["tmp/new", "srv/old/fresh", "etc/passwd", "bin/busybox", "proc", "sys"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    for gone in ["etc/group", "srv/old/gone"] {
        assert!(!names.contains(&gone), "{gone} deleted but exported");
    }
    assert!(names.iter().all(|n| !n.starts_with('/') && !n.split('/').any(|c| c == "..")));
    assert!(!names.iter().any(|n| n.starts_with("proc/") || n.starts_with("sys/")));
    let h2 = list.iter().find(|e| e.0 == "srv/h2").unwrap();
    assert_eq!((h2.1, h2.2.as_str()), (tar::EntryType::Link, "srv/h1"), "a hard link stays one");
    assert!(file_in(tar, "etc/passwd").ends_with("more\n"));
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.display().to_string();
    text.lines().filter(|l| l.contains(&d)).map(str::to_string).collect()
}

#[test]
fn diff_export_commit_run_and_history_of_a_stopped_container() {
    require_container!();
    let env = with_image("commit");
    run(&env, &["--name", "c"], CHANGES).success();
    let diff = env.berth(["diff", "c"]);
    diff.success();
    assert_eq!(
        diff.stdout,
        "C /etc\nD /etc/group\nC /etc/passwd\nC /srv\nD /srv/old\nA /srv/old/fresh\n\
         C /tmp\nA /tmp/new\n",
        "Docker's lines in Docker's order\n{diff}"
    );
    check_export(&export(&env, "c"));
    let file = env.path("c.tar");
    env.berth(["export", "-o", &file.display().to_string(), "c"]).success();
    check_export(&std::fs::read(&file).unwrap());
    // The engine's mount gone (as after a reboot): read through a private read-only mount,
    // which leaves no mount behind.
    let id = env.inspect("c")["Id"].as_str().unwrap().to_string();
    let rootfs = env.path(&format!("data/containers/{id}/rootfs"));
    assert!(Command::new("umount").arg(&rootfs).status().unwrap().success());
    let before = mounts_under(env.dir());
    check_export(&export(&env, "c"));
    assert_eq!(mounts_under(env.dir()), before, "export left a mount");
    let out = env.berth(["commit", "-m", "my change", "-a", "Someone", "-c", "ENV FOO=bar", "c"]);
    out.success();
    let id = out.stdout.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    env.berth(["tag", &id, "localhost/committed:v1"]).success();
    let seen = env.run_image(
        "localhost/committed:v1",
        &["sh", "-c", "cat /tmp/new /srv/old/*; tail -n1 /etc/passwd; ls /etc/group; echo $FOO"],
    );
    assert_eq!(seen.stdout, "new\nfresh\nmore\nbar\n", "{seen}");
    assert!(seen.stderr.contains("/etc/group"), "deleted in the image too: {seen}");
    let history = env.berth(["history", "localhost/committed:v1"]);
    history.success();
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert!(lines[0].starts_with("IMAGE          CREATED "), "{history}");
    assert!(lines[1].starts_with(&format!("{}   ", &id[7..19])), "{history}");
    assert!(lines[1].contains("sh -c echo new > /tmp/new;") && lines[1].ends_with("my change"));
    assert!(lines[2].starts_with("<missing>") && lines[2].contains("Imported from"), "{history}");
    let quiet = env.berth(["history", "-q", "--no-trunc", "localhost/committed:v1"]);
    assert_eq!(quiet.stdout, format!("{id}\n<missing>\n"), "{quiet}");
    let json = env.berth(["history", "--format", "json", "localhost/committed:v1"]);
    let top: serde_json::Value = serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(top["Comment"], "my change", "{json}");
    // SIZE is the layer's unpacked bytes, as Docker's: the three files the container wrote
    // (whiteouts and directories count 0), not the compressed blob.
    let raw = env.berth(["history", "--human=false", "--format", "json", "localhost/committed:v1"]);
    let top: serde_json::Value = serde_json::from_str(raw.stdout.lines().next().unwrap()).unwrap();
    let passwd = std::fs::metadata(env.rootfs().join("etc/passwd")).unwrap().len();
    let written = "new\n".len() + "fresh\n".len() + "more\n".len();
    assert_eq!(top["Size"], (passwd + written as u64).to_string(), "{raw}");
    let doc = env.berth(["image", "inspect", "localhost/committed:v1"]);
    let doc: serde_json::Value = serde_json::from_str(&doc.stdout).unwrap();
    assert_eq!(doc[0]["Author"], "Someone");
    assert_eq!(doc[0]["RootFS"]["Layers"].as_array().unwrap().len(), 2, "{doc}");
    env.finish();
    assert!(mounts_under(env.dir()).is_empty(), "{:?}", mounts_under(env.dir()));
}

#[test]
fn a_running_container_is_paused_for_the_commit_and_thawed_after() {
    require_container!();
    let env = with_image("commit-running");
    run(&env, &["-d", "--name", "r"], "sleep 1000").success();
    // Nothing changed yet: the engine's own mount targets in /etc do not count.
    assert_eq!(env.berth(["diff", "r"]).success().stdout, "");
    env.berth(["exec", "r", "sh", "-c", "echo live > /tmp/live"]).success();
    let diff = env.berth(["diff", "r"]);
    assert_eq!(diff.stdout, "C /tmp\nA /tmp/live\n", "{diff}");
    let out = env.berth(["commit", "r", "localhost/live:v1"]);
    out.success();
    let state = &env.inspect("r")["State"];
    assert_eq!((state["Running"].as_bool(), state["Paused"].as_bool()), (Some(true), Some(false)));
    env.berth(["exec", "r", "sh", "-c", "echo second > /tmp/second"]).success();
    env.berth(["commit", "--pause=false", "r", "localhost/live:v2"]).success();
    let seen = env.run_image("localhost/live:v2", &["cat", "/tmp/live", "/tmp/second"]);
    assert_eq!(seen.stdout, "live\nsecond\n", "{seen}");
    // The committed command is the container's: the new image runs it by default.
    let doc = env.berth(["image", "inspect", "localhost/live:v1"]);
    let doc: serde_json::Value = serde_json::from_str(&doc.stdout).unwrap();
    assert_eq!(doc[0]["Config"]["Cmd"], serde_json::json!(["sh", "-c", "sleep 1000"]));
    check_export_has(&export(&env, "r"), "tmp/second");
    // A user's pause is the user's: commit neither takes it over nor ends it.
    env.berth(["pause", "r"]).success();
    env.berth(["commit", "r", "localhost/live:v3"]).success();
    assert_eq!(env.inspect("r")["State"]["Paused"], true);
    env.berth(["unpause", "r"]).success();
    env.finish();
}

#[test]
fn a_running_rm_container_commits_too() {
    require_container!();
    let env = with_image("commit-rm");
    // A `--rm` container's overlay is volatile and its options are not saved: they come
    // from its mount.
    run(&env, &["--rm", "-d", "--name", "t"], "echo soon > /tmp/rm; sleep 1000").success();
    let start = std::time::Instant::now();
    while !env.berth(["diff", "t"]).success().stdout.contains("A /tmp/rm\n") {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "no /tmp/rm");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    check_export_has(&export(&env, "t"), "tmp/rm");
    env.berth(["commit", "t", "localhost/rm:v1"]).success();
    let seen = env.run_image("localhost/rm:v1", &["cat", "/tmp/rm"]);
    assert_eq!(seen.stdout, "soon\n", "{seen}");
    env.finish();
}

fn check_export_has(tar: &[u8], name: &str) {
    assert!(entries(tar).iter().any(|e| e.0 == name), "{name} exported");
}

#[test]
fn the_committed_layer_holds_only_relative_names() {
    require_container!();
    let env = with_image("commit-names");
    let long = "n".repeat(200);
    let script = format!(
        "mkdir -p '/x/a b/c'; echo q > '/x/a b/c/quote\"d'; ln -s ../../../../../etc/shadow /x/up; \
         ln -s /etc/passwd /x/abs; echo l > /x/{long}; rm /bin/vi"
    );
    run(&env, &["--name", "h"], &script).success();
    env.berth(["commit", "h", "localhost/names:v1"]).success();
    let layer = top_layer(&env, "localhost/names:v1");
    let list = entries(&layer);
    for (name, _, _) in &list {
        assert!(!name.starts_with('/') && !name.split('/').any(|c| c == ".."), "{name}");
    }
    let find = |n: &str| list.iter().find(|e| e.0 == n).unwrap_or_else(|| panic!("{n}: {list:?}"));
    assert_eq!(find("x/up").2, "../../../../../etc/shadow", "a symlink's target is data");
    assert_eq!(find("bin/.wh.vi").1, tar::EntryType::Regular, "a whiteout in OCI form");
    find(&format!("x/{long}"));
    find("x/a b/c/quote\"d");
    // The layer unpacks as any pulled one: the links are links inside the container.
    let seen = env.run_image("localhost/names:v1", &["sh", "-c", "readlink /x/up; ls /bin/vi"]);
    assert!(seen.stdout.starts_with("../../../../../etc/shadow\n"), "{seen}");
    assert!(seen.stderr.contains("/bin/vi"), "{seen}");
    env.finish();
}

#[test]
fn a_commit_killed_stores_no_image_and_the_next_one_works() {
    require_container!();
    let env = with_image("commit-kill");
    run(&env, &["-d", "--name", "k"], "echo k > /tmp/k; sleep 1000").success();
    env.wait_for("k", 10, |d| d["State"]["Running"] == true);
    let images = env.images();
    for point in ["commit-paused", "commit-before-record"] {
        let cmd = env.command().env("BERTH_ENGINE_FAULT", point);
        let out = cmd.args(["commit", "k", "localhost/killed:v1"]).output();
        assert_eq!(out.code(), None, "{point}: killed\n{out}");
        assert_eq!(env.images(), images, "{point}: no image recorded");
    }
    // Killed while it held the container frozen: the pause it held is nobody's now, and the
    // next look thaws it (the runtime refuses an exec into a frozen container).
    let state = &env.inspect("k")["State"];
    assert_eq!((state["Running"].as_bool(), state["Paused"].as_bool()), (Some(true), Some(false)));
    env.berth(["exec", "k", "true"]).success();
    assert!(env.berth(["unpause", "k"]).code().is_some_and(|c| c != 0), "not paused any more");
    env.berth(["image", "prune", "-f"]).success();
    let id = env.berth(["commit", "k", "localhost/killed:v1"]).success().stdout.clone();
    assert!(id.starts_with("sha256:"));
    let seen = env.run_image("localhost/killed:v1", &["cat", "/tmp/k"]);
    assert_eq!(seen.stdout, "k\n", "{seen}");
    env.finish();
}

/// Exit 125, one line naming `what`, nothing new in the store.
fn fails_cleanly(env: &Engine, out: &Output, what: &str, images: &str) {
    assert_eq!(out.code(), Some(125), "{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out}");
    assert!(out.stderr.contains(what), "names {what:?}: {out}");
    assert_eq!(env.images(), images, "nothing stored");
}

#[test]
fn bad_input_fails_in_one_line_and_creates_nothing() {
    require_container!();
    let env = with_image("commit-bad");
    run(&env, &["--name", "c"], "echo x > /.wh.evil").success();
    let images = env.images();
    let out_file = env.path("never.tar");
    let o = out_file.display().to_string();
    let cases: [(&[&str], &str); 8] = [
        (&["diff", "nosuch"], "nosuch"),
        (&["export", "nosuch"], "nosuch"),
        (&["export", "-o", &o, "nosuch"], "nosuch"),
        (&["history", "nosuch:v9"], "nosuch:v9"),
        (&["commit", "nosuch"], "nosuch"),
        (&["commit", "-c", "RUN rm -rf /", "c"], "RUN is not a valid change command"),
        (&["commit", "c", "Bad/UPPER:case"], "Bad/UPPER:case"),
        (&["commit", "c", "localhost/evil:v1"], ".wh.evil"),
    ];
    for (args, what) in cases {
        fails_cleanly(&env, &env.berth(args), what, &images);
    }
    assert!(!out_file.exists(), "no partial export");
    let names: Vec<_> =
        std::fs::read_dir(env.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!names.iter().any(|n| n.to_string_lossy().contains("berth-export")), "{names:?}");
    // A --rootfs container has no layers to compare or commit.
    env.run(&["--name", "plain"], &["true"]).success();
    fails_cleanly(&env, &env.berth(["diff", "plain"]), "--rootfs", &images);
    fails_cleanly(&env, &env.berth(["commit", "plain"]), "--rootfs", &images);
    env.finish();
}

/// Deletes, when dropped, the manifest a test pushed to the fixture's plain registry.
struct PushedManifest {
    url: String,
}

impl Drop for PushedManifest {
    fn drop(&mut self) {
        let _ = Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-X", "DELETE", &self.url])
            .status();
    }
}

#[test]
fn a_committed_image_pushes_and_pulls_back() {
    require_container!();
    let fx = berth_test_support::require_registry!();
    let env = with_image("commit-push");
    run(&env, &["--name", "c"], CHANGES).success();
    let repository = format!("commit-{}/base", std::process::id());
    let target = fx.plain.reference(&format!("{repository}:v1"));
    let id = env.berth(["commit", "c", &target]).success().stdout.trim().to_string();
    let _cleanup =
        PushedManifest { url: format!("{}/v2/{repository}/manifests/{id}", fx.plain.url) };
    let out = env.berth(["push", &target]);
    out.success();
    assert!(
        out.stdout.contains(&format!("v1: digest: {id} ")),
        "the image id is the digest: {out}"
    );
    env.berth(["rm", "c"]).success();
    env.berth(["rmi", &target]).success();
    env.berth(["rmi", BASE]).success();
    assert_eq!(env.images(), "", "nothing left locally");
    env.berth(["pull", "-q", &target]).success();
    let seen = env.run_image(&target, &["sh", "-c", "cat /tmp/new /srv/old/fresh; ls /srv/old"]);
    assert_eq!(seen.stdout, "new\nfresh\nfresh\n", "{seen}");
    env.finish();
}

/// The `SCHILY.xattr.security.capability` record of `name` in a tar, if any.
fn capability(tar: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut archive = tar::Archive::new(tar);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap() != Path::new(name) {
            continue;
        }
        let pax = e.pax_extensions().unwrap()?;
        for ext in pax {
            let ext = ext.unwrap();
            if ext.key().unwrap() == "SCHILY.xattr.security.capability" {
                return Some(ext.value_bytes().to_vec());
            }
        }
    }
    None
}

#[test]
fn file_capabilities_survive_export_and_commit() {
    require_container!();
    if !Path::new("/usr/sbin/setcap").exists() && !Path::new("/sbin/setcap").exists() {
        assert!(!berth_test_support::prereq::strict(), "setcap (libcap2-bin) is needed");
        eprintln!("SKIP file_capabilities_survive_export_and_commit: no setcap (libcap2-bin)");
        return;
    }
    let env = with_image("commit-caps");
    run(&env, &["--name", "p"], "cp /bin/busybox /srv/pinger").success();
    let id = env.inspect("p")["Id"].as_str().unwrap().to_string();
    // Set from the host on the container's own copy, as `setcap` inside it would.
    let file = env.path(&format!("data/containers/{id}/upper/srv/pinger"));
    assert!(Command::new("setcap").arg("cap_net_raw+ep").arg(&file).status().unwrap().success());
    let exported = capability(&export(&env, "p"), "srv/pinger");
    assert!(exported.as_ref().is_some_and(|c| c.len() >= 20), "{exported:?}");
    env.berth(["commit", "p", "localhost/caps:v1"]).success();
    let layer = top_layer(&env, "localhost/caps:v1");
    assert_eq!(capability(&layer, "srv/pinger"), exported, "the layer keeps it too");
    env.finish();
}
