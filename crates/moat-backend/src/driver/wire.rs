//! Netlink framing: writing messages with nested attributes into one
//! buffer, and reading messages and attributes back without copying.
//!
//! Numbers in nf_tables attributes are big-endian; headers are in host
//! order, as `struct nlmsghdr` is.

use super::consts::NFNL_SUBSYS_NFTABLES;

/// Bytes of `struct nlmsghdr`.
pub(crate) const NLMSG_HDRLEN: usize = 16;
/// Bytes of `struct nfgenmsg`, which follows the netlink header.
pub(crate) const NFGENMSG_LEN: usize = 4;
/// The flag that marks a nested attribute.
const NLA_F_NESTED: u16 = 0x8000;
/// The bits of an attribute type that are flags, not the type.
const NLA_TYPE_FLAGS: u16 = 0xc000;

/// `len` rounded up to netlink's 4-byte alignment.
pub(crate) const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// The netlink message type of nf_tables message `msg`.
pub(crate) fn nft_type(msg: u8) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg)
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
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by end_msg
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
        self.buf.push(family);
        self.buf.push(0); // NFNETLINK_V0
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        start
    }

    /// Finishes the message started at `start` by writing its length.
    pub(crate) fn end_msg(&mut self, start: usize) {
        let len = u32::try_from(self.buf.len() - start).unwrap_or(u32::MAX);
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// Adds `flag` to the flags of the message at `start`.
    pub(crate) fn add_flag(&mut self, start: usize, flag: u16) {
        let at = start + 6;
        let flags = u16::from_ne_bytes([self.buf[at], self.buf[at + 1]]) | flag;
        self.buf[at..at + 2].copy_from_slice(&flags.to_ne_bytes());
    }

    fn attr_header(&mut self, kind: u16, len: usize) {
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len());
        self.buf.resize(padded, 0);
    }

    /// Appends an attribute with a raw value.
    pub(crate) fn attr(&mut self, kind: u16, value: &[u8]) {
        self.attr_header(kind, 4 + value.len());
        self.buf.extend_from_slice(value);
        self.pad();
    }

    /// Appends a NUL-terminated string attribute.
    pub(crate) fn attr_str(&mut self, kind: u16, value: &str) {
        self.attr_header(kind, 4 + value.len() + 1);
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    /// Appends a big-endian `u8` attribute.
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
        self.attr_header(kind | NLA_F_NESTED, 4);
        start
    }

    /// Closes the nested attribute opened at `start`.
    pub(crate) fn end_nest(&mut self, start: usize) {
        let len = u16::try_from(self.buf.len() - start).unwrap_or(u16::MAX);
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

/// The netlink messages of a datagram; stops at the first damaged one.
pub(crate) struct Messages<'a>(&'a [u8]);

/// Iterates over the messages of `datagram`.
pub(crate) fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages(datagram)
}

impl<'a> Iterator for Messages<'a> {
    type Item = Message<'a>;

    fn next(&mut self) -> Option<Message<'a>> {
        let data = self.0;
        let header = data.get(..NLMSG_HDRLEN)?;
        let len = u32::from_ne_bytes(header[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            self.0 = &[];
            return None;
        }
        let msg = Message {
            ty: u16::from_ne_bytes([header[4], header[5]]),
            flags: u16::from_ne_bytes([header[6], header[7]]),
            seq: u32::from_ne_bytes(header[8..12].try_into().ok()?),
            payload: &data[NLMSG_HDRLEN..len],
        };
        self.0 = data.get(align4(len)..).unwrap_or_default();
        Some(msg)
    }
}

/// The attributes in a buffer, as (type without flags, value); stops at the
/// first damaged one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attrs<'a>(pub &'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let data = self.0;
        let header = data.get(..4)?;
        let len = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        let kind = u16::from_ne_bytes([header[2], header[3]]) & !NLA_TYPE_FLAGS;
        if len < 4 || len > data.len() {
            self.0 = &[];
            return None;
        }
        self.0 = data.get(align4(len)..).unwrap_or_default();
        Some((kind, &data[4..len]))
    }
}

impl<'a> Attrs<'a> {
    /// The value of the first attribute of type `kind`.
    pub(crate) fn get(self, kind: u16) -> Option<&'a [u8]> {
        Iterator::find(&mut self.into_iter(), |(k, _)| *k == kind).map(|(_, v)| v)
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
    String::from_utf8_lossy(text).into_owned()
}

/// Whether a NUL-terminated string value equals `expected`.
pub(crate) fn string_is(value: &[u8], expected: &str) -> bool {
    value.split(|&b| b == 0).next().unwrap_or_default() == expected.as_bytes()
}

/// The string of the first user-data TLV of type `kind` (one-byte type,
/// one-byte length, value), as libnftnl stores rule comments.
pub(crate) fn udata_string(blob: &[u8], kind: u8) -> Option<String> {
    let mut rest = blob;
    while let [ty, len, tail @ ..] = rest {
        let value = tail.get(..usize::from(*len))?;
        if *ty == kind {
            return Some(string(value));
        }
        rest = &tail[value.len()..];
    }
    None
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
        let msgs: Vec<_> = messages(&buf).collect();
        assert_eq!(msgs.len(), 1);
        assert_eq!((msgs[0].ty, msgs[0].flags, msgs[0].seq), (0x0a06, 1, 7));
        let attrs = msgs[0].attrs();
        assert!(string_is(attrs.get(1).unwrap(), "t"));
        let inner = Attrs(attrs.get(4).unwrap());
        assert_eq!(be_u32(inner.get(1).unwrap()), Some(0x0a00_0000));
        assert_eq!(inner.get(2), Some(&[1u8, 2, 3][..]));
    }

    #[test]
    fn damaged_input_ends_iteration_without_panicking() {
        assert_eq!(messages(&[0xff; 20]).count(), 0);
        assert_eq!(messages(&[1, 2, 3]).count(), 0);
        assert_eq!(Attrs(&[200, 0, 1, 0, 9]).count(), 0);
        assert_eq!(Attrs(&[2, 0, 1, 0]).count(), 0);
        assert_eq!(udata_string(&[0, 9, b'a'], 0), None);
        assert_eq!(be_u32(&[1]), None);
    }

    #[test]
    fn udata_comment() {
        assert_eq!(
            udata_string(b"\x07\x02x\x00\x00\x06hello\x00", 0).as_deref(),
            Some("hello")
        );
        assert_eq!(udata_string(b"\x07\x02x\x00", 0), None);
    }
}
