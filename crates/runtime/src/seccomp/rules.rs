//! `linux.seccomp` → a plan of libseccomp rules, with runc's semantics, and the checks that
//! refuse a profile before anything is created. Pure: no libseccomp, no kernel.
//!
//! runc's rules, kept here so that a profile behaves the same under both runtimes:
//! - `errnoRet`/`defaultErrnoRet` default to EPERM (for `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE`);
//! - a rule whose action equals the default action is dropped (libseccomp refuses it);
//! - conditions of one rule on distinct arguments are AND-ed in one rule; when two conditions
//!   name the same argument, libseccomp cannot AND them, and runc instead adds every condition
//!   of that entry as a rule of its own (OR-ed);
//! - `SECCOMP_FILTER_FLAG_TSYNC` is accepted and ignored (the init is single-threaded, and the
//!   kernel refuses it next to `NEW_LISTENER`); with no `flags` at all, `SPEC_ALLOW` is set
//!   when supported.

use berth_sys::seccomp::{action, cmp, flag, ArgCmp};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompArg, LinuxSeccompFilterFlag as Flag,
    LinuxSeccompOperator as Op,
};

/// The errno of `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` when the profile gives none.
const EPERM: u16 = 1;

/// The syscall the init sends the listener with, after the filter is loaded: it must not wait
/// for the agent that has not received the listener yet (runc refuses `write` for the same
/// reason).
pub(crate) const SEND_SYSCALL: &str = "sendmsg";

/// One libseccomp rule: `action` for the syscall `name` when every condition holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub name: String,
    pub action: u32,
    pub conds: Vec<ArgCmp>,
}

/// What the filter is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub default_action: u32,
    /// `SCMP_ARCH_*` tokens, besides the native one.
    pub arches: Vec<u32>,
    pub rules: Vec<Rule>,
    /// `SECCOMP_FILTER_FLAG_*` for seccomp(2), `NEW_LISTENER` included when a rule notifies.
    pub flags: u32,
}

/// A refused profile: the field in the spec's JSON spelling and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), reason: reason.into() }
}

/// Translates and checks a profile. `spec_allow_supported`: whether the kernel and libseccomp
/// know `SPEC_ALLOW` (the default flag when the profile names none).
pub(crate) fn plan(sc: &LinuxSeccomp, spec_allow_supported: bool) -> Result<Plan, Invalid> {
    let field = "linux.seccomp.defaultAction";
    if sc.default_action() == Action::ScmpActNotify {
        return Err(invalid(field, "SCMP_ACT_NOTIFY cannot be the default action"));
    }
    let default_action =
        encode(sc.default_action(), sc.default_errno_ret(), "linux.seccomp.defaultErrnoRet")?;
    let arches = sc.architectures().iter().flatten().map(|a| *a as u32).collect();
    let mut rules = Vec::new();
    let mut notifies = false;
    for (i, entry) in sc.syscalls().iter().flatten().enumerate() {
        let at = format!("linux.seccomp.syscalls[{i}]");
        let act = encode(entry.action(), entry.errno_ret(), &format!("{at}.errnoRet"))?;
        let args = entry.args().as_deref().unwrap_or_default();
        let conds = conditions(args, &at)?;
        if entry.action() == Action::ScmpActNotify {
            notifies = true;
            if entry.names().iter().any(|n| n == SEND_SYSCALL) {
                let why = format!("SCMP_ACT_NOTIFY cannot be used for {SEND_SYSCALL}: the runtime sends the listener with it");
                return Err(invalid(format!("{at}.action"), why));
            }
        }
        if act == default_action {
            continue;
        }
        for name in entry.names() {
            if name.is_empty() {
                return Err(invalid(format!("{at}.names"), "empty syscall name"));
            }
            rules.extend(conds.iter().map(|c| Rule {
                name: name.clone(),
                action: act,
                conds: c.clone(),
            }));
        }
    }
    if notifies && sc.listener_path().as_ref().is_none_or(|p| p.as_os_str().is_empty()) {
        return Err(invalid("linux.seccomp.listenerPath", "required by SCMP_ACT_NOTIFY"));
    }
    let flags = flags(sc.flags().as_deref(), notifies, spec_allow_supported);
    Ok(Plan { default_action, arches, rules, flags })
}

