//! Writing and reading netlink messages and attributes.
//!
//! Header and attribute fields are set through `netlink-packet-core`'s
//! buffer types; this module adds what nf_tables needs on top: the nfgenmsg
//! header, nested attributes and big-endian numbers.

use netlink_packet_core::{NetlinkBuffer, NlaBuffer, NLA_F_NESTED};

use super::NetlinkError;

/// Bytes of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Bytes of `struct nfgenmsg`, which follows the netlink header.
pub const NFGENMSG_LEN: usize = 4;

const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends netlink messages to one contiguous buffer.
#[derive(Debug, Default)]
pub struct Writer {
    /// The messages written so far.
    pub buf: Vec<u8>,
}

impl Writer {
    /// Starts a message; returns its offset for [`Writer::end_msg`].
    pub fn begin_msg(&mut self, ty: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> usize {
        let start = self.buf.len();
        self.buf.resize(start + NLMSG_HDRLEN, 0);
        {
            let mut hdr = NetlinkBuffer::new(&mut self.buf[start..start + NLMSG_HDRLEN]);
            hdr.set_message_type(ty);
            hdr.set_flags(flags);
            hdr.set_sequence_number(seq);
            hdr.set_port_number(0);
        }
        self.buf.push(family);
        self.buf.push(super::consts::NFNETLINK_V0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        start
    }

    /// Finishes the message started at `start` by writing its length.
    pub fn end_msg(&mut self, start: usize) {
        let len = (self.buf.len() - start) as u32;
        NetlinkBuffer::new(&mut self.buf[start..start + NLMSG_HDRLEN]).set_length(len);
    }

    /// Adds `flag` to the flags of the message at `start`.
    pub fn add_flag(&mut self, start: usize, flag: u16) {
        let mut hdr = NetlinkBuffer::new(&mut self.buf[start..start + NLMSG_HDRLEN]);
        let flags = hdr.flags();
        hdr.set_flags(flags | flag);
    }

    /// Appends an attribute with a raw value.
    pub fn attr(&mut self, kind: u16, value: &[u8]) {
        let len = 4 + value.len();
        let start = self.buf.len();
        self.buf.resize(start + align4(len), 0);
        let mut nla = NlaBuffer::new(&mut self.buf[start..start + len]);
        nla.set_kind(kind);
        nla.set_length(len as u16);
        nla.value_mut().copy_from_slice(value);
    }

    /// Appends a NUL-terminated string attribute.
    pub fn attr_str(&mut self, kind: u16, value: &str) {
        let len = 4 + value.len() + 1;
        let start = self.buf.len();
        self.buf.resize(start + align4(len), 0);
        let mut nla = NlaBuffer::new(&mut self.buf[start..start + len]);
        nla.set_kind(kind);
        nla.set_length(len as u16);
        nla.value_mut()[..value.len()].copy_from_slice(value.as_bytes());
    }

    /// Appends a big-endian `u32` attribute.
    pub fn attr_u32(&mut self, kind: u16, value: u32) {
        self.attr(kind, &value.to_be_bytes());
    }

    /// Appends a big-endian `u64` attribute.
    pub fn attr_u64(&mut self, kind: u16, value: u64) {
        self.attr(kind, &value.to_be_bytes());
    }

    /// Opens a nested attribute; returns its offset for [`Writer::end_nest`].
    pub fn begin_nest(&mut self, kind: u16) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let mut nla = NlaBuffer::new(&mut self.buf[start..start + 4]);
        nla.set_kind(kind);
        nla.set_nested_flag();
        start
    }

    /// Closes the nested attribute opened at `start`.
    ///
    /// Attribute lengths are 16 bits: callers keep nests under 64 KiB.
    pub fn end_nest(&mut self, start: usize) {
        let len = self.buf.len() - start;
        debug_assert!(len <= u16::MAX as usize, "nested attribute of {len} bytes");
        NlaBuffer::new(&mut self.buf[start..start + 4]).set_length(len as u16);
    }

    /// Bytes written since `start`.
    pub fn since(&self, start: usize) -> usize {
        self.buf.len() - start
    }
}

/// Builds a libnftnl-style user-data blob: TLVs of one-byte type, one-byte
/// length and value, as `nft` writes comments and byte orders.
#[derive(Debug, Default)]
pub struct Udata(pub Vec<u8>);

impl Udata {
    /// Adds a NUL-terminated string, cut to fit the kernel's limit.
    pub fn string(&mut self, kind: u8, text: &str) {
        let room = super::consts::NFT_USERDATA_MAXLEN.saturating_sub(self.0.len() + 3);
        let text = cut_at_char_boundary(text, room.min(254));
        self.0.push(kind);
        self.0.push((text.len() + 1) as u8);
        self.0.extend_from_slice(text.as_bytes());
        self.0.push(0);
    }

    /// Adds a native-endian `u32`, as libnftnl stores numbers.
    pub fn u32(&mut self, kind: u8, value: u32) {
        self.0.push(kind);
        self.0.push(4);
        self.0.extend_from_slice(&value.to_ne_bytes());
    }

