//! The process's scheduling: `linux.personality`, `process.ioPriority`, `process.scheduler`
//! and `linux.memoryPolicy`, translated to their syscalls' numbers.

use berth_sys::sched::SchedAttr;
use berth_sys::Error as SysError;
use oci_spec::runtime::{
    IOPriorityClass, LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Process,
    Scheduler,
};
use rustix::io::Errno;

/// Applies what the config asks for; each is a no-op when absent.
pub(crate) fn apply(
    process: &Process,
    personality: Option<&LinuxPersonality>,
    mempolicy: Option<&LinuxMemoryPolicy>,
) -> Result<(), SysError> {
    if let Some(p) = personality {
        berth_sys::sched::set_personality(persona(p))?;
    }
    if let Some(io) = process.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        let level = u32::try_from(io.priority())
            .map_err(|_| SysError::new("ioPriority.priority out of range", None, Errno::INVAL))?;
        berth_sys::sched::set_io_priority(class, level)?;
    }
    if let Some(s) = process.scheduler() {
        berth_sys::sched::set_scheduler(sched_attr(s))?;
    }
    if let Some(m) = mempolicy {
        let mask = node_mask(m.nodes().as_deref().unwrap_or("")).ok_or_else(|| {
            SysError::new("memoryPolicy.nodes is not a node list", None, Errno::INVAL)
        })?;
        berth_sys::sched::set_mempolicy(mempolicy_mode(m), &mask)?;
    }
    Ok(())
}

fn persona(p: &LinuxPersonality) -> u64 {
    match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    }
}

pub(crate) fn sched_attr(s: &Scheduler) -> SchedAttr {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let flags = s.flags().as_deref().unwrap_or_default().iter().fold(0u64, |acc, f| {
        acc | match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        }
    });
    SchedAttr {
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: u32::try_from(s.priority().unwrap_or(0)).unwrap_or(0),
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..SchedAttr::default()
    }
}

fn mempolicy_mode(m: &LinuxMemoryPolicy) -> i32 {
    let mode = match m.mode() {
        MemoryPolicyModeType::MpolDefault => 0,
        MemoryPolicyModeType::MpolPreferred => 1,
        MemoryPolicyModeType::MpolBind => 2,
        MemoryPolicyModeType::MpolInterleave => 3,
        MemoryPolicyModeType::MpolLocal => 4,
        MemoryPolicyModeType::MpolPreferredMany => 5,
        MemoryPolicyModeType::MpolWeightedInterleave => 6,
    };
    m.flags().as_deref().unwrap_or_default().iter().fold(mode, |acc, f| {
        acc | match f {
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
        }
    })
}

/// "0-3,5" as a bit mask in 64-bit words; "" is no mask. `None` for a malformed list.
pub(crate) fn node_mask(list: &str) -> Option<Vec<u64>> {
    let mut words: Vec<u64> = Vec::new();
    for n in list_indices(list, 1024).ok()? {
        if words.len() <= n / 64 {
            words.resize(n / 64 + 1, 0);
        }
        words[n / 64] |= 1 << (n % 64);
    }
    Some(words)
}

/// The numbers of a kernel list ("0-3,7": 0, 1, 2, 3, 7), each below `max`; "" is none.
pub(crate) fn list_indices(list: &str, max: usize) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    if list.trim().is_empty() {
        return Ok(out);
    }
    for part in list.split(',').map(str::trim) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let num = |s: &str| {
            s.trim().parse::<usize>().map_err(|_| format!("{part:?} is not a number or a range"))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(format!("{part:?}: the range runs backwards"));
        }
        if hi >= max {
            return Err(format!("{hi} is beyond the {max} this runtime can address"));
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lists() {
        assert_eq!(node_mask(""), Some(vec![]));
        assert_eq!(node_mask("0-3,5"), Some(vec![0b10_1111]));
        assert_eq!(node_mask("64"), Some(vec![0, 1]));
        assert_eq!(node_mask("3-1"), None);
        assert_eq!(node_mask("x"), None);
    }

    #[test]
    fn scheduler_fields() {
        let s: Scheduler = serde_json::from_value(serde_json::json!({
            // oci-spec 0.10 spells this flag without the spec's "FLAG_" infix.
            "policy": "SCHED_FIFO", "priority": 10, "flags": ["SCHED_RESET_ON_FORK"]
        }))
        .unwrap();
        let a = sched_attr(&s);
        assert_eq!((a.policy, a.priority, a.flags), (1, 10, 1));
    }
}
