//! [`Batch`]: nf_tables messages between `NFNL_MSG_BATCH_BEGIN` and
//! `NFNL_MSG_BATCH_END`, which the kernel applies as one transaction, with
//! where each message came from, to explain a refusal.

use crate::netlink::consts::*;
use crate::netlink::wire::{nft_type, Writer};

/// Where a message of a batch came from: indexes into the change set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The table's index in the change set.
    pub table: usize,
    /// The operation's index in the table's operations.
    pub op: usize,
}

/// nf_tables messages collected into one batch.
#[derive(Debug)]
pub(crate) struct Batch {
    w: Writer,
    begin_seq: u32,
    next_seq: u32,
    origins: Vec<Origin>,
    last: Option<usize>,
}

/// A finished batch, ready to send.
#[derive(Debug)]
pub(crate) struct Sealed {
    /// The messages.
    pub bytes: Vec<u8>,
    /// The sequence number of the batch-begin message.
    pub begin_seq: u32,
    /// The sequence number of the last nf_tables message (it asks for an acknowledgement).
    pub last_seq: u32,
    /// The last sequence number used.
    pub end_seq: u32,
    origins: Vec<Origin>,
}

impl Sealed {
    /// Where the message with sequence number `seq` came from.
    pub(crate) fn origin(&self, seq: u32) -> Option<Origin> {
        let index = seq.wrapping_sub(self.begin_seq).checked_sub(1)?;
        self.origins.get(usize::try_from(index).ok()?).copied()
    }
}

impl Batch {
    /// An empty batch whose messages are numbered from `first_seq`.
    pub(crate) fn new(first_seq: u32) -> Self {
        let mut w = Writer::default();
        w.batch_begin(first_seq, None);
        Batch {
            w,
            begin_seq: first_seq,
            next_seq: first_seq.wrapping_add(1),
            origins: Vec::new(),
            last: None,
        }
    }

    /// Starts nf_tables message `msg` for `family` (NFPROTO_*); write its
    /// attributes with [`Batch::w`], then close it with [`Batch::end`].
    pub(crate) fn begin(&mut self, msg: u8, flags: u16, family: u8, origin: Origin) -> usize {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.origins.push(origin);
        let start = self
            .w
            .begin_msg(nft_type(msg), NLM_F_REQUEST | flags, seq, family, 0);
        self.last = Some(start);
        start
    }

    /// The writer of the message being built.
    pub(crate) fn w(&mut self) -> &mut Writer {
        &mut self.w
    }

    /// Closes the message started at `start`.
    pub(crate) fn end(&mut self, start: usize) {
        self.w.end_msg(start);
    }

    /// Whether the batch holds no nf_tables message.
    pub(crate) fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// Asks for an acknowledgement of the last message and, with `commit`,
    /// appends the batch end. Without it the kernel checks every message
    /// and then drops the whole batch (what `nft --check` does).
    pub(crate) fn seal(mut self, commit: bool) -> Sealed {
        if let Some(start) = self.last {
            self.w.add_flag(start, NLM_F_ACK);
        }
        let last_seq = self.next_seq.wrapping_sub(1);
        let end_seq = self.next_seq;
        if commit {
            self.w.batch_end(end_seq);
        }
        Sealed {
            bytes: self.w.into_bytes(),
            begin_seq: self.begin_seq,
            last_seq,
            end_seq,
            origins: self.origins,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::wire::messages;

    #[test]
    fn messages_are_numbered_and_traced_to_their_op() {
        let mut b = Batch::new(100);
        for op in 0..3 {
            let m = b.begin(NFT_MSG_NEWRULE, NLM_F_CREATE, 2, Origin { table: 0, op });
            b.w().attr_str(NFTA_RULE_TABLE, "t");
            b.end(m);
        }
        let sealed = b.seal(true);
        let msgs: Vec<_> = messages(&sealed.bytes).unwrap();
        assert_eq!(msgs.len(), 5);
        assert_eq!(msgs[0].ty, NFNL_MSG_BATCH_BEGIN);
        assert_eq!(msgs[4].ty, NFNL_MSG_BATCH_END);
        assert_eq!(
            msgs.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![100, 101, 102, 103, 104]
        );
        assert_eq!(msgs.iter().filter(|m| m.flags & NLM_F_ACK != 0).count(), 1);
        assert_eq!(msgs[3].flags & NLM_F_ACK, NLM_F_ACK);
        assert_eq!((sealed.begin_seq, sealed.last_seq), (100, 103));
        assert_eq!(sealed.origin(102), Some(Origin { table: 0, op: 1 }));
        assert_eq!(sealed.origin(100), None);
        assert_eq!(sealed.origin(104), None);
    }

    #[test]
    fn a_check_has_no_batch_end() {
        let mut b = Batch::new(u32::MAX);
        let m = b.begin(
            NFT_MSG_NEWTABLE,
            NLM_F_CREATE,
            2,
            Origin { table: 0, op: 0 },
        );
        b.end(m);
        let sealed = b.seal(false);
        let msgs: Vec<_> = messages(&sealed.bytes).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(sealed.origin(0), Some(Origin { table: 0, op: 0 }));
    }
}
