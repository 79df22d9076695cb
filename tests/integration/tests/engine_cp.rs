//! `berth cp` both ways, on running and stopped containers, with Docker's rules for files,
//! directories, trailing `/.` and `-` (tar streams); paths in the container never resolve
//! to the host, whatever symlinks the container has.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use berth_test_support::engine::Engine;
use berth_test_support::require_container;

fn exec(env: &Engine, name: &str, script: &str) -> String {
    let out = env.berth(["exec", name, "sh", "-c", script]);
    out.success();
    out.stdout.clone()
}

fn cp(env: &Engine, args: &[&str]) -> berth_test_support::Output {
    let mut all = vec!["cp"];
    all.extend_from_slice(args);
    env.berth(all)
}

#[test]
fn into_and_out_of_a_running_container() {
    require_container!();
    let env = Engine::with_rootfs("cp");
    env.run(&["-d", "--name", "c"], &["sleep", "1000"]).success();
    let id = env.inspect("c")["Id"].as_str().unwrap().to_string();
    let host = env.path("host");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("tree/sub/f"), "nested\n").unwrap();
    std::fs::write(host.join("file"), "one file\n").unwrap();
    std::os::unix::fs::chown(host.join("file"), Some(1234), Some(1234)).unwrap();
    let h = |p: &str| host.join(p).display().to_string();
    // A file into a directory keeps its name and becomes root's; with -a it keeps its owner.
    cp(&env, &[&h("file"), "c:/tmp/"]).success();
    assert_eq!(exec(&env, "c", "cat /tmp/file; stat -c %u:%g /tmp/file"), "one file\n0:0\n");
    cp(&env, &["-a", &h("file"), "c:/tmp/kept"]).success();
    assert_eq!(exec(&env, "c", "stat -c %u:%g /tmp/kept"), "1234:1234\n");
    // A directory: as a subdirectory, as a new name, or only its contents with `/.`.
    exec(&env, "c", "mkdir /in");
    cp(&env, &[&h("tree"), "c:/in"]).success();
    cp(&env, &[&h("tree"), "c:/renamed"]).success();
    cp(&env, &[&format!("{}/.", h("tree")), "c:/in"]).success();
    let ls = exec(&env, "c", "cat /in/tree/sub/f /renamed/sub/f /in/sub/f");
    assert_eq!(ls, "nested\nnested\nnested\n");
    // Out: the container's view, mounts included (/etc/hostname is a bind mount).
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    cp(&env, &["c:/etc/hostname", &out.display().to_string()]).success();
    assert_eq!(std::fs::read_to_string(out.join("hostname")).unwrap(), format!("{}\n", &id[..12]));
    cp(&env, &["c:/in", &out.join("copy").display().to_string()]).success();
    assert_eq!(std::fs::read_to_string(out.join("copy/tree/sub/f")).unwrap(), "nested\n");
    let me = std::fs::metadata(out.join("copy/tree/sub/f")).unwrap();
    assert_eq!((me.uid(), me.gid()), (0, 0), "the caller's owner (root here)");
    // Docker's errors.
    let cases: [(&[&str], &str); 4] = [
        (&[&h("tree"), "c:/etc/hostname"], "cannot copy a directory to a file"),
        (&[&h("file"), "c:/no/such/dir/"], "must exist"),
        (&["nothing-here:/x", &h("x")], "no such container"),
        (&[&h("file"), &h("file2")], "CONTAINER:PATH"),
    ];
    for (args, needle) in cases {
        let o = cp(&env, args);
        assert_eq!(o.code(), Some(125), "{args:?}\n{o}");
        assert!(o.stderr.contains(needle), "{needle}\n{o}");
    }
    env.finish();
}

#[test]
fn container_symlinks_never_reach_the_host() {
    require_container!();
    let env = Engine::with_rootfs("cp");
    let secret_dir = env.path("secret");
    std::fs::create_dir(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("key"), "host secret\n").unwrap();
    let sd = secret_dir.display().to_string();
    env.run(&["-d", "--name", "c"], &["sleep", "1000"]).success();
    // The container points symlinks at a host path and at `..` beyond its root.
    exec(
        &env,
        "c",
        &format!("ln -s {sd} /evil; ln -s ../../../../../../{sd} /up; ln -s {sd}/key /file-link"),
    );
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    let o = out.display().to_string();
    for src in ["c:/evil/key", "c:/up/key"] {
        let r = cp(&env, &[src, &o]);
        assert_eq!(
            r.code(),
            Some(125),
            "{src} resolves inside the container, where it is not\n{r}"
        );
    }
    assert!(!out.join("key").exists());
    // SRC itself is not followed: the link is copied as a link.
    cp(&env, &["c:/file-link", &o]).success();
    assert!(std::fs::symlink_metadata(out.join("file-link")).unwrap().file_type().is_symlink());
    // Writing through them fails (or lands in the container), never in the host directory.
    std::fs::write(env.path("payload"), "x").unwrap();
    let p = env.path("payload").display().to_string();
    for dst in ["c:/evil/", "c:/up/", "c:/evil/payload"] {
        let _ = cp(&env, &[&p, dst]);
    }
    let names: Vec<_> =
        std::fs::read_dir(&secret_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["key"], "nothing written to the host through a container symlink");
    env.finish();
}