/// The libseccomp action value; an errno only where the action takes one.
fn encode(act: Action, errno_ret: Option<u32>, field: &str) -> Result<u32, Invalid> {
    let errno = match errno_ret {
        None => EPERM,
        Some(_) if !matches!(act, Action::ScmpActErrno | Action::ScmpActTrace) => {
            return Err(invalid(field, format!("{act} takes no errno")));
        }
        Some(e) => u16::try_from(e)
            .map_err(|_| invalid(field, format!("{e} is out of range (at most 65535)")))?,
    };
    Ok(match act {
        Action::ScmpActKill | Action::ScmpActKillThread => action::KILL_THREAD,
        Action::ScmpActKillProcess => action::KILL_PROCESS,
        Action::ScmpActTrap => action::TRAP,
        Action::ScmpActErrno => action::errno(errno),
        Action::ScmpActTrace => action::trace(errno),
        Action::ScmpActNotify => action::NOTIFY,
        Action::ScmpActLog => action::LOG,
        Action::ScmpActAllow => action::ALLOW,
    })
}

/// The condition lists of one entry: one list (AND), or one list per condition when two name
/// the same argument (runc's fallback, OR-ed). No condition: one empty list.
fn conditions(args: &[LinuxSeccompArg], at: &str) -> Result<Vec<Vec<ArgCmp>>, Invalid> {
    let mut conds = Vec::with_capacity(args.len());
    let mut seen = [0u8; 6];
    for (j, a) in args.iter().enumerate() {
        let Some(count) = seen.get_mut(a.index()) else {
            let why = format!("{} is not an argument index (0 to 5)", a.index());
            return Err(invalid(format!("{at}.args[{j}].index"), why));
        };
        *count += 1;
        let arg = u32::try_from(a.index()).unwrap_or(0);
        let op = operator(a.op());
        conds.push(ArgCmp { arg, op, datum_a: a.value(), datum_b: a.value_two().unwrap_or(0) });
    }
    if seen.iter().any(|&n| n > 1) {
        Ok(conds.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![conds])
    }
}

fn operator(op: Op) -> i32 {
    match op {
        Op::ScmpCmpNe => cmp::NE,
        Op::ScmpCmpLt => cmp::LT,
        Op::ScmpCmpLe => cmp::LE,
        Op::ScmpCmpEq => cmp::EQ,
        Op::ScmpCmpGe => cmp::GE,
        Op::ScmpCmpGt => cmp::GT,
        Op::ScmpCmpMaskedEq => cmp::MASKED_EQ,
    }
}

