//! Which namespaces the init gets: new ones are created by `clone3` flags, existing ones are
//! joined by path with `setns(2)`.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

/// The namespace part of a container's plan.
#[derive(Debug, Clone, Default)]
pub struct NamespacePlan {
    /// `CLONE_NEW*` bits for clone3 (never `CLONE_NEWTIME`; see `new_time`).
    pub clone_flags: u64,
    /// Namespaces to join by path, user namespace first, in the order setns must run.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
    /// A new user namespace is created (its id maps are written by the parent).
    pub new_user: bool,
    /// A new time namespace is created; it needs unshare + offsets + setns in the child,
    /// because clone3 would put the child in it before the offsets could be written.
    pub new_time: bool,
    /// A new cgroup namespace is wanted. It is not in `clone_flags`: unless the init is
    /// cloned straight into its cgroup, it unshares it after the parent moved it there.
    pub new_cgroup: bool,
    /// A new mount namespace is created.
    pub new_mount: bool,
    /// A new UTS namespace is created or joined (hostname may be set).
    pub has_uts: bool,
}

/// The clone flag of a namespace type.
pub fn clone_flag(t: LinuxNamespaceType) -> u64 {
    match t {
        LinuxNamespaceType::Mount => 0x0002_0000,
        LinuxNamespaceType::Cgroup => 0x0200_0000,
        LinuxNamespaceType::Uts => 0x0400_0000,
        LinuxNamespaceType::Ipc => 0x0800_0000,
        LinuxNamespaceType::User => 0x1000_0000,
        LinuxNamespaceType::Pid => 0x2000_0000,
        LinuxNamespaceType::Network => 0x4000_0000,
        LinuxNamespaceType::Time => 0x0000_0080,
    }
}

/// The name of a namespace type as `/proc/PID/ns/` and the spec spell it.
pub fn name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// Builds the plan; `Err` names a duplicate namespace type.
pub fn plan(namespaces: &[LinuxNamespace]) -> Result<NamespacePlan, String> {
    let mut p = NamespacePlan::default();
    let mut seen = 0u64;
    for ns in namespaces {
        let t = ns.typ();
        let flag = clone_flag(t);
        if seen & flag != 0 {
            return Err(format!("namespace {} is listed twice", name(t)));
        }
        seen |= flag;
        match ns.path() {
            Some(path) if t == LinuxNamespaceType::User => p.join.insert(0, (t, path.clone())),
            Some(path) => p.join.push((t, path.clone())),
            None => match t {
                LinuxNamespaceType::Time => p.new_time = true,
                LinuxNamespaceType::Cgroup => p.new_cgroup = true,
                LinuxNamespaceType::User => {
                    p.new_user = true;
                    p.clone_flags |= flag;
                }
                _ => p.clone_flags |= flag,
            },
        }
        if ns.path().is_none() && t == LinuxNamespaceType::Mount {
            p.new_mount = true;
        }
        if t == LinuxNamespaceType::Uts {
            p.has_uts = true;
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceBuilder;

    fn ns(t: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
        let mut b = LinuxNamespaceBuilder::default().typ(t);
        if let Some(p) = path {
            b = b.path(p);
        }
        b.build().unwrap()
    }

    #[test]
    fn new_and_joined() {
        let p = plan(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Network, Some("/proc/1/ns/net")),
            ns(LinuxNamespaceType::User, Some("/proc/1/ns/user")),
            ns(LinuxNamespaceType::Mount, None),
        ])
        .unwrap();
        assert_eq!(p.clone_flags, 0x2000_0000 | 0x0002_0000);
        assert_eq!(p.join[0].0, LinuxNamespaceType::User, "user namespace is joined first");
        assert!(p.new_mount && !p.new_user);
    }

    #[test]
    fn duplicates_are_refused() {
        let e = plan(&[ns(LinuxNamespaceType::Pid, None), ns(LinuxNamespaceType::Pid, None)]);
        assert!(e.unwrap_err().contains("pid"));
    }

    #[test]
    fn time_is_not_a_clone_flag() {
        let p = plan(&[ns(LinuxNamespaceType::Time, None)]).unwrap();
        assert!(p.new_time);
        assert_eq!(p.clone_flags, 0);
    }
}
