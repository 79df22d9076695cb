//! Layer-writer tests on temporary directories; what needs privileges (a whiteout device,
//! an opaque xattr) is tried and skipped with a reason when the kernel refuses it.

use std::os::unix::fs::symlink;

use super::*;

fn open(p: &Path) -> OwnedFd {
    rfs::open(p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap()
}

use berth_test_support::tarfile::listing;

fn write(root: &Path, opts: &TreeOptions) -> Vec<u8> {
    write_tree(open(root).as_fd(), Vec::new(), opts).unwrap().0
}

#[test]
fn overlay_marks_map_to_oci_names() {
    assert_eq!(overlay_mark(FileType::CharacterDevice, 0, None), OverlayMark::Whiteout);
    assert_eq!(overlay_mark(FileType::CharacterDevice, 1 << 32 | 3, None), OverlayMark::Plain);
    assert_eq!(overlay_mark(FileType::Directory, 0, Some(b"y")), OverlayMark::Opaque);
    assert_eq!(overlay_mark(FileType::Directory, 0, Some(b"n")), OverlayMark::Plain);
    assert_eq!(overlay_mark(FileType::Directory, 0, None), OverlayMark::Plain);
    assert_eq!(overlay_mark(FileType::RegularFile, 0, Some(b"y")), OverlayMark::Plain);
    assert_eq!(whiteout_name(Path::new("etc"), OsStr::new("motd")), Path::new("etc/.wh.motd"));
    assert_eq!(whiteout_name(Path::new(""), OsStr::new("x")), Path::new(".wh.x"));
    assert_eq!(opaque_marker(Path::new("var/lib")), Path::new("var/lib/.wh..wh..opq"));
}

#[test]
fn tree_in_walk_order_with_links_fifos_and_skipped_contents() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    std::fs::create_dir_all(r.join("a/b")).unwrap();
    std::fs::write(r.join("a/b/f"), "data").unwrap();
    std::fs::write(r.join("a-c"), "x").unwrap();
    std::fs::hard_link(r.join("a-c"), r.join("z-link")).unwrap();
    symlink("/etc/passwd", r.join("abs")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        r.join("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    std::fs::create_dir_all(r.join("proc/1")).unwrap();
    std::fs::write(r.join("proc/1/status"), "secret").unwrap();
    let opts = TreeOptions {
        whiteouts: false,
        skip_contents: vec![PathBuf::from("proc")],
        ..Default::default()
    };
    let names: Vec<(String, tar::EntryType, String)> = listing(&write(r, &opts));
    let got: Vec<&str> = names.iter().map(|(n, _, _)| n.as_str()).collect();
    // Go's walk order: `a/b` (inside `a`) before `a-c`, though `-` sorts before `/`.
    assert_eq!(got, ["a", "a/b", "a/b/f", "a-c", "abs", "fifo", "proc", "z-link"]);
    let kind = |n: &str| names.iter().find(|e| e.0 == n).unwrap().clone();
    assert_eq!(kind("abs").1, tar::EntryType::Symlink);
    assert_eq!(kind("abs").2, "/etc/passwd");
    assert_eq!(kind("fifo").1, tar::EntryType::Fifo);
    assert_eq!(kind("z-link").1, tar::EntryType::Link);
    assert_eq!(kind("z-link").2, "a-c");
    for (n, _, _) in &names {
        assert!(!n.starts_with('/') && !n.split('/').any(|c| c == ".."), "{n}");
    }
}

#[test]
fn whiteouts_and_opaque_directories_become_oci_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    let dev = rustix::fs::mknodat(
        rustix::fs::CWD,
        r.join("etc/gone"),
        FileType::CharacterDevice,
        Mode::empty(),
        rustix::fs::makedev(0, 0),
    );
    let opaque = std::fs::create_dir(r.join("var")).ok().and_then(|()| {
        rfs::setxattr(r.join("var"), "user.overlay.opaque", b"y", rfs::XattrFlags::empty()).ok()
    });
    if dev.is_err() || opaque.is_none() {
        assert!(
            std::env::var_os("BERTH_TEST_STRICT").is_none()
                || !rustix::process::geteuid().is_root(),
            "whiteout device {dev:?}, user xattr {opaque:?}"
        );
        eprintln!("skipping: this kernel or filesystem refuses a 0:0 device or user xattrs here");
        return;
    }
    std::fs::write(r.join("var/new"), "n").unwrap();
    let opts = TreeOptions { whiteouts: true, ..Default::default() };
    let names: Vec<String> = listing(&write(r, &opts)).into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["etc", "etc/.wh.gone", "var", "var/.wh..wh..opq", "var/new"]);
    // As a tree (not a layer) a whiteout is the device it is.
    let plain = listing(&write(r, &TreeOptions::default()));
    assert_eq!(plain[1].1, tar::EntryType::Char);
}

