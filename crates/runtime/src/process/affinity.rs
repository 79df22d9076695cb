//! `process.execCPUAffinity` of an `exec`'d process (runtime-spec; not for the init).
//!
//! `initial`: the CPUs the new process runs on until it is in the container's cgroup, so the
//! runtime's work for it stays off CPUs kept for something else (runc 1.2). It is set on
//! the runtime around clone3, so the child is born with it. `final`: the CPUs it runs on
//! once in the cgroup. Without `final` nothing is changed after the move, as the spec
//! says: the kernel decides (since Linux 6.2 it keeps the CPUs a task asked for across a
//! move into another cpuset, narrowed to that cpuset's; before, the move reset them).

use berth_sys::{Context, Error as SysError};
use oci_spec::runtime::Process;
use rustix::thread::CpuSet;

/// The parsed `execCPUAffinity`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecAffinity {
    /// `initial`, set around clone3.
    pub initial: Option<CpuSet>,
    /// `final`, set by the process once in the container's cgroup.
    pub last: Option<CpuSet>,
}

/// Parses `process.execCPUAffinity`; `Err` names the field and the bad list.
pub fn parse(process: &Process) -> Result<ExecAffinity, String> {
    let Some(a) = process.exec_cpu_affinity() else { return Ok(ExecAffinity::default()) };
    let field = |name: &str, v: &Option<String>| match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(list) => cpu_list(list).map(Some).map_err(|e| format!("{name} {list:?}: {e}")),
    };
    Ok(ExecAffinity {
        initial: field("initial", a.initial())?,
        last: field("final", a.cpu_affinity_final())?,
    })
}

/// `0-3,7` → CPUs 0, 1, 2, 3 and 7; an empty list is an error (no CPU to run on).
pub fn cpu_list(list: &str) -> Result<CpuSet, String> {
    let cpus = super::sched::list_indices(list, CpuSet::MAX_CPU)?;
    if cpus.is_empty() {
        return Err("no CPU listed".into());
    }
    let mut set = CpuSet::new();
    cpus.into_iter().for_each(|cpu| set.set(cpu));
    Ok(set)
}

/// Runs this thread (and its future children) on `cpus`; `op` names the setting in errors.
pub fn set(cpus: &CpuSet, op: &str) -> Result<(), SysError> {
    rustix::thread::sched_setaffinity(None, cpus).op(op)
}

/// This thread's affinity, to restore after clone3.
pub fn current() -> Result<CpuSet, SysError> {
    rustix::thread::sched_getaffinity(None).op("sched_getaffinity")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        let s = cpu_list("0-3,7").unwrap();
        let got: Vec<usize> = (0..16).filter(|&c| s.is_set(c)).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 7]);
        assert!(cpu_list("5").unwrap().is_set(5));
        for bad in ["", "a", "3-1", "1-", "-2", "0,,1", "99999"] {
            assert!(cpu_list(bad).is_err(), "{bad:?} accepted");
        }
    }
}
