//! Content digests (`sha256:…`, `sha512:…`), a streaming hasher and OCI chain ids.

use std::fmt;
use std::io;
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// A digest algorithm the store accepts (OCI image-spec "registered algorithms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, 64 hex digits; the default everywhere.
    Sha256,
    /// SHA-512, 128 hex digits.
    Sha512,
}

impl Algorithm {
    /// The name used in digest strings and in the store layout (`blobs/<name>/`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// Why a digest string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestError {
    /// No `algorithm:` prefix.
    #[error(
        "digest {value:?} has no algorithm prefix (expected sha256:<64 hex> or sha512:<128 hex>)"
    )]
    MissingAlgorithm {
        /// The refused text.
        value: String,
    },
    /// An algorithm other than sha256/sha512.
    #[error("digest {value:?} uses an unsupported algorithm (expected sha256 or sha512)")]
    UnsupportedAlgorithm {
        /// The refused text.
        value: String,
    },
    /// Wrong length or characters other than lower-case hex.
    #[error(
        "digest {value:?} has a malformed hex part (expected {expected} lower-case hex digits)"
    )]
    MalformedHex {
        /// The refused text.
        value: String,
        /// How many hex digits the algorithm needs.
        expected: usize,
    },
}

/// A verified-format content digest: algorithm plus lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parses `sha256:<64 hex>` or `sha512:<128 hex>` (lower-case only, as the OCI spec requires).
    pub fn parse(value: &str) -> Result<Digest, DigestError> {
        let Some((alg, hex)) = value.split_once(':') else {
            return Err(DigestError::MissingAlgorithm { value: value.to_owned() });
        };
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(DigestError::UnsupportedAlgorithm { value: value.to_owned() }),
        };
        let ok = hex.len() == algorithm.hex_len()
            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(DigestError::MalformedHex {
                value: value.to_owned(),
                expected: algorithm.hex_len(),
            });
        }
        Ok(Digest { algorithm, hex: hex.to_owned() })
    }

    /// The sha256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Digest {
        let mut d = Digester::new(Algorithm::Sha256);
        d.update(data);
        d.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part (no prefix); safe as a single file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, the short image id shown by `berth images`.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

#[derive(Clone)]
enum State {
    Sha256(Sha256),
    Sha512(Sha512),
}

/// A streaming hasher; write bytes into it (it implements [`io::Write`]) and call
/// [`Digester::finish`].
#[derive(Clone)]
pub struct Digester {
    state: State,
    len: u64,
}

impl fmt::Debug for Digester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Digester")
            .field("algorithm", &self.algorithm())
            .field("len", &self.len)
            .finish()
    }
}

impl Digester {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Digester {
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(Sha256::new()),
            Algorithm::Sha512 => State::Sha512(Sha512::new()),
        };
        Digester { state, len: 0 }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            State::Sha256(_) => Algorithm::Sha256,
            State::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        match &mut self.state {
            State::Sha256(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    /// How many bytes were fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        let (algorithm, bytes) = match self.state {
            State::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            State::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        };
        Digest { algorithm, hex: to_hex(&bytes) }
    }
}

impl io::Write for Digester {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// Chain ids of a layer stack, bottom first (OCI image-spec, config.md "Layer ChainID"):
/// `ChainID(L0) = DiffID(L0)`, `ChainID(L0|…|Ln) = sha256(ChainID(L0|…|Ln-1) + " " + DiffID(Ln))`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => Digest::sha256_of(format!("{parent} {diff}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parse_display_round_trip() {
        let d = Digest::parse(EMPTY256).unwrap();
        assert_eq!(d.to_string(), EMPTY256);
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(EMPTY256.parse::<Digest>().unwrap(), d);
    }

    #[test]
    fn parse_refusals() {
        assert!(matches!(Digest::parse("abc"), Err(DigestError::MissingAlgorithm { .. })));
        assert!(matches!(Digest::parse("md5:abc"), Err(DigestError::UnsupportedAlgorithm { .. })));
        assert!(matches!(Digest::parse("sha256:abc"), Err(DigestError::MalformedHex { .. })));
        let upper = EMPTY256.to_uppercase().replace("SHA256", "sha256");
        assert!(matches!(Digest::parse(&upper), Err(DigestError::MalformedHex { .. })));
        let slash = format!("sha256:../{}", &EMPTY256[10..]);
        assert!(Digest::parse(&slash).is_err());
    }

    #[test]
    fn known_values() {
        assert_eq!(Digest::sha256_of(b"").to_string(), EMPTY256);
        let mut d = Digester::new(Algorithm::Sha512);
        io::Write::write_all(&mut d, b"abc").unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(
            d.finish().to_string(),
            "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        let c = Digest::sha256_of(b"c");
        let ids = chain_ids(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], Digest::sha256_of(format!("{a} {b}").as_bytes()));
        assert_eq!(ids[2], Digest::sha256_of(format!("{} {c}", ids[1]).as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }
}
