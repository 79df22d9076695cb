//! The minimal OCI image the fault registry serves, built in memory: an index (linux/amd64)
//! → an image manifest → a config and one small gzip layer (a tar with a directory and two
//! files). Also a "tampered" twin of every blob with the same length and different bytes,
//! for the wrong-digest fault.
//!
//! The support crate has no hashing or compression dependency, so SHA-256, CRC-32, gzip (stored
//! deflate blocks: valid gzip that any inflater reads) and ustar are written out here.

use serde_json::json;

/// Layer media type (gzip).
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Image manifest media type.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Image index media type.
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Image config media type.
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Files of the layer: (path, mode, contents). `etc/` is a directory entry before them.
pub const FILES: &[(&str, u32, &str)] = &[
    ("etc/fault.txt", 0o644, "served by berth's fault registry\n"),
    ("hello.sh", 0o755, "#!/bin/sh\necho hello from the fault registry\n"),
];

/// One served object: its bytes, digest and media type, plus a same-length tampered copy.
#[derive(Debug, Clone)]
pub struct Blob {
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    /// The media type served as `Content-Type`.
    pub media_type: String,
    /// The real bytes.
    pub bytes: Vec<u8>,
    /// Same length as `bytes`, different content (so a different digest).
    pub tampered: Vec<u8>,
}

impl Blob {
    fn new(media_type: &str, bytes: Vec<u8>, tampered: Vec<u8>) -> Blob {
        debug_assert_eq!(bytes.len(), tampered.len());
        Blob { digest: digest(&bytes), media_type: media_type.to_string(), bytes, tampered }
    }

    /// The OCI descriptor JSON of this blob.
    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// The image: index → manifest → config + layer.
#[derive(Debug, Clone)]
pub struct FaultImage {
    /// The image index (served for the tag `latest` and by digest).
    pub index: Blob,
    /// The linux/amd64 image manifest (served for the tag `single` and by digest).
    pub manifest: Blob,
    /// The image config.
    pub config: Blob,
    /// The gzip layer.
    pub layer: Blob,
    /// The uncompressed layer tar.
    pub tar: Vec<u8>,
    /// `sha256:<hex>` of `tar` (the config's `rootfs.diff_ids[0]`).
    pub diff_id: String,
}

impl FaultImage {
    /// Builds the image; the same bytes every time.
    pub fn build() -> FaultImage {
        let tar = layer_tar(false);
        let layer = Blob::new(LAYER_GZIP, gzip(&tar), gzip(&layer_tar(true)));
        let diff_id = digest(&tar);
        let config = json_blob(CONFIG, |mark| {
            json!({
                "created": "2025-01-01T00:00:00Z",
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["/bin/sh"], "Labels": {"org.berth.fault": mark}},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": "2025-01-01T00:00:00Z", "created_by": "berth fault registry"}]
            })
        });
        let manifest = json_blob(MANIFEST, |mark| {
            json!({
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": config.descriptor(),
                "layers": [layer.descriptor()],
                "annotations": {"org.berth.fault": mark}
            })
        });
        let index = json_blob(INDEX, |mark| {
            let mut m = manifest.descriptor();
            m["platform"] = json!({"architecture": "amd64", "os": "linux"});
            json!({
                "schemaVersion": 2,
                "mediaType": INDEX,
                "manifests": [m],
                "annotations": {"org.berth.fault": mark}
            })
        });
        FaultImage { index, manifest, config, layer, tar, diff_id }
    }
}

/// A JSON blob whose tampered twin differs only in an 8-character marker value.
fn json_blob(media_type: &str, make: impl Fn(&str) -> serde_json::Value) -> Blob {
    let bytes = make("original").to_string().into_bytes();
    let tampered = make("tampered").to_string().into_bytes();
    Blob::new(media_type, bytes, tampered)
}

/// The layer tar; `tampered` swaps the file contents for same-length filler.
fn layer_tar(tampered: bool) -> Vec<u8> {
    let mut out = Vec::new();
    tar_entry(&mut out, "etc/", b'5', 0o755, b"");
    for (path, mode, body) in FILES {
        let body = if tampered { "x".repeat(body.len()) } else { (*body).to_string() };
        tar_entry(&mut out, path, b'0', *mode, body.as_bytes());
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Appends one ustar entry (uid/gid 0, mtime 2025-01-01) and its padded data.
fn tar_entry(out: &mut Vec<u8>, name: &str, kind: u8, mode: u32, data: &[u8]) {
    let mut h = [0u8; 512];
    let mut put = |off: usize, s: &[u8]| h[off..off + s.len()].copy_from_slice(s);
    put(0, name.as_bytes());
    put(100, format!("{mode:07o}\0").as_bytes());
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", data.len()).as_bytes());
    put(136, format!("{:011o}\0", 1_735_689_600u64).as_bytes());
    put(148, b"        ");
    put(156, &[kind]);
    put(257, b"ustar\0");
    put(263, b"00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// gzip with stored deflate blocks (no compression, but a valid gzip stream with its CRC).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    // magic, deflate, no flags, mtime 0, no extra flags, OS unknown
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.push(last); // BFINAL, BTYPE=00 (stored), padding to the byte boundary
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    // ISIZE is the length modulo 2^32 by definition
    out.extend_from_slice(&u32::try_from(data.len() & 0xffff_ffff).unwrap_or(0).to_le_bytes());
    out
}

/// CRC-32 (IEEE, reflected), as gzip uses.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// `sha256:<hex>` of `data`.
pub fn digest(data: &[u8]) -> String {
    let hex: String = sha256(data).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 (FIPS 180-4) of a whole buffer; the served objects are small.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let bits = (data.len() as u64).wrapping_mul(8);
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let [a, b, c, d, e, f, g, hh] = v;
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            v = [t1.wrapping_add(s0.wrapping_add(maj)), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        for (x, y) in h.iter_mut().zip(v) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_vectors() {
        assert_eq!(
            digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // two blocks of padding
        assert_eq!(
            digest(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn crc32_known_vector() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn tampered_twins_have_the_same_length_and_another_digest() {
        let img = FaultImage::build();
        for b in [&img.index, &img.manifest, &img.config, &img.layer] {
            assert_eq!(b.bytes.len(), b.tampered.len(), "{}", b.media_type);
            assert_ne!(digest(&b.tampered), b.digest, "{}", b.media_type);
        }
        let cfg: serde_json::Value = serde_json::from_slice(&img.config.bytes).expect("config");
        assert_eq!(cfg["rootfs"]["diff_ids"][0], img.diff_id.as_str());
    }

    #[test]
    fn the_image_is_deterministic() {
        assert_eq!(FaultImage::build().index.digest, FaultImage::build().index.digest);
    }
}
