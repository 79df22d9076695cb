//! Where the engine keeps things.
//!
//! Records and container directories under the data root (`/var/lib/berth`: they survive a
//! reboot); monitor and runtime state under the run root (`/run/berth`: wiped by a reboot,
//! which the engine tolerates by reconciling records with what is actually running).
//! `BERTH_ROOT` and `BERTH_RUNROOT` move them (tests give each test its own).

use std::path::{Path, PathBuf};

/// The engine's directories.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Data root: `berth.db`, `containers/<id>/`, `volumes/<name>/_data`.
    pub data: PathBuf,
    /// Run root: `containers/<id>/` (exit file, monitor pid), `runtime/` (the runtime's --root).
    pub run: PathBuf,
}

impl Paths {
    /// From the environment or the defaults (root: /var/lib/berth and /run/berth; others:
    /// $XDG_DATA_HOME/berth and $XDG_RUNTIME_DIR/berth).
    pub fn from_env() -> Paths {
        let root = rustix::process::geteuid().is_root();
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = env("HOME").unwrap_or_else(|| PathBuf::from("/tmp"));
        let data = env("BERTH_ROOT").unwrap_or_else(|| match root {
            true => PathBuf::from("/var/lib/berth"),
            false => {
                env("XDG_DATA_HOME").unwrap_or_else(|| home.join(".local/share")).join("berth")
            }
        });
        let run = env("BERTH_RUNROOT").unwrap_or_else(|| match root {
            true => PathBuf::from("/run/berth"),
            false => env("XDG_RUNTIME_DIR").unwrap_or_else(std::env::temp_dir).join("berth"),
        });
        Paths { data, run }
    }

    /// The records database.
    pub fn db(&self) -> PathBuf {
        self.data.join("berth.db")
    }

    /// A container's persistent directory (bundle, log, config files).
    pub fn container(&self, id: &str) -> PathBuf {
        self.data.join("containers").join(id)
    }

    /// A container's volatile directory (exit file, monitor pid).
    pub fn container_run(&self, id: &str) -> PathBuf {
        self.run.join("containers").join(id)
    }

    /// A volume's directory; its content is in `_data` (Docker's layout).
    pub fn volume(&self, name: &str) -> PathBuf {
        self.data.join("volumes").join(name)
    }

    /// The low-level runtime's state root.
    pub fn runtime_root(&self) -> PathBuf {
        self.run.join("runtime")
    }
}

/// Creates `p` and its parents with mode 0700 for new directories.
pub(crate) fn mkdir(p: &Path) -> crate::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
        .map_err(crate::Error::io("mkdir", p))
}