fn flags(list: Option<&[Flag]>, notifies: bool, spec_allow_supported: bool) -> u32 {
    let listener = if notifies { flag::NEW_LISTENER } else { 0 };
    let Some(list) = list else {
        return listener | if spec_allow_supported { flag::SPEC_ALLOW } else { 0 };
    };
    list.iter().fold(listener, |acc, f| {
        acc | match f {
            Flag::SeccompFilterFlagTsync => 0,
            Flag::SeccompFilterFlagLog => flag::LOG,
            Flag::SeccompFilterFlagSpecAllow => flag::SPEC_ALLOW,
            // Only meaningful, and only accepted by the kernel, with a listener.
            Flag::SeccompFilterFlagWaitKillableRecv if notifies => flag::WAIT_KILLABLE_RECV,
            Flag::SeccompFilterFlagWaitKillableRecv => 0,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("profile parses")
    }

    fn eq(arg: u32, v: u64) -> ArgCmp {
        ArgCmp { arg, op: cmp::EQ, datum_a: v, datum_b: 0 }
    }

    #[test]
    fn errno_defaults_to_eperm_and_takes_errno_ret() {
        let p = plan(
            &profile(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"},
                {"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
            ),
            true,
        )
        .expect("plan");
        assert_eq!(p.default_action, action::ALLOW);
        let got: Vec<_> = p.rules.iter().map(|r| (r.name.as_str(), r.action)).collect();
        assert_eq!(
            got,
            [
                ("mkdir", action::errno(1)),
                ("mkdirat", action::errno(1)),
                ("rmdir", action::errno(38))
            ]
        );
        assert!(p.rules.iter().all(|r| r.conds.is_empty()));
        assert_eq!(p.flags, flag::SPEC_ALLOW, "no flags given: SPEC_ALLOW, as runc");
    }

    #[test]
    fn default_errno_ret_and_rules_equal_to_default_dropped() {
        let p = plan(
            &profile(
                r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"flags":[],"syscalls":[
                {"names":["read"],"action":"SCMP_ACT_ALLOW"},
                {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
            ),
            true,
        )
        .expect("plan");
        assert_eq!(p.default_action, action::errno(38));
        assert_eq!(p.rules.len(), 1);
        assert_eq!(p.rules[0].name, "read");
        assert_eq!(p.flags, 0, "an empty flags list sets none");
    }

    #[test]
    fn conditions_on_distinct_args_are_one_rule() {
        let p = plan(
            &profile(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["socket"],
                "action":"SCMP_ACT_ERRNO","args":[
                {"index":0,"value":2,"op":"SCMP_CMP_EQ"},
                {"index":1,"value":15,"valueTwo":1,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
            ),
            false,
        )
        .expect("plan");
        assert_eq!(p.rules.len(), 1);
        let masked = ArgCmp { arg: 1, op: cmp::MASKED_EQ, datum_a: 15, datum_b: 1 };
        assert_eq!(p.rules[0].conds, vec![eq(0, 2), masked]);
        assert_eq!(p.flags, 0);
    }

    #[test]
    fn conditions_on_the_same_arg_become_separate_rules() {
        let p = plan(
            &profile(
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["personality"],
                "action":"SCMP_ACT_ALLOW","args":[
                {"index":0,"value":0,"op":"SCMP_CMP_EQ"},
                {"index":0,"value":8,"op":"SCMP_CMP_EQ"},
                {"index":1,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
            ),
            true,
        )
        .expect("plan");
        let conds: Vec<_> = p.rules.iter().map(|r| r.conds.clone()).collect();
        assert_eq!(conds, vec![vec![eq(0, 0)], vec![eq(0, 8)], vec![eq(1, 1)]]);
    }

    #[test]
    fn every_action_encodes() {
        let cases = [
            ("SCMP_ACT_KILL", action::KILL_THREAD),
            ("SCMP_ACT_KILL_THREAD", action::KILL_THREAD),
            ("SCMP_ACT_KILL_PROCESS", action::KILL_PROCESS),
            ("SCMP_ACT_TRAP", action::TRAP),
            ("SCMP_ACT_TRACE", action::trace(1)),
            ("SCMP_ACT_LOG", action::LOG),
        ];
        for (name, want) in cases {
            let json = format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["getpid"],"action":"{name}"}}]}}"#
            );
            let p = plan(&profile(&json), true).expect("plan");
            assert_eq!(p.rules[0].action, want, "{name}");
        }
    }

    #[test]
    fn notify_needs_a_listener_and_sets_the_flag() {
        let base = r#""defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]"#;
        let e = plan(&profile(&format!("{{{base}}}")), true).expect_err("no listener");
        assert_eq!(e.field, "linux.seccomp.listenerPath");
        let p = plan(&profile(&format!(r#"{{{base},"listenerPath":"/run/a.sock"}}"#)), true)
            .expect("plan");
        assert_eq!(p.rules[0].action, action::NOTIFY);
        assert_eq!(p.flags, flag::NEW_LISTENER | flag::LOG | flag::WAIT_KILLABLE_RECV);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#, "linux.seccomp.defaultAction"),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":1}"#,
                "linux.seccomp.defaultErrnoRet",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],
                "action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
                "linux.seccomp.syscalls[0].errnoRet",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_LOG"},
                {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
                "linux.seccomp.syscalls[1].args[0].index",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","syscalls":[
                {"names":["sendmsg"],"action":"SCMP_ACT_NOTIFY"}]}"#,
                "linux.seccomp.syscalls[0].action",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[""],"action":"SCMP_ACT_LOG"}]}"#,
                "linux.seccomp.syscalls[0].names",
            ),
        ];
        for (json, field) in cases {
            let e = plan(&profile(json), true).expect_err(json);
            assert_eq!(e.field, field, "{json}: {}", e.reason);
        }
    }

    #[test]
    fn architectures_are_libseccomp_tokens() {
        let p = plan(
            &profile(
                r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64"]}"#,
            ),
            true,
        )
        .expect("plan");
        assert_eq!(p.arches, vec![0xc000_003e, 0x4000_0003, 0x4000_003e, 0xc000_00b7]);
    }
}
