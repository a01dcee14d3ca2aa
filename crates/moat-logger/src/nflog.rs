//! The kernel's packet log (nfnetlink_log) over netlink: binding log
//! groups on one socket and reading the packets rules send to them.
//!
//! Messages follow the kernel's uapi header
//! `linux/netfilter/nfnetlink_log.h`; headers and attributes are read and
//! written through `netlink-packet-core`'s buffers.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use netlink_packet_core::{NetlinkBuffer, NlaBuffer, NlasIterator};
use netlink_sys::{constants::NETLINK_NETFILTER, Socket};

const NFNL_SUBSYS_ULOG: u16 = 4;
const NFULNL_MSG_PACKET: u16 = 0;
const NFULNL_MSG_CONFIG: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;

const NFULA_CFG_CMD: u16 = 1;
const NFULA_CFG_MODE: u16 = 2;
const NFULA_CFG_NLBUFSIZ: u16 = 3;
const NFULA_CFG_TIMEOUT: u16 = 4;
const NFULA_CFG_FLAGS: u16 = 6;
const NFULNL_CFG_CMD_BIND: u8 = 1;
const NFULNL_CFG_CMD_UNBIND: u8 = 2;
const NFULNL_COPY_PACKET: u8 = 2;
const NFULNL_CFG_F_SEQ: u16 = 1;
const NFULNL_CFG_F_CONNTRACK: u16 = 4;

const NFULA_PACKET_HDR: u16 = 1;
const NFULA_MARK: u16 = 2;
const NFULA_TIMESTAMP: u16 = 3;
const NFULA_IFINDEX_INDEV: u16 = 4;
const NFULA_IFINDEX_OUTDEV: u16 = 5;
const NFULA_HWADDR: u16 = 8;
const NFULA_PAYLOAD: u16 = 9;
const NFULA_PREFIX: u16 = 10;
const NFULA_UID: u16 = 11;
const NFULA_SEQ: u16 = 12;
const NFULA_GID: u16 = 14;
const NFULA_HWHEADER: u16 = 16;
const NFULA_CT_INFO: u16 = 19;

/// Bytes of each packet the kernel copies for a group moat binds (headers
/// and a little more; the kernel log prints headers only).
const COPY_RANGE: u32 = 256;
/// The kernel's batch buffer per group (the largest it accepts).
const KERNEL_BATCH_BYTES: u32 = 128 * 1024;
/// How long the kernel holds a batch that is not full, in 1/100 s.
const FLUSH_HUNDREDTHS: u32 = 2;
/// Bytes of the socket's receive buffer at first, and at most after growing.
const RECV_BUFFER_START: usize = 4 << 20;
const RECV_BUFFER_MAX: usize = 128 << 20;

/// Why the packet log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NflogError {
    /// A socket call failed.
    #[error("{what}: {error}")]
    Io {
        /// What was being done.
        what: String,
        /// The system's error.
        error: io::Error,
    },
    /// The kernel refused to give moat a log group.
    #[error("log group {group}: {reason}")]
    Bind {
        /// The group.
        group: u16,
        /// The kernel's answer, in words.
        reason: String,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> NflogError {
    let what = what.into();
    move |error| NflogError::Io { what, error }
}

/// One packet the kernel logged, borrowed from the received datagram.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NflogPacket<'a> {
    /// The log group the rule sent it to.
    pub group: u16,
    /// The rule's log prefix.
    pub prefix: Option<&'a str>,
    /// The netfilter hook number (0 prerouting ... 4 postrouting).
    pub hook: Option<u8>,
    /// The packet mark.
    pub mark: Option<u32>,
    /// When the packet arrived, as seconds and microseconds since the epoch.
    pub timestamp: Option<(u64, u32)>,
    /// The interface it came in on.
    pub in_ifindex: Option<u32>,
    /// The interface it leaves through.
    pub out_ifindex: Option<u32>,
    /// The sender's link-layer address.
    pub hw_addr: Option<&'a [u8]>,
    /// The link-layer header (destination, source, type for Ethernet).
    pub hw_header: Option<&'a [u8]>,
    /// The start of the packet, from its network header on.
    pub payload: Option<&'a [u8]>,
    /// The local socket's user and group, when known.
    pub uid: Option<u32>,
    /// See `uid`.
    pub gid: Option<u32>,
    /// The group's sequence number of this message.
    pub seq: Option<u32>,
    /// The connection-tracking info (`enum ip_conntrack_info`).
    pub ct_info: Option<u32>,
}

