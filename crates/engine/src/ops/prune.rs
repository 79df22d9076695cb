//! `berth container prune`: removes every container that is not running (exited or only
//! created), as Docker does.

use super::Engine;
use crate::error::Result;

/// Removes the stopped containers; returns their ids.
pub fn prune(e: &Engine) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for r in super::ps::ps(e, true)? {
        if r.state == "running" || r.state == "paused" {
            continue;
        }
        super::rm::remove(e, &r, false)?;
        removed.push(r.id);
    }
    Ok(removed)
}