#[test]
fn stopped_container_rootfs_and_volumes() {
    require_container!();
    let env = Engine::with_rootfs("cp");
    env.make("create", &["--name", "s", "-v", "vol:/vol"], &["sh", "-c", "cat /vol/in /etc/in"])
        .success();
    std::fs::write(env.path("in"), "copied while stopped\n").unwrap();
    let p = env.path("in").display().to_string();
    cp(&env, &[&p, "s:/vol/"]).success();
    cp(&env, &[&p, "s:/etc/in"]).success();
    let data = env.path("data/volumes/vol/_data/in");
    assert!(data.exists(), "a path under a volume goes to the volume");
    let start = env.berth(["start", "-a", "s"]);
    assert_eq!(start.stdout, "copied while stopped\ncopied while stopped\n", "{start}");
    // And out again, stopped.
    let out = env.path("out");
    cp(&env, &["s:/vol/in", &out.display().to_string()]).success();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "copied while stopped\n");
    env.finish();
}

#[test]
fn tar_streams_on_stdin_and_stdout() {
    require_container!();
    let env = Engine::with_rootfs("cp");
    env.run(&["-d", "--name", "c"], &["sleep", "1000"]).success();
    exec(&env, "c", "mkdir -p /data/sub && echo deep > /data/sub/f && ln -s sub/f /data/l");
    exec(&env, "c", "ln /data/sub/f /data/hard");
    // Out: the tar has the directory as its top entry; `/.` gives only the contents.
    let mut berth = env.command().args(["cp", "c:/data", "-"]).into_command();
    let tar = berth.output().unwrap();
    assert!(tar.status.success(), "{}", String::from_utf8_lossy(&tar.stderr));
    let listing = |bytes: &[u8]| {
        let f = env.path("listing.tar");
        std::fs::write(&f, bytes).unwrap();
        let l = Command::new("tar").arg("-tf").arg(&f).output().unwrap();
        let mut names: Vec<String> = String::from_utf8_lossy(&l.stdout)
            .lines()
            .map(|s| s.trim_end_matches('/').to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(listing(&tar.stdout), ["data", "data/hard", "data/l", "data/sub", "data/sub/f"]);
    // Written as `export` writes (Docker's walk order; a hard link stays one).
    let entries = berth_test_support::tarfile::listing(&tar.stdout);
    let got: Vec<(&str, tar::EntryType, &str)> =
        entries.iter().map(|(n, k, l)| (n.as_str(), *k, l.as_str())).collect();
    assert_eq!(got[4], ("data/sub/f", tar::EntryType::Link, "data/hard"), "{got:?}");
    let mut berth = env.command().args(["cp", "c:/data/.", "-"]).into_command();
    assert_eq!(listing(&berth.output().unwrap().stdout), ["hard", "l", "sub", "sub/f"]);
    // Through a stream into another directory, the link is a link again.
    let mut out = env.command().args(["cp", "c:/data", "-"]).into_command();
    let stream = env.path("data.tar");
    std::fs::write(&stream, out.output().unwrap().stdout).unwrap();
    let stream = std::fs::File::open(&stream).unwrap();
    env.command().args(["cp", "-", "c:/tmp"]).stdin(stream).output().success();
    let inodes = exec(&env, "c", "stat -c %i /tmp/data/hard /tmp/data/sub/f");
    let inodes: Vec<&str> = inodes.lines().collect();
    assert_eq!(inodes.len(), 2, "{inodes:?}");
    assert_eq!(inodes[0], inodes[1], "one file, two names");
    // In: a tar made by tar(1) is extracted into an existing directory.
    let src = env.path("src");
    std::fs::create_dir_all(src.join("x")).unwrap();
    std::fs::write(src.join("x/y"), "from a stream\n").unwrap();
    let archive = env.path("in.tar");
    let made = Command::new("tar").arg("-cf").arg(&archive).arg("-C").arg(&src).arg("x").status();
    assert!(made.unwrap().success());
    let stdin = || std::fs::File::open(&archive).unwrap();
    env.command().args(["cp", "-", "c:/tmp"]).stdin(stdin()).output().success();
    assert_eq!(exec(&env, "c", "cat /tmp/x/y"), "from a stream\n");
    let bad = env.command().args(["cp", "-", "c:/no/such"]).stdin(stdin()).output();
    assert_eq!(bad.code(), Some(125), "{bad}");
    assert!(bad.stderr.contains("existing directory"), "{bad}");
    assert!(Path::new(&archive).exists());
    env.finish();
}
