//! nf_tables requests over NETLINK_NETFILTER, built by hand like the rtnetlink ones in
//! `crate::netlink`. For now only the per-container hot path: adding and deleting elements
//! of berth's port maps. Each call is one batch, `NFNL_MSG_BATCH_BEGIN`, the element
//! messages, `NFNL_MSG_BATCH_END`, which the kernel applies as one transaction (all of it or
//! none) and answers with one `NLMSG_ERROR` per element message (they carry `NLM_F_ACK`).
//!
//! Layouts: `include/uapi/linux/netfilter/nfnetlink.h` and `nf_tables.h`; the tests compare
//! the bytes with what `nft` 1.0.6 sends for the same elements (`strace -e sendmsg -xx`).
//! Replacing the `nft` binary here saves a fork and exec and nft's own start (its cache
//! dumps) per publish and per withdrawal, about 3 ms each.

use rustix::io::Errno;

use crate::netlink::{Msg, Socket, NLA_F_NESTED, NLM_F_CREATE, NLM_F_REQUEST};
use crate::Error;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `NLMSG_MIN_TYPE` and the next: the batch delimiters of nfnetlink.
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFPROTO_IPV4: u8 = 2;
const AF_UNSPEC: u8 = 0;
const NFNETLINK_V0: u8 = 0;
/// The most element messages in one batch. Every one is answered by its own ack, a socket
/// buffer of its own on the receive queue (about 1 KiB of `net.core.rmem_default`, 208 KiB
/// usually, which a few hundred overflow: `ENOBUFS`); the batch, one datagram, must also
/// fit the send buffer. A `-p` range of thousands of ports is split into batches of this
/// many (each still one transaction).
const MAX_BATCH: usize = 128;

/// What to do with one map element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElemOp {
    /// `add element`: an equal element already there is not an error (`NLM_F_CREATE`
    /// without `NLM_F_EXCL`), the same key with other data is (`EBUSY`).
    Add,
    /// `delete element`: by key; a missing one is an error (`ENOENT`).
    Delete,
}

/// One element of a map in an `ip` table, with key and data as the kernel stores them: a
/// concatenation (`inet_proto . inet_service`) is each field in network byte order, padded
/// to 4 bytes (one nft register each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Elem {
    pub(crate) table: &'static str,
    pub(crate) map: &'static str,
    pub(crate) key: Vec<u8>,
    pub(crate) data: Vec<u8>,
    /// The element in nft's syntax (`tcp . 8080 : 10.88.0.2 . 80`), for error messages.
    pub(crate) text: String,
}

impl Elem {
    /// What `op` on this element is called in an error message.
    fn describe(&self, op: ElemOp) -> String {
        let (verb, prep) = match op {
            ElemOp::Add => ("add", "to"),
            ElemOp::Delete => ("delete", "from"),
        };
        format!("{verb} element {{ {} }} {prep} map ip {} {}", self.text, self.table, self.map)
    }
}

/// `struct nfgenmsg`: family, version, and `res_id` in network byte order.
fn nfgenmsg(family: u8, res_id: u16) -> [u8; 4] {
    let id = res_id.to_be_bytes();
    [family, NFNETLINK_V0, id[0], id[1]]
}

/// A batch delimiter; `res_id` names the subsystem the batch is for.
fn batch_marker(kind: u16) -> Msg {
    Msg::with_flags(kind, NLM_F_REQUEST).header(&nfgenmsg(AF_UNSPEC, NFNL_SUBSYS_NFTABLES))
}

/// `NFT_MSG_NEWSETELEM` / `NFT_MSG_DELSETELEM` for one element (a delete carries the key
/// only), with `NLM_F_ACK`.
pub(crate) fn elem_msg(op: ElemOp, e: &Elem) -> Msg {
    let (kind, flags) = match op {
        ElemOp::Add => (NFT_MSG_NEWSETELEM, NLM_F_CREATE),
        ElemOp::Delete => (NFT_MSG_DELSETELEM, 0),
    };
    let mut m = Msg::new(NFNL_SUBSYS_NFTABLES << 8 | kind, flags)
        .header(&nfgenmsg(NFPROTO_IPV4, 0))
        .attr_str(NFTA_SET_ELEM_LIST_TABLE, e.table)
        .attr_str(NFTA_SET_ELEM_LIST_SET, e.map)
        .begin(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED)
        .begin(NFTA_LIST_ELEM | NLA_F_NESTED)
        .begin(NFTA_SET_ELEM_KEY | NLA_F_NESTED)
        .attr(NFTA_DATA_VALUE, &e.key)
        .end();
    if op == ElemOp::Add {
        m = m.begin(NFTA_SET_ELEM_DATA | NLA_F_NESTED).attr(NFTA_DATA_VALUE, &e.data).end();
    }
    m.end().end()
}