/// What one read of the socket brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A datagram of this many bytes (see [`NflogSocket::packets`]).
    Datagram(usize),
    /// Nothing came within the wait.
    Idle,
    /// The kernel dropped messages because the socket's buffer was full;
    /// the buffer was grown to this many bytes.
    Overrun(usize),
}

/// A netlink socket bound to some of the kernel's log groups.
pub struct NflogSocket {
    socket: Socket,
    groups: BTreeSet<u16>,
    buffer: Vec<u8>,
    receive_bytes: usize,
    seq: u32,
}

impl std::fmt::Debug for NflogSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NflogSocket")
            .field("groups", &self.groups)
            .finish()
    }
}

fn be_u32(value: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(value.get(..4)?.try_into().ok()?))
}

fn be_u64(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.get(..8)?.try_into().ok()?))
}

/// One config message: the nfgenmsg header for `group` and `attrs`.
fn config_message(seq: u32, group: u16, attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![0u8, 0, 0, 0];
    body[2..4].copy_from_slice(&group.to_be_bytes());
    for (kind, value) in attrs {
        let start = body.len();
        let len = 4 + value.len();
        body.resize(start + ((len + 3) & !3), 0);
        let mut nla = NlaBuffer::new(&mut body[start..]);
        nla.set_kind(*kind);
        nla.set_length(u16::try_from(len).unwrap_or(u16::MAX));
        nla.value_mut()[..value.len()].copy_from_slice(value);
    }
    let mut msg = vec![0u8; 16 + body.len()];
    msg[16..].copy_from_slice(&body);
    let total = u32::try_from(msg.len()).unwrap_or(u32::MAX);
    let mut hdr = NetlinkBuffer::new(&mut msg[..]);
    hdr.set_length(total);
    hdr.set_message_type((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG);
    hdr.set_flags(NLM_F_REQUEST | NLM_F_ACK);
    hdr.set_sequence_number(seq);
    msg
}

impl NflogSocket {
    /// Opens a netfilter netlink socket with a large receive buffer.
    pub fn open() -> Result<Self, NflogError> {
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(io_error("netlink socket"))?;
        socket
            .bind_auto()
            .map_err(io_error("bind netlink socket"))?;
        let mut me = NflogSocket {
            socket,
            groups: BTreeSet::new(),
            buffer: vec![0; 1 << 20],
            receive_bytes: 0,
            seq: 0,
        };
        me.set_receive_buffer(RECV_BUFFER_START);
        Ok(me)
    }

    /// The groups bound now.
    pub fn groups(&self) -> &BTreeSet<u16> {
        &self.groups
    }

    /// Sets the receive buffer to `bytes` (beyond the system's limit, as
    /// root may) and returns it (the kernel books twice as much for its
    /// own overhead, as socket(7) says).
    fn set_receive_buffer(&mut self, bytes: usize) -> usize {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let fd = self.socket.as_raw_fd();
        for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: `value` lives for the call and its size is passed.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    option,
                    (&value as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
        }
        self.receive_bytes = bytes;
        bytes
    }

    /// Sends one config request and waits for the kernel's answer.
    fn configure(&mut self, group: u16, attrs: &[(u16, Vec<u8>)]) -> Result<(), i32> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = config_message(seq, group, attrs);
        self.socket
            .send(&msg, 0)
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
        let mut reply = vec![0u8; 8192];
        loop {
            let n = self
                .socket
                .recv(&mut &mut reply[..], 0)
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            let mut offset = 0;
            while offset + 16 <= n {
                let Ok(buf) = NetlinkBuffer::new_checked(&reply[offset..n]) else {
                    break;
                };
                let len = buf.length() as usize;
                if buf.message_type() == NLMSG_ERROR && buf.sequence_number() == seq {
                    let code = buf
                        .payload()
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map(i32::from_ne_bytes)
                        .unwrap_or(-libc::EIO);
                    return if code == 0 { Ok(()) } else { Err(-code) };
                }
                offset += (len + 3) & !3;
                if len == 0 {
                    break;
                }
            }
        }
    }

    /// Binds `group` with whole-header copies, sequence numbers and, when
    /// the kernel has it, the connection's state.
    pub fn bind(&mut self, group: u16) -> Result<(), NflogError> {
        let bind_error = |code: i32| NflogError::Bind {
            group,
            reason: match code {
                libc::EBUSY => "another program reads it (ulogd?)".to_string(),
                libc::EPERM => "reading the packet log needs root (CAP_NET_ADMIN)".to_string(),
                _ => io::Error::from_raw_os_error(code).to_string(),
            },
        };
        self.configure(group, &[(NFULA_CFG_CMD, vec![NFULNL_CFG_CMD_BIND])])
            .map_err(bind_error)?;
        let mut mode = COPY_RANGE.to_be_bytes().to_vec();
        mode.extend([NFULNL_COPY_PACKET, 0]);
        let settings = [
            (NFULA_CFG_MODE, mode),
            (
                NFULA_CFG_NLBUFSIZ,
                KERNEL_BATCH_BYTES.to_be_bytes().to_vec(),
            ),
            (NFULA_CFG_TIMEOUT, FLUSH_HUNDREDTHS.to_be_bytes().to_vec()),
        ];
        self.configure(group, &settings).map_err(bind_error)?;
        let with_ct = (NFULNL_CFG_F_SEQ | NFULNL_CFG_F_CONNTRACK)
            .to_be_bytes()
            .to_vec();
        if self
            .configure(group, &[(NFULA_CFG_FLAGS, with_ct)])
            .is_err()
        {
            let seq_only = NFULNL_CFG_F_SEQ.to_be_bytes().to_vec();
            self.configure(group, &[(NFULA_CFG_FLAGS, seq_only)])
                .map_err(bind_error)?;
        }
        self.groups.insert(group);
        Ok(())
    }

    /// Gives `group` back to the kernel.
    pub fn unbind(&mut self, group: u16) {
        let _ = self.configure(group, &[(NFULA_CFG_CMD, vec![NFULNL_CFG_CMD_UNBIND])]);
        self.groups.remove(&group);
    }

    /// Binds the groups of `wanted` not bound yet and unbinds the others;
    /// returns the groups that could not be bound, with why.
    pub fn set_groups(&mut self, wanted: &BTreeSet<u16>) -> Vec<NflogError> {
        let gone: Vec<u16> = self.groups.difference(wanted).copied().collect();
        for g in gone {
            self.unbind(g);
        }
        let new: Vec<u16> = wanted.difference(&self.groups).copied().collect();
        new.into_iter().filter_map(|g| self.bind(g).err()).collect()
    }

    /// Reads the next datagram, waiting up to `wait` when none is queued.
    /// A full buffer in the kernel (ENOBUFS) doubles the socket's buffer,
    /// as ulogd does, and is reported; reading goes on.
    pub fn receive(&mut self, wait: Duration) -> Result<Received, NflogError> {
        match self.read(libc::MSG_DONTWAIT)? {
            Some(got) => return Ok(got),
            None if wait.is_zero() => return Ok(Received::Idle),
            None => {}
        }
        let mut poll = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(wait.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                return Ok(Received::Idle);
            }
            return Err(io_error("poll the packet log")(error));
        }
        Ok(self.read(libc::MSG_DONTWAIT)?.unwrap_or(Received::Idle))
    }

    /// One `recv` with `flags`; `None` when nothing is queued.
    fn read(&mut self, flags: libc::c_int) -> Result<Option<Received>, NflogError> {
        match self.socket.recv(&mut &mut self.buffer[..], flags) {
            Ok(n) => Ok(Some(Received::Datagram(n.min(self.buffer.len())))),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                let grown = (self.receive_bytes * 2).clamp(RECV_BUFFER_START, RECV_BUFFER_MAX);
                Ok(Some(Received::Overrun(self.set_receive_buffer(grown))))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(io_error("read the packet log")(e)),
        }
    }

    /// The packets of the last datagram of `len` bytes read.
    pub fn packets(&self, len: usize) -> Vec<NflogPacket<'_>> {
        parse_datagram(&self.buffer[..len.min(self.buffer.len())])
    }
}

