//! `berth images`, `rmi`, `tag`: the image store's records.

use berth_image::ImageInfo;

use super::Engine;
use crate::error::{Error, Result};

fn err(image: &str, x: &dyn std::error::Error) -> Error {
    Error::Pull { image: image.to_string(), message: crate::error::chain(x) }
}

/// Every stored image.
pub fn list(e: &Engine) -> Result<Vec<ImageInfo>> {
    super::pull::store(e)?.images().map_err(|x| err("(images)", &x))
}

/// Removes `image` (a reference or id); an image a container uses is refused unless
/// `force`. Returns the untagged references and deleted ids as Docker prints them.
pub fn rmi(e: &Engine, image: &str, force: bool) -> Result<Vec<String>> {
    let store = super::pull::store(e)?;
    let removed = store.remove(image, force).map_err(|x| err(image, &x))?;
    let _ = store.reclaim();
    let mut out: Vec<String> = removed.untagged.iter().map(|r| format!("Untagged: {r}")).collect();
    out.extend(removed.deleted.iter().map(|d| format!("Deleted: {d}")));
    Ok(out)
}

/// Adds reference `new` to `src`.
pub fn tag(e: &Engine, src: &str, new: &str) -> Result<()> {
    super::pull::store(e)?.tag(src, new).map(|_| ()).map_err(|x| err(src, &x))
}
