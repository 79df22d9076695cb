//! `berth rename`.

use super::Engine;
use crate::error::{Error, Result};

/// Gives `key` the name `new` (refused if taken or invalid).
pub fn rename(e: &Engine, key: &str, new: &str) -> Result<String> {
    if !crate::ids::valid_name(new) {
        return Err(Error::InvalidFlag {
            flag: "NEW_NAME",
            value: new.to_string(),
            reason: "only [a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed".into(),
        });
    }
    let r = e.get(key)?;
    if r.name == new {
        return Err(Error::InvalidFlag {
            flag: "NEW_NAME",
            value: new.to_string(),
            reason: "renaming a container to its own name".into(),
        });
    }
    e.db.rename(&r.id, new)?;
    Ok(r.id)
}
