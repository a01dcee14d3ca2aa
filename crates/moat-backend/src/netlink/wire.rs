//! Netlink framing: writing nf_tables messages with nested attributes into
//! one buffer, and reading messages and attributes back without copying.
//!
//! Header and attribute fields are set and checked through
//! `netlink-packet-core`'s buffer types (attribute headers are read
//! directly, with its constants, on the hot path of rule dumps); this
//! module adds what nf_tables needs on top: the nfgenmsg header, nested
//! attributes and big-endian numbers. Headers are in host order, as
//! `struct nlmsghdr` is.

use netlink_packet_core::{NetlinkBuffer, NLA_F_NESTED, NLA_HEADER_SIZE, NLA_TYPE_MASK};

use super::consts::{
    NFNETLINK_V0, NFNL_BATCH_GENID, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES,
    NLM_F_REQUEST,
};
use super::NetlinkError;

/// Bytes of `struct nlmsghdr`.
pub(crate) const NLMSG_HDRLEN: usize = 16;
/// Bytes of `struct nfgenmsg`, which follows the netlink header.
pub(crate) const NFGENMSG_LEN: usize = 4;

/// `len` rounded up to netlink's 4-byte alignment.
pub(crate) const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// The netlink message type of nf_tables message `msg`.
pub(crate) fn nft_type(msg: u8) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg)
}

/// A length that does not fit its 16-bit field is written as the largest
/// one; callers keep attributes under 64 KiB.
fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// Appends netlink messages to one contiguous buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Starts a message with an nfgenmsg header; returns its offset for
    /// [`Writer::end_msg`].
    pub(crate) fn begin_msg(
        &mut self,
        ty: u16,
        flags: u16,
        seq: u32,
        family: u8,
        res_id: u16,
    ) -> usize {
        let start = self.buf.len();
        self.buf.resize(start + NLMSG_HDRLEN, 0);
        let mut hdr = NetlinkBuffer::new(&mut self.buf[start..]);
        hdr.set_message_type(ty);
        hdr.set_flags(flags);
        hdr.set_sequence_number(seq);
        hdr.set_port_number(0);
        self.buf.push(family);
        self.buf.push(NFNETLINK_V0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        start
    }

    /// Finishes the message started at `start` by writing its length.
    pub(crate) fn end_msg(&mut self, start: usize) {
        let len = u32::try_from(self.buf.len() - start).unwrap_or(u32::MAX);
        NetlinkBuffer::new(&mut self.buf[start..]).set_length(len);
    }

    /// Appends the message that opens a batch of nf_tables messages; with
    /// `genid` the kernel refuses the batch if the ruleset's generation
    /// is no longer that.
    pub(crate) fn batch_begin(&mut self, seq: u32, genid: Option<u32>) {
        let m = self.begin_msg(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            seq,
            0,
            NFNL_SUBSYS_NFTABLES,
        );
        if let Some(genid) = genid {
            self.attr_u32(NFNL_BATCH_GENID, genid);
        }
        self.end_msg(m);
    }

    /// Appends the message that closes a batch: the kernel commits it.
    pub(crate) fn batch_end(&mut self, seq: u32) {
        let m = self.begin_msg(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            seq,
            0,
            NFNL_SUBSYS_NFTABLES,
        );
        self.end_msg(m);
    }

    /// Adds `flag` to the flags of the message at `start`.
    pub(crate) fn add_flag(&mut self, start: usize, flag: u16) {
        let mut hdr = NetlinkBuffer::new(&mut self.buf[start..]);
        let flags = hdr.flags();
        hdr.set_flags(flags | flag);
    }

    /// Appends the header of an attribute with a `len`-byte value (whose
    /// bytes and padding the caller appends).
    fn attr_header(&mut self, kind: u16, len: usize) {
        // The header's length and type are in the host's byte order.
        let mut header = [0; 4];
        header[..2].copy_from_slice(&len16(4 + len).to_ne_bytes());
        header[2..].copy_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&header);
    }

    /// Pads the buffer to netlink's 4-byte alignment.
    fn pad(&mut self) {
        let padding = align4(self.buf.len()) - self.buf.len();
        self.buf.extend_from_slice(&[0; 3][..padding]);
    }

    /// Appends an attribute with a raw value.
    pub(crate) fn attr(&mut self, kind: u16, value: &[u8]) {
        self.attr_header(kind, value.len());
        self.buf.extend_from_slice(value);
        self.pad();
    }

    /// Appends a NUL-terminated string attribute.
    pub(crate) fn attr_str(&mut self, kind: u16, value: &str) {
        self.attr_header(kind, value.len() + 1);
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    /// Appends a `u8` attribute.
    pub(crate) fn attr_u8(&mut self, kind: u16, value: u8) {
        self.attr(kind, &[value]);
    }

    /// Appends a big-endian `u16` attribute.
    pub(crate) fn attr_u16(&mut self, kind: u16, value: u16) {
        self.attr(kind, &value.to_be_bytes());
    }

    /// Appends a big-endian `u32` attribute.
    pub(crate) fn attr_u32(&mut self, kind: u16, value: u32) {
        self.attr(kind, &value.to_be_bytes());
    }

    /// Appends a big-endian `u64` attribute.
    pub(crate) fn attr_u64(&mut self, kind: u16, value: u64) {
        self.attr(kind, &value.to_be_bytes());
    }

    /// Opens a nested attribute; returns its offset for [`Writer::end_nest`].
    pub(crate) fn begin_nest(&mut self, kind: u16) -> usize {
        let start = self.buf.len();
        self.attr_header(kind | NLA_F_NESTED, 0);
        start
    }

    /// Appends a nested attribute whose inner attributes are `inner`, as is.
    pub(crate) fn nest_bytes(&mut self, kind: u16, inner: &[u8]) {
        let start = self.begin_nest(kind);
        self.buf.extend_from_slice(inner);
        self.pad();
        self.end_nest(start);
    }

    /// Closes the nested attribute opened at `start`.
    pub(crate) fn end_nest(&mut self, start: usize) {
        let len = len16(self.buf.len() - start);
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// Bytes written so far: an offset for [`Writer::truncate`].
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Drops everything written after offset `len`.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// The messages written.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// One netlink message of a datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message<'a> {
    /// The message type.
    pub ty: u16,
    /// The header flags.
    pub flags: u16,
    /// The sequence number of the request it answers.
    pub seq: u32,
    /// Everything after the netlink header.
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// The attributes after the nfgenmsg header.
    pub(crate) fn attrs(&self) -> Attrs<'a> {
        Attrs(self.payload.get(NFGENMSG_LEN..).unwrap_or_default())
    }
}

