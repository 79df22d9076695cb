//! The root half of the hostile-image corpus (the rest is `crates/image/tests/hostile.rs`):
//! images built here as docker-archives and taken in by `berth load`, so the layers are
//! unpacked as berth unpacks them, as root (device nodes made, owners applied), and then run.
//! A block device of the host's disk in an image is made, but the container cannot open it;
//! setuid bits and owners are kept as in the image; a layer escaping with `..` or through a
//! symlink is refused by `load` naming the layer digest and the entry, and a canary directory
//! on the host keeps its fingerprint.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_test_support::canary::fingerprint;
use berth_test_support::engine::Engine;
use berth_test_support::require_container;
use berth_test_support::tarfile::{self, Tar};
use sha2::{Digest as _, Sha256};
use tar::EntryType;

fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// A layer under construction: busybox and its applets, then whatever a test adds.
struct Layer(Tar);

impl Layer {
    fn busybox() -> Layer {
        let mut l = Layer(Tar::new());
        for d in ["bin/", "etc/", "proc/", "sys/", "dev/", "tmp/"] {
            l.add(EntryType::Directory, d.as_bytes(), b"", b"", 0o755, (0, 0));
        }
        let busybox = std::fs::read("/bin/busybox").unwrap();
        l.add(EntryType::Regular, b"bin/busybox", b"", &busybox, 0o755, (0, 0));
        let list = std::process::Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().split_whitespace() {
            if applet != "busybox" {
                let name = format!("bin/{applet}");
                l.add(EntryType::Symlink, name.as_bytes(), b"busybox", b"", 0o777, (0, 0));
            }
        }
        l
    }

    /// Appends one entry; names and link targets go in raw, as a hostile producer writes
    /// them.
    fn add(
        &mut self,
        kind: EntryType,
        name: &[u8],
        link: &[u8],
        data: &[u8],
        mode: u32,
        owner: (u64, u64),
    ) -> &mut Layer {
        self.0.owned(kind, (name, link), data, mode, owner);
        self
    }

    fn device(&mut self, kind: EntryType, name: &[u8], major: u32, minor: u32) -> &mut Layer {
        self.0.device(kind, name, major, minor);
        self
    }

    fn bytes(mut self) -> Vec<u8> {
        self.0.end()
    }
}

/// A docker-archive of one image `tag` with `layers` (uncompressed), in `dir`.
fn docker_archive(dir: &Path, tag: &str, layers: &[Vec<u8>]) -> PathBuf {
    let config = serde_json::json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]});
    let path = dir.join(format!("{}.tar", tag.replace(['/', ':'], "_")));
    std::fs::write(&path, tarfile::docker_archive(tag, &config, layers)).unwrap();
    path
}

/// glibc's `major()`/`minor()` of a `dev_t`.
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (u32::try_from(major).unwrap(), u32::try_from(minor).unwrap())
}

#[test]
fn host_disk_node_in_an_image_is_made_but_cannot_be_opened() {
    require_container!();
    let env = Engine::new("hostile");
    let root_dev = std::fs::metadata("/").unwrap().dev();
    // A block device of whatever backs the host's `/` (a real disk, or an anonymous 0:N).
    let (major, minor) = split_dev(root_dev);
    let mut l = Layer::busybox();
    l.device(EntryType::Block, b"hostdisk", major, minor);
    l.device(EntryType::Char, b"kmem", 1, 2);
    l.add(EntryType::Regular, b"suid-file", b"", b"#!/bin/sh\n", 0o4755, (0, 0));
    l.add(EntryType::Regular, b"owned", b"", b"x", 0o2750, (1234, 5678));
    let archive = docker_archive(env.dir(), "localhost/hostile-nodes:1", &[l.bytes()]);
    env.berth(["load", "-i", archive.to_str().unwrap()]).success();
    // Inside: the nodes are there as the image says; opening them is the device cgroup's
    // to refuse (berth run allows only the default devices).
    let script = "stat -c '%n %F %t:%T %a %u:%g' /hostdisk /kmem /suid-file /owned; \
                  head -c 1 /hostdisk >/dev/null && echo hostdisk=opened; \
                  head -c 1 /kmem >/dev/null && echo kmem=opened; true";
    let out = env.run_image("localhost/hostile-nodes:1", &["sh", "-c", script]);
    out.success();
    let want = [
        format!("/hostdisk block special file {major:x}:{minor:x} 666 0:0"),
        "/kmem character special file 1:2 666 0:0".to_string(),
        "/suid-file regular file 0:0 4755 0:0".to_string(),
        "/owned regular file 0:0 2750 1234:5678".to_string(),
    ];
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want, "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    env.finish();
}

#[test]
fn load_refuses_escaping_layers_naming_layer_and_entry() {
    require_container!();
    let env = Engine::new("hostile");
    let canary = env.path("canary");
    std::fs::create_dir_all(canary.join("dir")).unwrap();
    std::fs::write(canary.join("file"), b"host data").unwrap();
    let before = fingerprint(&canary);
    let abs = canary.join("pwned").into_os_string().into_encoded_bytes();
    let up = [b"../".repeat(12), abs.clone()].concat();
    let canary_bytes = canary.clone().into_os_string().into_encoded_bytes();
    let cases: [(&str, Layer); 3] = [
        ("has a `..` component", {
            let mut l = Layer::busybox();
            l.add(EntryType::Regular, &up, b"", b"pwned", 0o644, (0, 0));
            l
        }),
        ("has an absolute name", {
            let mut l = Layer::busybox();
            l.add(EntryType::Regular, &abs, b"", b"pwned", 0o644, (0, 0));
            l
        }),
        ("writes through a symlink", {
            let mut l = Layer::busybox();
            l.add(EntryType::Symlink, b"escape", &canary_bytes, b"", 0o777, (0, 0));
            l.add(EntryType::Regular, b"escape/pwned", b"", b"pwned", 0o644, (0, 0));
            l
        }),
    ];
    for (i, (reason, layer)) in cases.into_iter().enumerate() {
        let layer = layer.bytes();
        let entry = match i {
            0 => String::from_utf8(up.clone()).unwrap(),
            1 => String::from_utf8(abs.clone()).unwrap(),
            _ => "escape/pwned".to_string(),
        };
        let tag = format!("localhost/hostile-escape:{i}");
        let archive = docker_archive(env.dir(), &tag, std::slice::from_ref(&layer));
        let out = env.berth(["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(out.code(), Some(125), "{out}");
        assert!(out.stderr.contains(&sha256(&layer)), "names the layer digest: {out}");
        assert!(out.stderr.contains(&entry) && out.stderr.contains(reason), "{out}");
        assert!(!env.images().contains("hostile-escape"), "no image recorded: {out}");
        assert_eq!(fingerprint(&canary), before, "the canary changed ({reason})");
    }
    env.finish();
}
