//! [`Transaction`]: nf_tables changes collected into one netlink batch,
//! which the kernel applies as one transaction — all of it or nothing.

use moat_model::Hook;

use super::consts::*;
use super::socket::NfSocket;
use super::types::{hook_number, Expr, IntervalKey, NfProto, SetSpec};
use super::udata::Udata;
use super::wire::{nft_type, Writer};
use super::NetlinkError;

/// Most bytes of elements put in one NEWSETELEM message: the element list
/// is one attribute, and attribute lengths are 16 bits.
const ELEMENTS_PER_MESSAGE_BYTES: usize = 60_000;

/// What [`Transaction::set_elements`] does with ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntervalOp {
    /// Adds them.
    Add,
    /// Adds them after an interval end at zero, as nft does.
    AddAsNft,
    /// Deletes them.
    Delete,
}

/// One message of a transaction, remembered to explain an error.
#[derive(Debug, Clone)]
struct Op {
    seq: u32,
    what: String,
}

/// Changes to nf_tables, applied together by [`NfSocket::commit`] as one
/// kernel transaction.
///
/// Messages are encoded as they are added, into one buffer that is sent
/// with a single `sendmsg`: the kernel checks and applies the whole batch,
/// or on any error applies none of it.
#[derive(Debug)]
pub struct Transaction {
    w: Writer,
    ops: Vec<Op>,
    begin_seq: u32,
    next_seq: u32,
    next_set_id: u32,
    last_op: Option<usize>,
}

impl Default for Transaction {
    fn default() -> Self {
        Transaction::new(None)
    }
}

fn seq_base() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
        .unwrap_or(1);
    nanos & 0x7fff_ffff | 1
}

impl Transaction {
    /// A new, empty transaction. With `generation` (from
    /// [`NfSocket::generation`]) the kernel refuses it if the ruleset
    /// changed since, and the commit reports [`NetlinkError::Changed`].
    pub fn new(generation: Option<u32>) -> Self {
        let begin_seq = seq_base();
        let mut w = Writer::default();
        w.batch_begin(begin_seq, generation);
        Transaction {
            w,
            ops: Vec::new(),
            begin_seq,
            next_seq: begin_seq.wrapping_add(1),
            next_set_id: 1,
            last_op: None,
        }
    }

    /// Whether nothing has been added.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Messages in the transaction.
    pub fn message_count(&self) -> usize {
        self.ops.len()
    }

    /// Bytes the batch takes so far.
    pub fn byte_len(&self) -> usize {
        self.w.len()
    }

    fn begin(
        &mut self,
        msg: u8,
        flags: u16,
        family: NfProto,
        what: impl FnOnce() -> String,
    ) -> usize {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.ops.push(Op { seq, what: what() });
        let start = self.w.begin_msg(
            nft_type(msg),
            NLM_F_REQUEST | flags,
            seq,
            family.number(),
            0,
        );
        self.last_op = Some(start);
        start
    }

    /// Creates table `name` unless it exists (existing tables are left as
    /// they are; the comment is only set on creation).
    pub fn add_table(&mut self, family: NfProto, name: &str, comment: Option<&str>) {
        let m = self.begin(NFT_MSG_NEWTABLE, NLM_F_CREATE, family, || {
            format!("add table {} {name}", family.word())
        });
        self.w.attr_str(NFTA_TABLE_NAME, name);
        if let Some(text) = comment {
            let mut u = Udata::default();
            u.string(UDATA_TABLE_COMMENT, text);
            self.w.attr(NFTA_TABLE_USERDATA, &u.0);
        }
        self.w.end_msg(m);
    }

    /// Deletes table `name` with everything in it.
    pub fn delete_table(&mut self, family: NfProto, name: &str) {
        let m = self.begin(NFT_MSG_DELTABLE, 0, family, || {
            format!("delete table {} {name}", family.word())
        });
        self.w.attr_str(NFTA_TABLE_NAME, name);
        self.w.end_msg(m);
    }

