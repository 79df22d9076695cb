//! A busybox image built locally, with no registry: a rootfs (the host's static
//! `/bin/busybox`, its applet symlinks, `/etc/passwd` and `/etc/group`) packed as a plain
//! tarball (`podman import`, `docker import`) and as a docker-archive (`ctr images import`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `cmd`: its stdout, or an error with its status and stderr.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}: {}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Maps an I/O error to "WHAT PATH: ERROR".
fn io(what: &str, p: &Path) -> impl Fn(std::io::Error) -> String {
    let what = format!("{what} {}", p.display());
    move |e| format!("{what}: {e}")
}

/// Fills `rootfs` with busybox and its applets.
fn make_rootfs(rootfs: &Path) -> Result<(), String> {
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).map_err(io("mkdir", rootfs))?;
    }
    let bin = rootfs.join("bin");
    std::fs::copy("/bin/busybox", bin.join("busybox")).map_err(io("copy busybox to", &bin))?;
    for applet in run(Command::new("/bin/busybox").arg("--list"))?.split_whitespace() {
        if applet != "busybox" && !applet.contains('/') {
            std::os::unix::fs::symlink("busybox", bin.join(applet))
                .map_err(io("symlink applet in", &bin))?;
        }
    }
    let etc = rootfs.join("etc");
    std::fs::write(etc.join("passwd"), "root:x:0:0:root:/root:/bin/sh\n")
        .map_err(io("write passwd in", &etc))?;
    std::fs::write(etc.join("group"), "root:x:0:\n").map_err(io("write group in", &etc))?;
    Ok(())
}

/// The image's files, built once per sandbox under `<dir>/image`.
#[derive(Debug)]
pub struct Image {
    /// The rootfs as one tarball (a single layer).
    pub rootfs_tar: PathBuf,
    /// A docker-archive (`manifest.json`, `config.json`, `layer.tar`) tagged [`Image::TAG`].
    pub docker_archive: PathBuf,
}

impl Image {
    /// The reference every engine knows the image by.
    pub const TAG: &'static str = "localhost/berth-busybox:latest";

    /// Builds both tarballs under `dir`.
    pub fn build(dir: &Path) -> Result<Image, String> {
        let base = dir.join("image");
        let rootfs = base.join("rootfs");
        make_rootfs(&rootfs)?;
        let archive = base.join("archive");
        std::fs::create_dir_all(&archive).map_err(io("mkdir", &archive))?;
        let layer = archive.join("layer.tar");
        run(Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&rootfs)
            .arg("-cf")
            .arg(&layer)
            .arg("."))?;
        let sum = run(Command::new("sha256sum").arg(&layer))?;
        let digest = sum.split_whitespace().next().unwrap_or_default().to_string();
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["sh"],
            },
            // containerd checks the unpacked layer against this digest
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{digest}")]},
        });
        let manifest = serde_json::json!([
            {"Config": "config.json", "RepoTags": [Image::TAG], "Layers": ["layer.tar"]}
        ]);
        let cfg = archive.join("config.json");
        std::fs::write(&cfg, config.to_string()).map_err(io("write", &cfg))?;
        let man = archive.join("manifest.json");
        std::fs::write(&man, manifest.to_string()).map_err(io("write", &man))?;
        let docker_archive = base.join("busybox-docker-archive.tar");
        run(Command::new("tar").arg("-C").arg(&archive).arg("-cf").arg(&docker_archive).args([
            "manifest.json",
            "config.json",
            "layer.tar",
        ]))?;
        Ok(Image { rootfs_tar: layer, docker_archive })
    }
}
