//! Hand-made tar bytes for the hostile-image corpus (`crates/image/tests/hostile.rs`, and
//! `hostile_images.rs` of the system tests): headers written field by field, so a test can
//! say exactly what a hostile producer would (names with `..`, PAX records that disagree with
//! the ustar header, GNU long names, sparse maps), none of which `tar::Builder` would write.

use std::io::Write;

use tar::{EntryType, Header};

/// A tar stream under construction.
#[derive(Debug, Default)]
pub struct Tar(pub Vec<u8>);

impl Tar {
    pub fn new() -> Tar {
        Tar::default()
    }

    /// Appends `h` and `data`, padded to the block size. The header's size field is whatever
    /// the caller set: it may disagree with `data` on purpose.
    pub fn entry(&mut self, h: &Header, data: &[u8]) -> &mut Tar {
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    /// An entry of any `kind` with raw name and link bytes, mode and owner.
    pub fn owned(
        &mut self,
        kind: EntryType,
        (name, link): (&[u8], &[u8]),
        data: &[u8],
        mode: u32,
        (uid, gid): (u64, u64),
    ) -> &mut Tar {
        let mut h = header(kind, name, link, data.len() as u64, mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_cksum();
        self.entry(&h, data)
    }

    /// A regular file named `name` (raw bytes; over 100 of them go in a PAX `path`).
    pub fn file(&mut self, name: &[u8], data: &[u8], mode: u32) -> &mut Tar {
        let ustar: &[u8] = if name.len() > 100 {
            self.pax(&[("path", name)]);
            b"long-name-in-pax"
        } else {
            name
        };
        let h = header(EntryType::Regular, ustar, b"", data.len() as u64, mode);
        self.entry(&h, data)
    }

    pub fn dir(&mut self, name: &[u8]) -> &mut Tar {
        let h = header(EntryType::Directory, name, b"", 0, 0o755);
        self.entry(&h, b"")
    }

    pub fn symlink(&mut self, name: &[u8], target: &[u8]) -> &mut Tar {
        let h = header(EntryType::Symlink, name, target, 0, 0o777);
        self.entry(&h, b"")
    }

    pub fn hardlink(&mut self, name: &[u8], target: &[u8]) -> &mut Tar {
        let h = header(EntryType::Link, name, target, 0, 0o644);
        self.entry(&h, b"")
    }

    /// A device node (`Char` or `Block`).
    pub fn device(&mut self, kind: EntryType, name: &[u8], major: u32, minor: u32) -> &mut Tar {
        let mut h = header(kind, name, b"", 0, 0o666);
        h.set_device_major(major).expect("a ustar header takes a device major");
        h.set_device_minor(minor).expect("a ustar header takes a device minor");
        h.set_cksum();
        self.entry(&h, b"")
    }

    /// A PAX extended header (`x`) for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Tar {
        let mut data = Vec::new();
        for (key, value) in records {
            // "LEN KEY=VALUE\n", LEN counting itself.
            let rest = key.len() + value.len() + 3;
            let mut len = rest + rest.to_string().len();
            if len.to_string().len() != rest.to_string().len() {
                len += 1;
            }
            write!(data, "{len} {key}=").expect("writing to a Vec");
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        let h = header(EntryType::XHeader, b"PaxHeaders/x", b"", data.len() as u64, 0o644);
        self.entry(&h, &data)
    }

    /// A GNU long name (`L`) for the next entry.
    pub fn gnu_long_name(&mut self, name: &[u8]) -> &mut Tar {
        let mut data = name.to_vec();
        data.push(0);
        let h = gnu_header(EntryType::GNULongName, b"././@LongLink", data.len() as u64);
        self.entry(&h, &data)
    }

    /// A GNU sparse file: `data` at `offset`, holes elsewhere, `real_size` long.
    pub fn sparse(&mut self, name: &[u8], offset: u64, data: &[u8], real_size: u64) -> &mut Tar {
        let mut h = gnu_header(EntryType::GNUSparse, name, data.len() as u64);
        let gnu = h.as_gnu_mut().expect("a GNU header");
        gnu.sparse[0].set_offset(offset);
        gnu.sparse[0].set_length(data.len() as u64);
        gnu.sparse[1].set_offset(real_size);
        gnu.sparse[1].set_length(0);
        gnu.set_real_size(real_size);
        h.set_cksum();
        self.entry(&h, data)
    }

    /// The end-of-archive marker (two zero blocks).
    pub fn end(&mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        std::mem::take(&mut self.0)
    }
}

/// A ustar header with raw name and link bytes.
pub fn header(kind: EntryType, name: &[u8], link: &[u8], size: u64, mode: u32) -> Header {
    let mut h = Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    h
}

fn gnu_header(kind: EntryType, name: &[u8], size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    h
}

/// A docker-archive (the `docker save` layout that `berth load` takes) of one image `tag`:
/// `layers` are uncompressed tars, bottom first; `config` is the image config's `config`
/// object (`Env`, `Cmd`, `Volumes`, …). The archive itself is an ordinary tar.
///
/// # Panics
/// Never for valid names; a test failure otherwise.
pub fn docker_archive(tag: &str, config: &serde_json::Value, layers: &[Vec<u8>]) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    let diff_ids: Vec<String> =
        layers.iter().map(|l| format!("sha256:{:x}", Sha256::digest(l))).collect();
    let image = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let names: Vec<String> = (0..layers.len()).map(|i| format!("layer{i}.tar")).collect();
    let manifest =
        serde_json::json!([{"Config": "config.json", "RepoTags": [tag], "Layers": names}]);
    let mut b = tar::Builder::new(Vec::new());
    let mut put = |name: &str, data: &[u8]| {
        let mut h = Header::new_gnu();
        h.set_path(name).expect("a short archive member name");
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).expect("appending to a Vec");
    };
    put("manifest.json", manifest.to_string().as_bytes());
    put("config.json", image.to_string().as_bytes());
    for (name, layer) in names.iter().zip(layers) {
        put(name, layer);
    }
    b.into_inner().expect("finishing a Vec")
}

/// (name, type, link name) of every entry of a well-formed tar, in archive order: what a
/// test compares a writer's output with (`layer_writer`'s tests, `engine_commit.rs`).
pub fn listing(tar: &[u8]) -> Vec<(String, EntryType, String)> {
    let mut archive = tar::Archive::new(tar);
    let entries = archive.entries().expect("read tar");
    entries
        .map(|e| {
            let e = e.expect("tar entry");
            let link = e.link_name().expect("tar link name");
            let link = link.map(|l| l.display().to_string()).unwrap_or_default();
            let name = e.path().expect("tar entry name").display().to_string();
            (name, e.header().entry_type(), link)
        })
        .collect()
}
