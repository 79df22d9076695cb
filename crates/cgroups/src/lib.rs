//! cgroup v1, hybrid and v2 management for the berth OCI runtime (cgroupfs driver).
//!
//! The runtime detects the host's [`Layout`] once, resolves the container's
//! `linux.cgroupsPath` into a [`Cgroup`] (one directory per hierarchy), then calls
//! [`Cgroup::create`], [`Cgroup::apply`] and [`Cgroup::add_process`]; `kill --all` uses
//! [`Cgroup::kill_all`] (v2 `cgroup.kill`) or [`Cgroup::pids`], `pause`/`resume` use
//! [`Cgroup::freeze`]/[`Cgroup::thaw`], `events` uses [`Cgroup::stats`], `update` calls
//! [`Cgroup::apply`] again, and `delete` uses [`Cgroup::destroy`]. A `Cgroup` is serializable so the
//! runtime keeps it in its state file and can delete without the bundle's config.
//!
//! ```no_run
//! use std::path::Path;
//! use berth_cgroups::{Cgroup, Layout};
//! # fn main() -> Result<(), berth_cgroups::Error> {
//! let layout = Layout::detect()?;
//! let mut cgroup = Cgroup::resolve(&layout, Some(Path::new("berth/demo")), "berth/demo")?;
//! cgroup.create()?;
//! cgroup.apply(&oci_spec::runtime::LinuxResources::default())?;
//! cgroup.add_process(std::process::id() as i32)?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`layout`]: mountinfo parsing into v1 / hybrid / v2.
//! - `path`: `/proc/self/cgroup` parsing and cgroupsPath resolution.
//! - `cgroup`: [`Cgroup`], [`Dir`], [`Mode`] and their operations.
//! - `v1/{memory,cpu,cpuset,pids,blkio,devices}`, `v2/{memory,cpu,cpuset,pids,io,devices}`:
//!   one file per controller; each function takes the cgroup directory, so unit tests run
//!   against tempdir fixtures. `v2/devices` generates the eBPF device filter.
//! - `hugetlb` (v1 and v2 file names), `pids` (one file in both), `misc` (rdma, v1 net_cls/net_prio).
//! - `freezer`: v1 `freezer.state`, v2 `cgroup.freeze`/`cgroup.events`, v2 `cgroup.kill`.
//! - [`stats`]: the usage readers behind [`Cgroup::stats`].
//! - `join`: [`SelfJoin`], the v1 `tasks` files through which the container's init moves
//!   itself into its cgroup (no RCU grace period, unlike a move from outside).
//! - `destroy`: recursive `rmdir` with `EBUSY` retries, and the tree walk for [`Cgroup::pids`].
//! - `file`: single interface-file reads and writes.
//! - [`error`]: the [`Error`] type.
//!
//! In the hybrid layout (v1 hierarchies plus a cgroup2 mount, usually
//! `/sys/fs/cgroup/unified`) resources go to the v1 hierarchies and processes are also placed
//! in the unified hierarchy, as runc does; crun refuses that layout.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cgroup;
mod destroy;
pub mod error;
mod file;
mod freezer;
mod hugetlb;
mod join;
pub mod layout;
mod misc;
mod path;
mod pids;
pub mod stats;
mod v1;
mod v2;

pub use cgroup::{Cgroup, Dir, Mode};
pub use error::{Error, ErrorList};
pub use join::SelfJoin;
pub use layout::{Hierarchy, Layout, Mount};
pub use stats::Stats;
pub use v2::cpu::shares_to_weight;
pub use v2::memory::swap_to_v2;
