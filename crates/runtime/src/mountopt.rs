//! Parsing of a config mount's `options` into mount(2) flags, propagation changes and the
//! filesystem-specific data string, the way runc reads them.

use rustix::mount::{MountFlags, MountPropagationFlags};

/// What the `options` of one mount ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount (or for the remount of a bind mount).
    pub flags: MountFlags,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind`: bind the whole subtree.
    pub recursive: bool,
    /// Propagation changes, applied after the mount in this order.
    pub propagation: Vec<MountPropagationFlags>,
    /// Everything not recognised as a flag, comma-joined, for the filesystem.
    pub data: String,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MountFlags::empty(),
            bind: false,
            recursive: false,
            propagation: Vec::new(),
            data: String::new(),
        }
    }
}

/// Parses mount options. `Err` names an option berth cannot honour.
pub fn parse(options: &[String]) -> Result<MountOptions, String> {
    let mut out = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        let opt = opt.as_str();
        if let Some((set, flag)) = flag(opt) {
            if set {
                out.flags |= flag;
            } else {
                out.flags &= !flag;
            }
        } else if let Some(p) = propagation(opt) {
            out.propagation.push(p);
        } else {
            match opt {
                "bind" => out.bind = true,
                "rbind" => (out.bind, out.recursive) = (true, true),
                // Accepted and meaningless for mount(2): the defaults they name.
                "defaults" | "remount" => {}
                // crun's extension to copy up a tmpfs's content; not supported yet.
                "tmpcopyup" => return Err("option tmpcopyup is not supported".into()),
                "idmap" | "ridmap" => return Err(format!("option {opt} is not supported")),
                _ => data.push(opt),
            }
        }
    }
    out.data = data.join(",");
    Ok(out)
}

/// A flag option: `(true, F)` sets F, `(false, F)` clears it.
fn flag(opt: &str) -> Option<(bool, MountFlags)> {
    use MountFlags as F;
    Some(match opt {
        "ro" => (true, F::RDONLY),
        "rw" => (false, F::RDONLY),
        "nosuid" => (true, F::NOSUID),
        "suid" => (false, F::NOSUID),
        "nodev" => (true, F::NODEV),
        "dev" => (false, F::NODEV),
        "noexec" => (true, F::NOEXEC),
        "exec" => (false, F::NOEXEC),
        "sync" => (true, F::SYNCHRONOUS),
        "async" => (false, F::SYNCHRONOUS),
        "dirsync" => (true, F::DIRSYNC),
        "mand" => (true, F::PERMIT_MANDATORY_FILE_LOCKING),
        "nomand" => (false, F::PERMIT_MANDATORY_FILE_LOCKING),
        "noatime" => (true, F::NOATIME),
        "atime" => (false, F::NOATIME),
        "nodiratime" => (true, F::NODIRATIME),
        "diratime" => (false, F::NODIRATIME),
        "relatime" => (true, F::RELATIME),
        "norelatime" => (false, F::RELATIME),
        "strictatime" => (true, F::STRICTATIME),
        "nostrictatime" => (false, F::STRICTATIME),
        "lazytime" => (true, F::LAZYTIME),
        "nolazytime" => (false, F::LAZYTIME),
        "silent" => (true, F::SILENT),
        "loud" => (false, F::SILENT),
        "nosymfollow" => (true, F::NOSYMFOLLOW),
        "symfollow" => (false, F::NOSYMFOLLOW),
        _ => return None,
    })
}

/// A propagation option (`private`, `rslave`, …).
pub fn propagation(opt: &str) -> Option<MountPropagationFlags> {
    use MountPropagationFlags as P;
    Some(match opt {
        "private" => P::PRIVATE,
        "rprivate" => P::PRIVATE | P::REC,
        "shared" => P::SHARED,
        "rshared" => P::SHARED | P::REC,
        "slave" => P::DOWNSTREAM,
        "rslave" => P::DOWNSTREAM | P::REC,
        "unbindable" => P::UNBINDABLE,
        "runbindable" => P::UNBINDABLE | P::REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &[&str]) -> MountOptions {
        parse(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn flags_data_and_propagation() {
        let o = opts(&["nosuid", "strictatime", "mode=755", "size=65536k", "rslave"]);
        assert_eq!(o.flags, MountFlags::NOSUID | MountFlags::STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(
            o.propagation,
            vec![MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC]
        );
        assert!(!o.bind);
    }

    #[test]
    fn later_options_win() {
        assert_eq!(opts(&["ro", "rw"]).flags, MountFlags::empty());
        assert_eq!(opts(&["rw", "ro"]).flags, MountFlags::RDONLY);
    }

    #[test]
    fn bind_forms() {
        let o = opts(&["rbind", "ro"]);
        assert!(o.bind && o.recursive);
        let o = opts(&["bind"]);
        assert!(o.bind && !o.recursive);
    }

    #[test]
    fn unsupported_options_are_named() {
        let e = parse(&["idmap".to_string()]).unwrap_err();
        assert!(e.contains("idmap"));
    }
}