#[test]
fn a_name_oci_reserves_is_refused_in_a_layer() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(".wh.sneaky"), "").unwrap();
    let opts = TreeOptions { whiteouts: true, ..Default::default() };
    let e = write_tree(open(tmp.path()).as_fd(), Vec::new(), &opts).unwrap_err();
    assert_eq!(e.path, Path::new(".wh.sneaky"), "{e}");
}

#[test]
fn names_and_link_targets_that_are_not_utf8_are_written_as_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let latin1 = OsStr::from_bytes(b"caf\xe9");
    std::fs::write(r.join(latin1), "x").unwrap();
    symlink(latin1, r.join("to-it")).unwrap();
    let tar = write(r, &TreeOptions::default());
    let mut archive = tar::Archive::new(&tar[..]);
    let got: Vec<(Vec<u8>, Option<Vec<u8>>)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let link = e.link_name_bytes().map(|l| l.into_owned());
            (e.path_bytes().into_owned(), link)
        })
        .collect();
    let want = [(b"caf\xe9".to_vec(), None), (b"to-it".to_vec(), Some(b"caf\xe9".to_vec()))];
    assert_eq!(got, want);
}

#[test]
fn one_entry_is_written_under_the_name_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    std::fs::create_dir_all(r.join("etc/ssl")).unwrap();
    std::fs::write(r.join("etc/ssl/cert"), "c").unwrap();
    std::fs::write(r.join("etc/hosts"), "h").unwrap();
    std::fs::hard_link(r.join("etc/hosts"), r.join("etc/hosts-link")).unwrap();
    let opts = TreeOptions { skip: vec![PathBuf::from("conf/ssl/cert")], ..Default::default() };
    let tar = write_entry(open(r).as_fd(), OsStr::new("etc"), Path::new("conf"), Vec::new(), &opts)
        .unwrap()
        .0;
    let names = listing(&tar);
    let got: Vec<&str> = names.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(got, ["conf", "conf/hosts", "conf/hosts-link", "conf/ssl"]);
    assert_eq!((names[2].1, names[2].2.as_str()), (tar::EntryType::Link, "conf/hosts"));
    // A single file, and a failure named by the entry it was asked to write as.
    let file =
        write_entry(open(r).as_fd(), OsStr::new("etc/hosts"), Path::new("h"), Vec::new(), &opts);
    assert!(file.is_err(), "a name is one component, opened in its directory");
    let dir = open(&r.join("etc"));
    let tar = write_entry(dir.as_fd(), OsStr::new("hosts"), Path::new("h"), Vec::new(), &opts);
    assert_eq!(listing(&tar.unwrap().0)[0].0, "h");
    let e = write_entry(dir.as_fd(), OsStr::new("gone"), Path::new("g"), Vec::new(), &opts);
    let e = e.unwrap_err();
    assert_eq!((e.op, e.path.as_path()), ("stat", Path::new("g")), "{e}");
}