/// The netlink messages of a datagram; an error if one is damaged.
pub(crate) fn messages(datagram: &[u8]) -> Result<Vec<Message<'_>>, NetlinkError> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while rest.len() >= NLMSG_HDRLEN {
        let hdr = NetlinkBuffer::new_checked(rest)
            .map_err(|e| NetlinkError::Malformed(format!("netlink header: {e}")))?;
        let len = hdr.length() as usize;
        out.push(Message {
            ty: hdr.message_type(),
            flags: hdr.flags(),
            seq: hdr.sequence_number(),
            payload: &rest[NLMSG_HDRLEN..len],
        });
        rest = rest.get(align4(len)..).unwrap_or_default();
    }
    Ok(out)
}

/// The attributes in a buffer, as (type without flags, value); iteration
/// stops at the first damaged one (see [`Attrs::checked`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attrs<'a>(pub &'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    /// Reads the 4-byte header itself: rule dumps walk millions of
    /// attributes, and `NlaBuffer::new_checked` builds an error (with its
    /// message) at the end of every list.
    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let data = std::mem::take(&mut self.0);
        let &[l0, l1, k0, k1, ..] = data else {
            return None;
        };
        let len = usize::from(u16::from_ne_bytes([l0, l1]));
        if len < NLA_HEADER_SIZE || len > data.len() {
            return None;
        }
        self.0 = data.get(align4(len)..).unwrap_or_default();
        Some((
            u16::from_ne_bytes([k0, k1]) & NLA_TYPE_MASK,
            &data[NLA_HEADER_SIZE..len],
        ))
    }
}