    /// Creates a `filter` base chain with policy accept at `hook` and
    /// `priority`, unless it exists with the same hook.
    pub fn add_base_chain(
        &mut self,
        family: NfProto,
        table: &str,
        chain: &str,
        hook: Hook,
        priority: i32,
    ) {
        let m = self.begin(NFT_MSG_NEWCHAIN, NLM_F_CREATE, family, || {
            format!("add chain {} {table} {chain}", family.word())
        });
        self.w.attr_str(NFTA_CHAIN_TABLE, table);
        self.w.attr_str(NFTA_CHAIN_NAME, chain);
        let h = self.w.begin_nest(NFTA_CHAIN_HOOK);
        self.w.attr_u32(NFTA_HOOK_HOOKNUM, hook_number(hook));
        self.w.attr(NFTA_HOOK_PRIORITY, &priority.to_be_bytes());
        self.w.end_nest(h);
        self.w.attr_u32(NFTA_CHAIN_POLICY, NF_ACCEPT as u32);
        self.w.attr_str(NFTA_CHAIN_TYPE, "filter");
        self.w.end_msg(m);
    }

    /// Creates a set unless one of that name exists (an existing set keeps
    /// its elements and comment).
    pub fn add_set(&mut self, family: NfProto, table: &str, spec: &SetSpec<'_>) {
        let flags = if spec.interval { NFT_SET_INTERVAL } else { 0 };
        self.new_set(family, table, spec, flags);
    }

    /// Creates a set whose elements may carry timeouts (`flags timeout`,
    /// with `interval` when the spec says so) unless one of that name
    /// exists (an existing set keeps its elements and comment). Elements
    /// without a timeout never expire: the set has no default timeout.
    pub fn add_timeout_set(&mut self, family: NfProto, table: &str, spec: &SetSpec<'_>) {
        let interval = if spec.interval { NFT_SET_INTERVAL } else { 0 };
        self.new_set(family, table, spec, interval | NFT_SET_TIMEOUT);
    }

    fn new_set(&mut self, family: NfProto, table: &str, spec: &SetSpec<'_>, flags: u32) {
        let m = self.begin(NFT_MSG_NEWSET, NLM_F_CREATE, family, || {
            format!("add set {} {table} {}", family.word(), spec.name)
        });
        self.w.attr_str(NFTA_SET_TABLE, table);
        self.w.attr_str(NFTA_SET_NAME, spec.name);
        if flags != 0 {
            self.w.attr_u32(NFTA_SET_FLAGS, flags);
        }
        self.w.attr_u32(NFTA_SET_KEY_TYPE, spec.key_type);
        self.w.attr_u32(NFTA_SET_KEY_LEN, spec.key_len);
        self.w.attr_u32(NFTA_SET_ID, self.next_set_id);
        self.next_set_id += 1;
        let mut u = Udata::default();
        u.u32(UDATA_SET_KEYBYTEORDER, BYTEORDER_BIG_ENDIAN);
        if let Some(text) = spec.comment {
            u.string(UDATA_SET_COMMENT, text);
        }
        self.w.attr(NFTA_SET_USERDATA, &u.0);
        self.w.end_msg(m);
    }

    /// Deletes a set; the kernel refuses (EBUSY) while a rule uses it.
    pub fn delete_set(&mut self, family: NfProto, table: &str, name: &str) {
        let m = self.begin(NFT_MSG_DELSET, 0, family, || {
            format!("delete set {} {table} {name}", family.word())
        });
        self.w.attr_str(NFTA_SET_TABLE, table);
        self.w.attr_str(NFTA_SET_NAME, name);
        self.w.end_msg(m);
    }

    /// Removes every element of a set (`nft flush set`). Followed by
    /// [`Transaction::add_intervals`] in the same transaction, the set is
    /// replaced with no moment in which it is empty.
    pub fn flush_set(&mut self, family: NfProto, table: &str, name: &str) {
        let m = self.begin(NFT_MSG_DELSETELEM, 0, family, || {
            format!("flush set {} {table} {name}", family.word())
        });
        self.w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
        self.w.attr_str(NFTA_SET_ELEM_LIST_SET, name);
        self.w.end_msg(m);
    }

