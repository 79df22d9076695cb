//! A tiny image: an OCI index (linux/amd64, linux/arm64/v8, an unknown/unknown attestation)
//! -> manifests -> config + one layer, plus the same as a Docker schema2 manifest list.

use std::collections::HashMap;

use serde_json::json;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, Clone)]
pub struct Image {
    blobs: HashMap<String, Vec<u8>>,
    /// tag or digest -> (media type, bytes, digest)
    manifests: HashMap<String, (String, Vec<u8>, String)>,
    pub layer: Vec<u8>,
    pub layer_digest: String,
    pub config_digest: String,
    /// The linux/amd64 OCI manifest.
    pub amd64_digest: String,
    pub arm64_digest: String,
    pub index_digest: String,
    pub docker_manifest_digest: String,
}

pub fn sha256(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Deterministic incompressible bytes.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

impl Image {
    pub fn tiny() -> Image {
        let mut img = Image {
            blobs: HashMap::new(),
            manifests: HashMap::new(),
            layer: noise(300 * 1024),
            layer_digest: String::new(),
            config_digest: String::new(),
            amd64_digest: String::new(),
            arm64_digest: String::new(),
            index_digest: String::new(),
            docker_manifest_digest: String::new(),
        };
        img.layer_digest = img.add_blob(img.layer.clone());
        let config = json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [img.layer_digest]},
        });
        img.config_digest = img.add_blob(serde_json::to_vec(&config).unwrap());
        let manifest = |media: &str, config_media: &str, layer_media: &str, img: &Image| {
            json!({
                "schemaVersion": 2, "mediaType": media,
                "config": {"mediaType": config_media, "digest": img.config_digest, "size": img.blobs[&img.config_digest].len()},
                "layers": [{"mediaType": layer_media, "digest": img.layer_digest, "size": img.layer.len()}],
            })
        };
        let oci = manifest(
            OCI_MANIFEST,
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            &img,
        );
        let (amd64, amd64_len) = img.add_manifest("single", OCI_MANIFEST, &oci);
        let mut arm = oci.clone();
        arm["annotations"] = json!({"arch": "arm64"});
        let (arm64, arm64_len) = img.add_manifest("arm64", OCI_MANIFEST, &arm);
        let entry = |media: &str, digest: &str, size: usize, platform: serde_json::Value| json!({"mediaType": media, "digest": digest, "size": size, "platform": platform});
        let index = json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [
                entry(OCI_MANIFEST, &amd64, amd64_len, json!({"os": "linux", "architecture": "amd64"})),
                entry(OCI_MANIFEST, &arm64, arm64_len, json!({"os": "linux", "architecture": "arm64", "variant": "v8"})),
                entry(OCI_MANIFEST, &amd64, amd64_len, json!({"os": "unknown", "architecture": "unknown"})),
            ],
        });
        let (index_digest, _) = img.add_manifest("latest", OCI_INDEX, &index);
        let docker = manifest(
            DOCKER_MANIFEST,
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            &img,
        );
        let (docker_digest, docker_len) =
            img.add_manifest("docker-single", DOCKER_MANIFEST, &docker);
        let list = json!({
            "schemaVersion": 2, "mediaType": DOCKER_LIST,
            "manifests": [entry(DOCKER_MANIFEST, &docker_digest, docker_len,
                json!({"os": "linux", "architecture": "amd64", "features": ["sse4"]}))],
        });
        img.add_manifest("docker", DOCKER_LIST, &list);
        img.amd64_digest = amd64;
        img.arm64_digest = arm64;
        img.index_digest = index_digest;
        img.docker_manifest_digest = docker_digest;
        img
    }

    fn add_blob(&mut self, bytes: Vec<u8>) -> String {
        let d = sha256(&bytes);
        self.blobs.insert(d.clone(), bytes);
        d
    }

    fn add_manifest(
        &mut self,
        tag: &str,
        media: &str,
        json: &serde_json::Value,
    ) -> (String, usize) {
        let bytes = serde_json::to_vec_pretty(json).unwrap();
        let d = sha256(&bytes);
        let len = bytes.len();
        self.manifests.insert(tag.into(), (media.into(), bytes.clone(), d.clone()));
        self.manifests.insert(d.clone(), (media.into(), bytes, d.clone()));
        (d, len)
    }

    pub fn blob(&self, digest: &str) -> Option<&[u8]> {
        self.blobs.get(digest).map(Vec::as_slice)
    }

    pub fn manifest(&self, reference: &str) -> Option<(&str, &[u8], &str)> {
        self.manifests.get(reference).map(|(m, b, d)| (m.as_str(), b.as_slice(), d.as_str()))
    }

    pub fn config(&self) -> &[u8] {
        &self.blobs[&self.config_digest]
    }
}