impl<'a> Attrs<'a> {
    /// The value of the first attribute of type `kind`.
    pub(crate) fn get(self, kind: u16) -> Option<&'a [u8]> {
        self.into_iter().find(|(k, _)| *k == kind).map(|(_, v)| v)
    }

    /// The value of the first attribute of each type below `N`, in one
    /// pass (where [`Attrs::get`] walks the list again for each type).
    pub(crate) fn by_kind<const N: usize>(self) -> [Option<&'a [u8]>; N] {
        let mut found = [None; N];
        for (kind, value) in self {
            if let Some(slot @ None) = found.get_mut(usize::from(kind)) {
                *slot = Some(value);
            }
        }
        found
    }

    /// The same attributes, or an error if one of them is damaged.
    pub(crate) fn checked(self) -> Result<Self, NetlinkError> {
        let mut rest = self;
        while rest.0.len() >= 4 {
            if rest.next().is_none() {
                return Err(NetlinkError::Malformed("a damaged attribute".into()));
            }
        }
        Ok(self)
    }
}

/// A big-endian `u32` value.
pub(crate) fn be_u32(value: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(value.get(..4)?.try_into().ok()?))
}

/// A big-endian `u64` value.
pub(crate) fn be_u64(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.get(..8)?.try_into().ok()?))
}

/// A NUL-terminated string value (lossy for invalid UTF-8).
pub(crate) fn string(value: &[u8]) -> String {
    let text = value.split(|&b| b == 0).next().unwrap_or_default();
    // Checked first as a whole (the lossy reader goes byte by byte): rule
    // dumps read a name and a text of every rule.
    match std::str::from_utf8(text) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(text).into_owned(),
    }
}

/// Whether a NUL-terminated string value equals `expected`.
pub(crate) fn string_is(value: &[u8], expected: &str) -> bool {
    value.split(|&b| b == 0).next().unwrap_or_default() == expected.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_round_trip() {
        let mut w = Writer::default();
        let m = w.begin_msg(nft_type(6), 1, 7, 2, 0);
        w.attr_str(1, "t");
        let n = w.begin_nest(4);
        w.attr_u32(1, 0x0a00_0000);
        w.attr(2, &[1, 2, 3]);
        w.end_nest(n);
        w.end_msg(m);
        let buf = w.into_bytes();
        assert_eq!(buf.len(), 16 + 4 + 8 + 4 + 8 + 8);
        let msgs = messages(&buf).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!((msgs[0].ty, msgs[0].flags, msgs[0].seq), (0x0a06, 1, 7));
        let attrs = msgs[0].attrs().checked().unwrap();
        assert!(string_is(attrs.get(1).unwrap(), "t"));
        assert_eq!(string(attrs.get(1).unwrap()), "t");
        let inner = Attrs(attrs.get(4).unwrap());
        assert_eq!(be_u32(inner.get(1).unwrap()), Some(0x0a00_0000));
        assert_eq!(inner.get(2), Some(&[1u8, 2, 3][..]));
    }

    #[test]
    fn string_values_end_at_their_nul_and_read_bad_utf8_lossily() {
        assert_eq!(string(b"-p tcp -j ACCEPT\0"), "-p tcp -j ACCEPT");
        assert_eq!(string("caf\u{e9}\0rest".as_bytes()), "caf\u{e9}");
        assert_eq!(string(b"a\xffb\0c"), "a\u{fffd}b");
        assert_eq!(string(b""), "");
    }

    #[test]
    fn damaged_input_is_an_error_or_ends_iteration_without_panicking() {
        assert!(messages(&[0xff; 20]).is_err());
        assert!(messages(&[1, 2, 3]).unwrap().is_empty());
        assert_eq!(Attrs(&[200, 0, 1, 0, 9]).count(), 0);
        assert_eq!(Attrs(&[2, 0, 1, 0]).count(), 0);
        assert!(Attrs(&[2, 0, 1, 0]).checked().is_err());
        assert!(Attrs(&[5, 0, 1, 0, 9, 0, 0, 0, 1]).checked().is_ok());
        assert_eq!(be_u32(&[1]), None);
    }
}
