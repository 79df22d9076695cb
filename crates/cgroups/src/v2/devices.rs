//! v2 device rules: an eBPF `BPF_PROG_TYPE_CGROUP_DEVICE` program generated from the OCI
//! `linux.resources.devices` list and attached to the container's cgroup.
//!
//! The kernel calls the program for each device open or mknod with a
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, where
//! `access_type = access << 16 | type` (type 1 block, 2 char; access 1 mknod, 2 read,
//! 4 write); returning 1 allows, 0 denies (`EPERM`).
//!
//! The rules keep v1's semantics: a rule for every device (`a *:* rwm`) resets the list and
//! sets the default; later rules override earlier ones. So the program checks the rules from
//! last to first, returns the verdict of the first that matches, and falls back to the default.

use std::path::Path;

use berth_sys::bpf::{self, Insn};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::Error;

/// One normalised rule: `None` fields are wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    kind: Option<i32>,
    major: Option<i32>,
    minor: Option<i32>,
    access: i32,
    allow: bool,
}

const ACCESS_ALL: i32 = 1 | 2 | 4;
// Registers: r1 context (then scratch), r2 type, r3 access, r4 major, r5 minor, r0 verdict.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: dst | (src << 4), off, imm }
}
/// `dst = *(u32 *)(src + off)`: BPF_LDX | BPF_MEM | BPF_W.
fn load_u32(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x61, dst, src, off, 0)
}
/// `dst &= imm` (32-bit): BPF_ALU | BPF_AND | BPF_K.
fn and_imm(dst: u8, imm: i32) -> Insn {
    insn(0x54, dst, 0, 0, imm)
}
/// `dst >>= imm` (32-bit): BPF_ALU | BPF_RSH | BPF_K.
fn rsh_imm(dst: u8, imm: i32) -> Insn {
    insn(0x74, dst, 0, 0, imm)
}
/// `dst = src` (32-bit): BPF_ALU | BPF_MOV | BPF_X.
fn mov_reg(dst: u8, src: u8) -> Insn {
    insn(0xbc, dst, src, 0, 0)
}
/// `dst = imm`: BPF_ALU64 | BPF_MOV | BPF_K.
fn mov_imm(dst: u8, imm: i32) -> Insn {
    insn(0xb7, dst, 0, 0, imm)
}
/// `if dst != imm goto +off`: BPF_JMP | BPF_JNE | BPF_K.
fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
    insn(0x55, dst, 0, off, imm)
}
/// `if dst != src goto +off`: BPF_JMP | BPF_JNE | BPF_X.
fn jne_reg(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x5d, dst, src, off, 0)
}
/// BPF_JMP | BPF_EXIT.
fn exit() -> Insn {
    insn(0x95, 0, 0, 0, 0)
}

/// Converts the OCI rules; `(default verdict, rules in config order)`.
fn normalise(rules: &[LinuxDeviceCgroup]) -> Result<(bool, Vec<Rule>), Error> {
    // With no "a" rule the kernel's default is to allow, as on v1.
    let mut default = true;
    let mut out = Vec::new();
    for rule in rules {
        let kind = match rule.typ().unwrap_or_default() {
            LinuxDeviceType::A => None,
            LinuxDeviceType::B => Some(1),
            LinuxDeviceType::C | LinuxDeviceType::U => Some(2),
            LinuxDeviceType::P => {
                return Err(Error::InvalidResource {
                    name: "devices.type",
                    value: "p".into(),
                    reason: "the device controller has no rules for FIFOs",
                })
            }
        };
        let number = |n: Option<i64>| n.filter(|n| *n >= 0).and_then(|n| i32::try_from(n).ok());
        let access = access_bits(rule.access().as_deref())?;
        let (major, minor) = (number(rule.major()), number(rule.minor()));
        if kind.is_none() && major.is_none() && minor.is_none() && access == ACCESS_ALL {
            default = rule.allow();
            out.clear();
            continue;
        }
        out.push(Rule { kind, major, minor, access, allow: rule.allow() });
    }
    Ok((default, out))
}

fn access_bits(access: Option<&str>) -> Result<i32, Error> {
    let access = access.filter(|a| !a.is_empty()).unwrap_or("rwm");
    access.chars().try_fold(0, |bits, c| match c {
        'm' => Ok(bits | 1),
        'r' => Ok(bits | 2),
        'w' => Ok(bits | 4),
        _ => Err(Error::InvalidResource {
            name: "devices.access",
            value: access.to_owned(),
            reason: "only r, w and m are allowed",
        }),
    })
}

/// The instructions for `rules`.
pub(crate) fn program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>, Error> {
    let (default, rules) = normalise(rules)?;
    let mut out = vec![
        load_u32(R2, R1, 0),
        and_imm(R2, 0xffff),
        load_u32(R3, R1, 0),
        rsh_imm(R3, 16),
        load_u32(R4, R1, 4),
        load_u32(R5, R1, 8),
    ];
    for rule in rules.iter().rev() {
        out.extend(block(rule));
    }
    out.push(mov_imm(R0, i32::from(default)));
    out.push(exit());
    Ok(out)
}

/// The checks of one rule, each jumping past the block on a mismatch, then its verdict.
fn block(rule: &Rule) -> Vec<Insn> {
    // Each check is built with offset 0 and patched once the block's length is known.
    let mut checks: Vec<Insn> = Vec::new();
    if let Some(kind) = rule.kind {
        checks.push(jne_imm(R2, kind, 0));
    }
    if rule.access != ACCESS_ALL {
        // Matches when every requested access bit is in the rule: (access & rule) == access.
        checks.push(mov_reg(R1, R3));
        checks.push(and_imm(R1, rule.access));
        checks.push(jne_reg(R1, R3, 0));
    }
    if let Some(major) = rule.major {
        checks.push(jne_imm(R4, major, 0));
    }
    if let Some(minor) = rule.minor {
        checks.push(jne_imm(R5, minor, 0));
    }
    let len = checks.len() + 2;
    for (i, check) in checks.iter_mut().enumerate() {
        if check.code == 0x55 || check.code == 0x5d {
            check.off = i16::try_from(len - i - 1).unwrap_or(i16::MAX);
        }
    }
    checks.push(mov_imm(R0, i32::from(rule.allow)));
    checks.push(exit());
    checks
}