/// The packet messages of one datagram (anything else is skipped).
pub fn parse_datagram(datagram: &[u8]) -> Vec<NflogPacket<'_>> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset + 16 <= datagram.len() {
        let Ok(buf) = NetlinkBuffer::new_checked(&datagram[offset..]) else {
            break;
        };
        let len = buf.length() as usize;
        let ty = buf.message_type();
        let end = offset + len;
        if ty == (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET {
            if let Some(p) = parse_packet(&datagram[offset + 16..end]) {
                out.push(p);
            }
        }
        if len == 0 {
            break;
        }
        offset += (len + 3) & !3;
    }
    out
}

/// One packet message's nfgenmsg header and attributes.
fn parse_packet(body: &[u8]) -> Option<NflogPacket<'_>> {
    let group = u16::from_be_bytes(body.get(2..4)?.try_into().ok()?);
    let mut p = NflogPacket {
        group,
        ..NflogPacket::default()
    };
    for nla in NlasIterator::new(body.get(4..)?) {
        let Ok(nla) = nla else { break };
        let kind = nla.kind() & 0x3fff;
        let value_len = usize::from(nla.length()).saturating_sub(4);
        let value: &[u8] = nla.into_inner().get(4..4 + value_len)?;
        match kind {
            NFULA_PACKET_HDR => p.hook = value.get(2).copied(),
            NFULA_MARK => p.mark = be_u32(value),
            NFULA_TIMESTAMP => {
                p.timestamp = be_u64(value).zip(
                    value
                        .get(8..)
                        .and_then(be_u64)
                        .and_then(|u| u32::try_from(u).ok()),
                )
            }
            NFULA_IFINDEX_INDEV => p.in_ifindex = be_u32(value),
            NFULA_IFINDEX_OUTDEV => p.out_ifindex = be_u32(value),
            NFULA_HWADDR => {
                let len = usize::from(u16::from_be_bytes(value.get(..2)?.try_into().ok()?));
                p.hw_addr = value.get(4..4 + len.min(8));
            }
            NFULA_HWHEADER => p.hw_header = Some(value),
            NFULA_PAYLOAD => p.payload = Some(value),
            NFULA_PREFIX => {
                let text = value.split(|&b| b == 0).next().unwrap_or_default();
                p.prefix = std::str::from_utf8(text).ok().filter(|s| !s.is_empty());
            }
            NFULA_UID => p.uid = be_u32(value),
            NFULA_GID => p.gid = be_u32(value),
            NFULA_SEQ => p.seq = be_u32(value),
            NFULA_CT_INFO => p.ct_info = be_u32(value),
            _ => {}
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let len = 4 + value.len();
        let mut out = Vec::new();
        out.extend(u16::try_from(len).unwrap().to_ne_bytes());
        out.extend(kind.to_ne_bytes());
        out.extend(value);
        out.resize((len + 3) & !3, 0);
        out
    }

    fn packet_message(group: u16, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![2u8, 0];
        body.extend(group.to_be_bytes());
        for a in attrs {
            body.extend(a);
        }
        let mut msg = vec![0u8; 16];
        msg.extend(body);
        let len = u32::try_from(msg.len()).unwrap();
        let mut hdr = NetlinkBuffer::new(&mut msg[..]);
        hdr.set_length(len);
        hdr.set_message_type(NFNL_SUBSYS_ULOG << 8);
        msg
    }

    #[test]
    fn a_datagram_of_two_packets_gives_both_with_their_attributes() {
        let first = packet_message(
            64,
            &[
                attr(NFULA_PACKET_HDR, &[0x08, 0x00, 1, 0]),
                attr(NFULA_PREFIX, b"New incomming: \0"),
                attr(NFULA_MARK, &7u32.to_be_bytes()),
                attr(NFULA_IFINDEX_INDEV, &3u32.to_be_bytes()),
                attr(NFULA_SEQ, &41u32.to_be_bytes()),
                attr(NFULA_CT_INFO, &2u32.to_be_bytes()),
                attr(NFULA_PAYLOAD, &[0x45, 0, 0, 20]),
            ],
        );
        let second = packet_message(5, &[attr(NFULA_UID, &1000u32.to_be_bytes())]);
        let mut datagram = first.clone();
        datagram.extend(&second);
        let packets = parse_datagram(&datagram);
        assert_eq!(packets.len(), 2);
        let p = &packets[0];
        assert_eq!(p.group, 64);
        assert_eq!(p.prefix, Some("New incomming: "));
        assert_eq!(p.hook, Some(1));
        assert_eq!(p.mark, Some(7));
        assert_eq!(p.in_ifindex, Some(3));
        assert_eq!(p.seq, Some(41));
        assert_eq!(p.ct_info, Some(2));
        assert_eq!(p.payload, Some(&[0x45, 0, 0, 20][..]));
        assert_eq!(packets[1].group, 5);
        assert_eq!(packets[1].uid, Some(1000));
        assert_eq!(packets[1].prefix, None);
    }

    #[test]
    fn config_messages_carry_the_group_and_aligned_attributes() {
        let msg = config_message(9, 300, &[(NFULA_CFG_CMD, vec![NFULNL_CFG_CMD_BIND])]);
        let buf = NetlinkBuffer::new_checked(&msg[..]).unwrap();
        assert_eq!(buf.length() as usize, msg.len());
        assert_eq!(buf.message_type(), (4 << 8) | 1);
        assert_eq!(buf.sequence_number(), 9);
        assert_eq!(&msg[18..20], &300u16.to_be_bytes());
        assert_eq!(msg.len(), 16 + 4 + 8);
    }
}