    /// Adds inclusive ranges to an interval set.
    ///
    /// `ranges` must be sorted and must not overlap (adjacent is fine). Each
    /// range `[a, b]` becomes a start element `a` and an element `b + 1`
    /// flagged as interval end; a range reaching the top of the address
    /// space has no end element (and, as nft marks it, the user-data flag
    /// of an open interval). Elements are split over as many messages as
    /// needed.
    pub fn add_intervals<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
        ranges: &[(K, K)],
    ) {
        self.set_elements::<K>(IntervalOp::Add, family, table, set, ranges);
    }

    /// Adds inclusive ranges to an interval set as nft writes a set's
    /// `elements = { ... }`: as [`Transaction::add_intervals`] does, after
    /// an interval end at zero when the first range does not start there.
    pub fn add_intervals_as_nft<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
        ranges: &[(K, K)],
    ) {
        self.set_elements::<K>(IntervalOp::AddAsNft, family, table, set, ranges);
    }

    /// Deletes ranges that are in an interval set exactly as given (both of
    /// each range's elements).
    pub fn delete_intervals<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
        ranges: &[(K, K)],
    ) {
        self.set_elements::<K>(IntervalOp::Delete, family, table, set, ranges);
    }

    fn set_elements<K: IntervalKey>(
        &mut self,
        op: IntervalOp,
        family: NfProto,
        table: &str,
        set: &str,
        ranges: &[(K, K)],
    ) {
        let (msg, flags) = match op {
            IntervalOp::Add | IntervalOp::AddAsNft => (NFT_MSG_NEWSETELEM, NLM_F_CREATE),
            IntervalOp::Delete => (NFT_MSG_DELSETELEM, 0),
        };
        let zero = K::read_be(&[0u8; 16][..K::LEN]);
        self.element_messages(
            msg,
            flags,
            family,
            table,
            set,
            ranges,
            |t, i, &(first, last)| {
                if let (IntervalOp::AddAsNft, 0, Some(zero)) = (op, i, zero) {
                    if first != zero {
                        t.element(zero, true, false);
                    }
                }
                let end = last.succ();
                t.element(first, false, end.is_none() && msg == NFT_MSG_NEWSETELEM);
                if let Some(end) = end {
                    t.element(end, true, false);
                }
            },
        );
    }

    /// Writes `items` as set-element messages of kind `msg` to `set`, in as
    /// many messages as the size limit needs, each item by `write` (given
    /// its index), and names each message's part for error reports.
    #[allow(clippy::too_many_arguments)]
    fn element_messages<T>(
        &mut self,
        msg: u8,
        flags: u16,
        family: NfProto,
        table: &str,
        set: &str,
        items: &[T],
        mut write: impl FnMut(&mut Self, usize, &T),
    ) {
        let verb = if msg == NFT_MSG_NEWSETELEM {
            "add"
        } else {
            "delete"
        };
        let mut next = 0;
        while next < items.len() {
            let first_index = next;
            let m = self.begin(msg, flags, family, String::new);
            self.w.attr_str(NFTA_SET_ELEM_LIST_TABLE, table);
            self.w.attr_str(NFTA_SET_ELEM_LIST_SET, set);
            let list = self.w.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS);
            while next < items.len() && self.w.len() - list <= ELEMENTS_PER_MESSAGE_BYTES {
                write(self, next, &items[next]);
                next += 1;
            }
            self.w.end_nest(list);
            self.w.end_msg(m);
            if let Some(op) = self.ops.last_mut() {
                op.what = format!(
                    "{verb} elements {}-{next} of {} in set {} {table} {set}",
                    first_index + 1,
                    items.len(),
                    family.word()
                );
            }
        }
    }

    fn element<K: IntervalKey>(&mut self, key: K, end: bool, open: bool) {
        let w = &mut self.w;
        let e = begin_element(w, key, end);
        if open {
            let mut u = Udata::default();
            u.u32(UDATA_SET_ELEM_FLAGS, UDATA_SET_ELEM_F_INTERVAL_OPEN);
            w.attr(NFTA_SET_ELEM_USERDATA, &u.0);
        }
        w.end_nest(e);
    }

    /// Adds single keys, each with its own timeout (`None`: never expires),
    /// to a set without intervals created by
    /// [`Transaction::add_timeout_set`] (or, with only `None` timeouts, by
    /// [`Transaction::add_set`]); the elements are split over as many
    /// messages as needed.
    ///
    /// A key already in the set stays: on kernels that update timeouts
    /// (Linux 6.18 does, also from timed to permanent and back) it takes
    /// the new timeout; older kernels keep its own. With `exclusive` the
    /// kernel refuses the whole transaction (EEXIST) instead when a key is
    /// in the set already.
    ///
    /// A timeout is sent in milliseconds, at least 1: a zero would mean the
    /// set's default, which for these sets is never to expire.
    pub fn add_elements<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
        elements: &[(K, Option<std::time::Duration>)],
        exclusive: bool,
    ) {
        let flags = if exclusive {
            NLM_F_CREATE | NLM_F_EXCL
        } else {
            NLM_F_CREATE
        };
        self.keyed_elements(NFT_MSG_NEWSETELEM, flags, family, table, set, elements);
    }

    /// Deletes single keys from a set without intervals; the kernel refuses
    /// the whole transaction (ENOENT) when one of them is not in the set.
    pub fn delete_elements<K: IntervalKey>(
        &mut self,
        family: NfProto,
        table: &str,
        set: &str,
        keys: &[K],
    ) {
        let elements: Vec<(K, Option<std::time::Duration>)> =
            keys.iter().map(|&k| (k, None)).collect();
        self.keyed_elements(NFT_MSG_DELSETELEM, 0, family, table, set, &elements);
    }

    fn keyed_elements<K: IntervalKey>(
        &mut self,
        msg: u8,
        flags: u16,
        family: NfProto,
        table: &str,
        set: &str,
        elements: &[(K, Option<std::time::Duration>)],
    ) {
        self.element_messages(
            msg,
            flags,
            family,
            table,
            set,
            elements,
            |t, _, &(key, timeout)| {
                let e = t.w.begin_nest(NFTA_LIST_ELEM);
                if let Some(timeout) = timeout {
                    t.w.attr_u64(NFTA_SET_ELEM_TIMEOUT, timeout_ms(timeout));
                }
                let k = t.w.begin_nest(NFTA_SET_ELEM_KEY);
                let mut bytes = [0u8; 16];
                key.write_be(&mut bytes[..K::LEN]);
                t.w.attr(NFTA_DATA_VALUE, &bytes[..K::LEN]);
                t.w.end_nest(k);
                t.w.end_nest(e);
            },
        );
    }

    /// Inserts a rule at the start of `chain`.
    pub fn insert_rule(
        &mut self,
        family: NfProto,
        table: &str,
        chain: &str,
        exprs: &[Expr<'_>],
        comment: Option<&str>,
    ) {
        self.rule(NLM_F_CREATE, family, table, chain, exprs, comment);
    }

    /// Appends a rule to the end of `chain`.
    pub fn add_rule(
        &mut self,
        family: NfProto,
        table: &str,
        chain: &str,
        exprs: &[Expr<'_>],
        comment: Option<&str>,
    ) {
        self.rule(
            NLM_F_CREATE | NLM_F_APPEND,
            family,
            table,
            chain,
            exprs,
            comment,
        );
    }

    fn rule(
        &mut self,
        flags: u16,
        family: NfProto,
        table: &str,
        chain: &str,
        exprs: &[Expr<'_>],
        comment: Option<&str>,
    ) {
        let m = self.begin(NFT_MSG_NEWRULE, flags, family, || {
            format!(
                "add rule {} {table} {chain}{}",
                family.word(),
                comment.map(|c| format!(" ({c})")).unwrap_or_default()
            )
        });
        self.w.attr_str(NFTA_RULE_TABLE, table);
        self.w.attr_str(NFTA_RULE_CHAIN, chain);
        let list = self.w.begin_nest(NFTA_RULE_EXPRESSIONS);
        for expr in exprs {
            expr.write(&mut self.w);
        }
        self.w.end_nest(list);
        if let Some(text) = comment {
            let mut u = Udata::default();
            u.string(UDATA_RULE_COMMENT, text);
            self.w.attr(NFTA_RULE_USERDATA, &u.0);
        }
        self.w.end_msg(m);
    }

    /// Deletes the rule with `handle` from `chain`.
    pub fn delete_rule(&mut self, family: NfProto, table: &str, chain: &str, handle: u64) {
        let m = self.begin(NFT_MSG_DELRULE, 0, family, || {
            format!(
                "delete rule {} {table} {chain} handle {handle}",
                family.word()
            )
        });
        self.w.attr_str(NFTA_RULE_TABLE, table);
        self.w.attr_str(NFTA_RULE_CHAIN, chain);
        self.w.attr_u64(NFTA_RULE_HANDLE, handle);
        self.w.end_msg(m);
    }

    /// Closes the batch: asks for an acknowledgement of the last message
    /// and appends the batch end. Returns the buffer to send and the
    /// sequence number whose acknowledgement ends the reply.
    fn finish(&mut self) -> (Vec<u8>, u32) {
        if let Some(start) = self.last_op {
            self.w.add_flag(start, NLM_F_ACK);
        }
        self.w.batch_end(self.next_seq);
        let last_seq = self.ops.last().map_or(self.begin_seq, |op| op.seq);
        (std::mem::take(&mut self.w).into_bytes(), last_seq)
    }
}

impl NfSocket {
    /// Applies `tx` as one transaction: on success all of it is in the
    /// kernel; on error none of it, and the error names the refused change.
    pub fn commit(&mut self, mut tx: Transaction) -> Result<(), NetlinkError> {
        if tx.is_empty() {
            return Ok(());
        }
        let (buf, last_seq) = tx.finish();
        let Some(refusal) = self.send_batch(&buf, tx.begin_seq, last_seq)? else {
            return Ok(());
        };
        if refusal.errno == libc::ERESTART && refusal.seq == tx.begin_seq {
            return Err(NetlinkError::Changed);
        }
        let what = tx
            .ops
            .iter()
            .find(|op| op.seq == refusal.seq)
            .map(|op| op.what.clone())
            .unwrap_or_else(|| "committing the transaction".to_string());
        Err(NetlinkError::Refused {
            what,
            errno: refusal.errno,
            detail: refusal.detail,
        })
    }
}

/// A timeout in whole milliseconds, at least 1 (zero means "the set's
/// default" to the kernel).
fn timeout_ms(timeout: std::time::Duration) -> u64 {
    u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Opens the element of an interval set holding `key`, flagged as an
/// interval's end with `end`; close it with [`Writer::end_nest`].
pub(super) fn begin_element<K: IntervalKey>(w: &mut Writer, key: K, end: bool) -> usize {
    let e = w.begin_nest(NFTA_LIST_ELEM);
    if end {
        w.attr_u32(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
    }
    let k = w.begin_nest(NFTA_SET_ELEM_KEY);
    let mut bytes = [0u8; 16];
    key.write_be(&mut bytes[..K::LEN]);
    w.attr(NFTA_DATA_VALUE, &bytes[..K::LEN]);
    w.end_nest(k);
    e
}

#[cfg(test)]
mod tests {
    use super::super::wire::{be_u32, messages, Attrs};
    use super::*;

    #[test]
    fn elements_are_split_under_the_attribute_limit() {
        let mut tx = Transaction::new(Some(42));
        let ranges: Vec<(u128, u128)> = (0..20_000u128).map(|i| (i * 4, i * 4 + 1)).collect();
        tx.add_intervals(NfProto::Inet, "t", "s", &ranges);
        assert!(tx.message_count() > 1);
        let (buf, last) = tx.finish();
        let msgs = messages(&buf).unwrap();
        assert_eq!(msgs.first().unwrap().ty, NFNL_MSG_BATCH_BEGIN);
        assert_eq!(msgs.last().unwrap().ty, NFNL_MSG_BATCH_END);
        let genid = msgs[0].attrs().get(NFNL_BATCH_GENID);
        assert_eq!(genid.and_then(be_u32), Some(42));
        let mut elements = 0;
        for m in &msgs[1..msgs.len() - 1] {
            let elems = m.attrs().get(NFTA_SET_ELEM_LIST_ELEMENTS).unwrap();
            assert!(elems.len() < u16::MAX as usize);
            elements += Attrs(elems).checked().unwrap().count();
        }
        assert_eq!(elements, 40_000);
        let acked: Vec<_> = msgs.iter().filter(|m| m.flags & NLM_F_ACK != 0).collect();
        assert_eq!(acked.len(), 1);
        assert_eq!(acked[0].seq, last);
    }

    #[test]
    fn open_range_has_no_end_element() {
        let mut tx = Transaction::new(None);
        tx.add_intervals(NfProto::Inet, "t", "s", &[(0xffff_ff00u32, u32::MAX)]);
        let (buf, _) = tx.finish();
        let msgs = messages(&buf).unwrap();
        let list = msgs[1].attrs().get(NFTA_SET_ELEM_LIST_ELEMENTS).unwrap();
        let elems: Vec<_> = Attrs(list).collect();
        assert_eq!(elems.len(), 1);
        let elem = Attrs(elems[0].1);
        assert!(elem.get(NFTA_SET_ELEM_FLAGS).is_none());
        assert!(elem.get(NFTA_SET_ELEM_USERDATA).is_some());
    }

    #[test]
    fn timed_elements_carry_their_timeout_before_the_key() {
        use std::time::Duration;
        let mut tx = Transaction::new(None);
        tx.add_timeout_set(NfProto::Inet, "t", &SetSpec::values::<u32>("s", None));
        tx.add_elements(
            NfProto::Inet,
            "t",
            "s",
            &[
                (0x0102_0304u32, Some(Duration::from_secs(600))),
                (0x0102_0305, None),
                (0x0102_0306, Some(Duration::ZERO)),
            ],
            true,
        );
        tx.delete_elements(NfProto::Inet, "t", "s", &[0x0102_0304u32]);
        let (buf, _) = tx.finish();
        let msgs = messages(&buf).unwrap();
        let set = msgs[1].attrs();
        assert_eq!(
            set.get(NFTA_SET_FLAGS).and_then(be_u32),
            Some(NFT_SET_TIMEOUT)
        );
        assert_eq!(
            msgs[2].flags & (NLM_F_CREATE | NLM_F_EXCL),
            NLM_F_CREATE | NLM_F_EXCL
        );
        let list = msgs[2].attrs().get(NFTA_SET_ELEM_LIST_ELEMENTS).unwrap();
        let elems: Vec<_> = Attrs(list).collect();
        assert_eq!(elems.len(), 3);
        let first: Vec<u16> = Attrs(elems[0].1).map(|(k, _)| k).collect();
        assert_eq!(first, vec![NFTA_SET_ELEM_TIMEOUT, NFTA_SET_ELEM_KEY]);
        let ms = Attrs(elems[0].1).get(NFTA_SET_ELEM_TIMEOUT).unwrap();
        assert_eq!(ms, &600_000u64.to_be_bytes());
        assert!(Attrs(elems[1].1).get(NFTA_SET_ELEM_TIMEOUT).is_none());
        // A zero timeout would mean the set's default (never): sent as 1 ms.
        let zero = Attrs(elems[2].1).get(NFTA_SET_ELEM_TIMEOUT).unwrap();
        assert_eq!(zero, &1u64.to_be_bytes());
        assert_eq!(msgs[3].ty, nft_type(NFT_MSG_DELSETELEM));
        assert_eq!(msgs[3].flags & NLM_F_CREATE, 0);
    }

    #[test]
    fn sets_without_timeouts_are_encoded_as_before() {
        let mut tx = Transaction::new(None);
        tx.add_set(NfProto::Inet, "t", &SetSpec::values::<u16>("p", None));
        tx.add_set(NfProto::Inet, "t", &SetSpec::intervals::<u16>("q", None));
        let (buf, _) = tx.finish();
        let msgs = messages(&buf).unwrap();
        assert!(msgs[1].attrs().get(NFTA_SET_FLAGS).is_none());
        assert_eq!(
            msgs[1].attrs().get(NFTA_SET_KEY_TYPE).and_then(be_u32),
            Some(TYPE_INET_SERVICE)
        );
        assert_eq!(
            msgs[1].attrs().get(NFTA_SET_KEY_LEN).and_then(be_u32),
            Some(2)
        );
        assert_eq!(
            msgs[2].attrs().get(NFTA_SET_FLAGS).and_then(be_u32),
            Some(NFT_SET_INTERVAL)
        );
    }

    #[test]
    fn intervals_as_nft_start_with_an_end_at_zero() {
        let mut tx = Transaction::new(None);
        tx.add_intervals_as_nft(NfProto::Inet, "t", "p", &[(22u16, 22), (80, 90)]);
        tx.add_intervals_as_nft(NfProto::Inet, "t", "q", &[(0u16, 5)]);
        let (buf, _) = tx.finish();
        let msgs = messages(&buf).unwrap();
        let keys = |m: &super::super::wire::Message<'_>| -> Vec<(Vec<u8>, bool)> {
            let list = m.attrs().get(NFTA_SET_ELEM_LIST_ELEMENTS).unwrap();
            Attrs(list)
                .map(|(_, e)| {
                    let e = Attrs(e);
                    let key = Attrs(e.get(NFTA_SET_ELEM_KEY).unwrap())
                        .get(NFTA_DATA_VALUE)
                        .unwrap()
                        .to_vec();
                    (key, e.get(NFTA_SET_ELEM_FLAGS).is_some())
                })
                .collect()
        };
        assert_eq!(
            keys(&msgs[1]),
            vec![
                (vec![0, 0], true),
                (vec![0, 22], false),
                (vec![0, 23], true),
                (vec![0, 80], false),
                (vec![0, 91], true)
            ]
        );
        assert_eq!(
            keys(&msgs[2]),
            vec![(vec![0, 0], false), (vec![0, 6], true)]
        );
    }
}