/// Loads the program for `rules` and attaches it to `dir`, then detaches the programs that
/// were attached before (an update replaces the filter with no moment without one).
pub(crate) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<(), Error> {
    let insns = program(rules)?;
    let attach_err = |source| Error::DeviceFilter { path: dir.to_owned(), source };
    let cgroup = rustix::fs::open(
        dir,
        rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| attach_err(berth_sys::Error::new("open", Some(dir), e)))?;
    let old = bpf::query_device_programs(&cgroup).map_err(attach_err)?;
    let prog = bpf::load_device_program(&insns).map_err(|err| {
        tracing::debug!(log = bpf::device_program_log(&insns), "device filter refused");
        attach_err(err)
    })?;
    bpf::attach_device_program(&cgroup, &prog).map_err(attach_err)?;
    for id in old {
        let detached =
            bpf::program_by_id(id).and_then(|fd| bpf::detach_device_program(&cgroup, fd));
        if let Err(err) = detached {
            tracing::warn!(?dir, id, error = %err, "cannot detach the previous device filter");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    fn rule(
        allow: bool,
        typ: LinuxDeviceType,
        major: i64,
        minor: i64,
        access: &str,
    ) -> LinuxDeviceCgroup {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .major(major)
            .minor(minor)
            .access(access)
            .build()
            .unwrap()
    }

    /// Runs the program the way the kernel would, on one request.
    fn run(insns: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> i64 {
        let ctx = [access << 16 | kind, major, minor];
        let mut reg = [0i64; 11];
        let mut pc = 0usize;
        loop {
            let i = insns[pc];
            let (dst, src) = (usize::from(i.regs & 0xf), usize::from(i.regs >> 4));
            pc += 1;
            match i.code {
                0x61 => reg[dst] = i64::from(ctx[usize::try_from(i.off / 4).unwrap()]),
                0x54 => reg[dst] = (reg[dst] & i64::from(i.imm)) & 0xffff_ffff,
                0x74 => reg[dst] = (reg[dst] & 0xffff_ffff) >> i.imm,
                0xbc => reg[dst] = reg[src] & 0xffff_ffff,
                0xb7 => reg[dst] = i64::from(i.imm),
                0x55 if reg[dst] != i64::from(i.imm) => pc += usize::try_from(i.off).unwrap(),
                0x5d if reg[dst] != reg[src] => pc += usize::try_from(i.off).unwrap(),
                0x55 | 0x5d => {}
                0x95 => return reg[0],
                code => panic!("unexpected opcode {code:#x}"),
            }
        }
    }

    const CHAR: u32 = 2;
    const BLOCK: u32 = 1;
    const R: u32 = 2;
    const W: u32 = 4;
    const M: u32 = 1;

    #[test]
    fn default_deny_then_allow_null() {
        let rules = [
            LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().unwrap(),
            rule(true, LinuxDeviceType::C, 1, 3, "rwm"),
            rule(true, LinuxDeviceType::C, 136, -1, "rw"),
        ];
        let p = program(&rules).unwrap();
        assert_eq!(run(&p, CHAR, R | W, 1, 3), 1, "/dev/null");
        assert_eq!(run(&p, CHAR, M, 1, 3), 1, "mknod /dev/null");
        assert_eq!(run(&p, CHAR, R, 1, 5), 0, "/dev/zero not allowed");
        assert_eq!(run(&p, BLOCK, R, 1, 3), 0, "block 1:3 is another device");
        assert_eq!(run(&p, CHAR, R, 136, 7), 1, "any pts");
        assert_eq!(run(&p, CHAR, M, 136, 7), 0, "pts: no mknod");
        assert_eq!(run(&p, CHAR, R | M, 136, 7), 0, "pts: partial match is no match");
    }

    #[test]
    fn later_rules_override_earlier() {
        let rules = [
            rule(true, LinuxDeviceType::C, 1, 5, "rwm"),
            rule(false, LinuxDeviceType::C, 1, 5, "w"),
        ];
        let p = program(&rules).unwrap();
        assert_eq!(run(&p, CHAR, W, 1, 5), 0);
        assert_eq!(run(&p, CHAR, R, 1, 5), 1);
        assert_eq!(run(&p, CHAR, R, 4, 1), 1, "no 'a' rule: default allow, as on v1");
    }

    #[test]
    fn allow_all_resets() {
        let rules = [
            LinuxDeviceCgroupBuilder::default().allow(false).build().unwrap(),
            rule(true, LinuxDeviceType::C, 1, 3, "rwm"),
            LinuxDeviceCgroupBuilder::default().allow(true).build().unwrap(),
        ];
        let p = program(&rules).unwrap();
        assert_eq!(p.len(), 8, "prelude + default");
        assert_eq!(run(&p, BLOCK, R, 8, 0), 1);
    }

    #[test]
    fn bad_rules() {
        let fifo = LinuxDeviceCgroupBuilder::default().typ(LinuxDeviceType::P).build().unwrap();
        assert!(program(&[fifo]).is_err());
        let bad = LinuxDeviceCgroupBuilder::default().access("rx").build().unwrap();
        assert!(program(&[bad]).is_err());
    }
}