    /// The first string TLV of type `kind` in `blob`, without its NUL.
    pub fn find_string(blob: &[u8], kind: u8) -> Option<String> {
        let mut rest = blob;
        while rest.len() >= 2 {
            let (ty, len) = (rest[0], rest[1] as usize);
            let value = rest.get(2..2 + len)?;
            if ty == kind {
                let text = value.split(|&b| b == 0).next().unwrap_or_default();
                return Some(String::from_utf8_lossy(text).into_owned());
            }
            rest = &rest[2 + len..];
        }
        None
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub fn cut_at_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The attributes in `data` as (type without flags, value) pairs.
pub fn attrs(data: &[u8]) -> Result<Vec<(u16, &[u8])>, NetlinkError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while data.len() - pos >= 4 {
        let nla = NlaBuffer::new_checked(&data[pos..])
            .map_err(|e| NetlinkError::Malformed(format!("attribute: {e}")))?;
        let len = nla.length() as usize;
        if len < 4 {
            return Err(NetlinkError::Malformed(format!(
                "attribute of length {len}"
            )));
        }
        out.push((nla.kind() & !NLA_F_NESTED, &data[pos + 4..pos + len]));
        pos += align4(len);
        if pos > data.len() {
            break;
        }
    }
    Ok(out)
}

/// The value of the first attribute of type `kind`.
pub fn find<'a>(attrs: &[(u16, &'a [u8])], kind: u16) -> Option<&'a [u8]> {
    attrs.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v)
}

/// A big-endian `u32` value.
pub fn be_u32(value: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(value.get(..4)?.try_into().ok()?))
}

/// A big-endian `u64` value.
pub fn be_u64(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.get(..8)?.try_into().ok()?))
}

/// A NUL-terminated string value.
pub fn string(value: &[u8]) -> String {
    let text = value.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

/// One netlink message read from a datagram.
#[derive(Debug)]
pub struct Received<'a> {
    /// The message type.
    pub ty: u16,
    /// The header flags.
    pub flags: u16,
    /// The sequence number the reply answers.
    pub seq: u32,
    /// Everything after the netlink header.
    pub payload: &'a [u8],
}

/// Splits a datagram into its netlink messages.
pub fn messages(datagram: &[u8]) -> Result<Vec<Received<'_>>, NetlinkError> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while rest.len() >= NLMSG_HDRLEN {
        let buf = NetlinkBuffer::new_checked(rest)
            .map_err(|e| NetlinkError::Malformed(format!("netlink header: {e}")))?;
        let len = buf.length() as usize;
        out.push(Received {
            ty: buf.message_type(),
            flags: buf.flags(),
            seq: buf.sequence_number(),
            payload: &rest[NLMSG_HDRLEN..len],
        });
        rest = rest.get(align4(len)..).unwrap_or_default();
    }
    Ok(out)
}

/// An `NLMSG_ERROR` payload: the error code (0 for an acknowledgement),
/// the sequence number of the message it answers, and the kernel's
/// extended-ack text if any.
pub fn parse_error(msg: &Received<'_>) -> Result<(i32, u32, Option<String>), NetlinkError> {
    let p = msg.payload;
    let code = i32::from_ne_bytes(
        p.get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| NetlinkError::Malformed("short error message".into()))?,
    );
    let orig = p.get(4..4 + NLMSG_HDRLEN).ok_or_else(|| {
        NetlinkError::Malformed("error message without the request header".into())
    })?;
    let orig_hdr = NetlinkBuffer::new(orig);
    let seq = orig_hdr.sequence_number();
    let mut text = None;
    if msg.flags & super::consts::NLM_F_ACK_TLVS != 0 {
        // With NETLINK_CAP_ACK the request is not echoed: only its header.
        let tlv_start = if msg.flags & super::consts::NLM_F_CAPPED != 0 {
            4 + NLMSG_HDRLEN
        } else {
            4 + align4(orig_hdr.length() as usize)
        };
        if let Some(tlvs) = p.get(tlv_start..) {
            if let Ok(list) = attrs(tlvs) {
                text = find(&list, super::consts::NLMSGERR_ATTR_MSG).map(string);
            }
        }
    }
    Ok((code, seq, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested_attributes_with_lengths() {
        let mut w = Writer::default();
        let m = w.begin_msg(0x0a09, 1, 7, 1, 0);
        w.attr_str(1, "t");
        let n = w.begin_nest(3);
        w.attr_u32(1, 0x0a000000);
        w.end_nest(n);
        w.end_msg(m);
        assert_eq!(w.buf.len(), 16 + 4 + 8 + 4 + 8);
        let msgs = messages(&w.buf).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].ty, 0x0a09);
        assert_eq!(msgs[0].seq, 7);
        let list = attrs(&msgs[0].payload[4..]).unwrap();
        assert_eq!(string(find(&list, 1).unwrap()), "t");
        let inner = attrs(find(&list, 3).unwrap()).unwrap();
        assert_eq!(be_u32(find(&inner, 1).unwrap()), Some(0x0a000000));
    }

    #[test]
    fn udata_round_trips_and_is_bounded() {
        let mut u = Udata::default();
        u.u32(0, 2);
        u.string(7, "moat list cn");
        assert_eq!(Udata::find_string(&u.0, 7).as_deref(), Some("moat list cn"));
        let mut long = Udata::default();
        long.string(7, &"é".repeat(300));
        assert!(long.0.len() <= 256);
        assert!(Udata::find_string(&long.0, 7)
            .unwrap()
            .chars()
            .all(|c| c == 'é'));
    }
}