/// Applies `ops` in order, in the caller's network namespace, as one transaction (or one
/// per [`MAX_BATCH`] elements). The first refusal is the error, naming the element and the
/// operation; the kernel then applied nothing of that batch.
pub(crate) fn apply(ops: &[(ElemOp, &Elem)]) -> Result<(), Error> {
    if ops.is_empty() {
        return Ok(());
    }
    let fail = |op: String| move |source: Errno| Error::Nftables { op, source };
    let mut nl =
        Socket::open_netfilter().map_err(fail("open a NETLINK_NETFILTER socket".into()))?;
    let mut rest = ops;
    while !rest.is_empty() {
        let mut msgs = vec![batch_marker(NFNL_MSG_BATCH_BEGIN)];
        // MAX_BATCH is even: `unpublish`'s add-then-delete pairs never straddle two batches
        let taken = rest.len().min(MAX_BATCH);
        msgs.extend(rest[..taken].iter().map(|(op, e)| elem_msg(*op, e)));
        msgs.push(batch_marker(NFNL_MSG_BATCH_END));
        let mut acked = vec![true; msgs.len()];
        acked[0] = false;
        acked[msgs.len() - 1] = false;
        let what = format!("send a batch of {taken} map element changes");
        let refused = nl.request_batch(msgs, &acked).map_err(fail(what))?;
        if let Some(&(i, source)) = refused.first() {
            // index 0 is the batch itself (refused as a whole), 1.. are the elements
            let op = match i.checked_sub(1).and_then(|i| rest.get(i)) {
                Some((op, e)) => e.describe(*op),
                None => format!("apply a batch of {taken} map element changes"),
            };
            return Err(Error::Nftables { op, source });
        }
        rest = &rest[taken..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_8080() -> Elem {
        Elem {
            table: "berth",
            map: "ports_any",
            key: vec![6, 0, 0, 0, 0x1f, 0x90, 0, 0],
            data: vec![10, 88, 0, 2, 0, 80, 0, 0],
            text: "tcp . 8080 : 10.88.0.2 . 80".into(),
        }
    }

    /// `nft add element ip berth ports_any { tcp . 8080 : 10.88.0.2 . 80 }` as nft 1.0.6
    /// sends it (strace), from the nfgenmsg on. nft adds `NFTA_SET_ELEM_LIST_SET_ID`
    /// (`08 00 04 00 00 00 00 01`, for a set made in the same batch), which berth does not
    /// need; the rest is byte for byte the same.
    #[test]
    fn add_element_matches_nft() {
        let m = elem_msg(ElemOp::Add, &any_8080()).finish(1);
        let nft_attrs: &[u8] = b"\x0a\x00\x01\x00berth\x00\x00\x00\
              \x0e\x00\x02\x00ports_any\x00\x00\x00\
              \x28\x00\x03\x80\
              \x24\x00\x01\x80\x10\x00\x01\x80\x0c\x00\x01\x00\x06\x00\x00\x00\x1f\x90\x00\x00\
              \x10\x00\x02\x80\x0c\x00\x01\x00\x0a\x58\x00\x02\x00\x50\x00\x00";
        assert_eq!(&m[16..20], &[2, 0, 0, 0], "nfgenmsg: AF_INET, v0, res_id 0");
        assert_eq!(&m[20..], nft_attrs);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(m.len(), 96 - 8, "nft's 96 bytes less its SET_ID attribute");
        let kind = u16::from_ne_bytes(m[4..6].try_into().unwrap());
        assert_eq!(kind, 10 << 8 | 12, "NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM");
        let flags = u16::from_ne_bytes(m[6..8].try_into().unwrap());
        // nft: NLM_F_REQUEST | NLM_F_CREATE; berth also asks for the ack
        assert_eq!(flags, 0x1 | 0x400 | 0x4);
    }

    /// `nft delete element ip berth ports_ip { 127.0.0.1 . udp . 53 : 10.88.0.3 . 5353 }`
    /// (`nft --debug=mnl`): the key only.
    #[test]
    fn delete_element_matches_nft() {
        let e = Elem {
            table: "berth",
            map: "ports_ip",
            key: vec![127, 0, 0, 1, 17, 0, 0, 0, 0, 53, 0, 0],
            data: vec![10, 88, 0, 3, 0x14, 0xe9, 0, 0],
            text: String::new(),
        };
        let m = elem_msg(ElemOp::Delete, &e).finish(1);
        let nft_attrs: &[u8] = b"\x0a\x00\x01\x00berth\x00\x00\x00\
              \x0d\x00\x02\x00ports_ip\x00\x00\x00\x00\
              \x1c\x00\x03\x80\x18\x00\x01\x80\x14\x00\x01\x80\x10\x00\x01\x00\
              \x7f\x00\x00\x01\x11\x00\x00\x00\x00\x35\x00\x00";
        assert_eq!(&m[20..], nft_attrs);
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), 10 << 8 | 14);
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 0x1 | 0x4);
    }

    /// The batch delimiters as nft sends them: AF_UNSPEC, res_id NFNL_SUBSYS_NFTABLES in
    /// network byte order, no ack asked.
    #[test]
    fn batch_markers_match_nft() {
        let begin = batch_marker(NFNL_MSG_BATCH_BEGIN).finish(0);
        assert_eq!(begin.len(), 20);
        assert_eq!(&begin[4..8], &[16, 0, 1, 0], "type 16, NLM_F_REQUEST only");
        assert_eq!(&begin[16..20], &[0, 0, 0, 10]);
        let end = batch_marker(NFNL_MSG_BATCH_END).finish(2);
        assert_eq!(&end[4..6], &[17, 0]);
        assert_eq!(&end[8..12], &2u32.to_ne_bytes());
    }

    #[test]
    fn errors_name_the_element_and_map() {
        let e = any_8080();
        assert_eq!(
            e.describe(ElemOp::Add),
            "add element { tcp . 8080 : 10.88.0.2 . 80 } to map ip berth ports_any"
        );
        assert!(e.describe(ElemOp::Delete).starts_with("delete element {"));
    }
}
