//! Container ids: they name a directory under the state root, so they must stay one
//! path component.

use crate::error::{Error, Result};

/// Checks an id the way runc does: non-empty, at most 1024 bytes, only `[A-Za-z0-9_+.-]`,
/// and not `.` or `..`.
pub fn validate(id: &str) -> Result<()> {
    let bad = |reason| Err(Error::InvalidId { id: id.to_string(), reason });
    if id.is_empty() {
        return bad("it is empty");
    }
    if id.len() > 1024 {
        return bad("it is longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        return bad("it is a relative path component");
    }
    if id.contains('/') {
        return bad("it contains '/'");
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b)) {
        return bad("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_usual_ids() {
        for id in ["a", "ctr-1", "x.y_z+1", &"a".repeat(1024)] {
            assert!(validate(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn refuses_paths_and_odd_bytes() {
        for id in ["", ".", "..", "a/b", "../x", "a b", "a\0b", "é", &"a".repeat(1025)] {
            assert!(validate(id).is_err(), "{id:?}");
        }
    }
}
