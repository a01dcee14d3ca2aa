//! A netfilter netlink socket: sends a batch in one `sendmsg` and collects
//! the kernel's verdict on it, runs dumps and single requests.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};

use super::consts::*;
use super::error::DriverError;
use super::wire::{messages, nft_type, Attrs, Message, Writer, NLMSG_HDRLEN};

/// How long to wait for the kernel's answer before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// Receive buffer asked for, so that the errors of a large refused batch fit.
const RCVBUF: usize = 16 << 20;
/// Bytes read per `recv`: dump messages come in buffers of at most 32 KiB.
const RECV_CHUNK: usize = 64 << 10;
/// How often a dump is restarted when the ruleset changes during it.
const DUMP_RETRIES: usize = 5;

/// The kernel's refusal of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelError {
    /// The sequence number of the refused message.
    pub seq: u32,
    /// The error number.
    pub errno: i32,
    /// The kernel's extended-ack text, if any.
    pub detail: Option<String>,
}

/// A netlink socket to nf_tables in the calling thread's network namespace.
pub(crate) struct NlSocket {
    sock: Socket,
    buf: Vec<u8>,
    seq: u32,
}

fn io_err(context: &'static str) -> impl FnOnce(io::Error) -> DriverError {
    move |source| DriverError::Io { context, source }
}

fn setsockopt<T>(fd: i32, name: i32, value: &T) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(0);
    // SAFETY: passes a pointer to a live `T` and its exact size; the kernel
    // only reads it.
    let rc =
        unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, name, (value as *const T).cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets a buffer size, forcing past the system limit when privileged.
fn set_buffer(fd: i32, force: i32, normal: i32, size: usize) {
    let value = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    if setsockopt(fd, force, &value).is_err() {
        let _ = setsockopt(fd, normal, &value);
    }
}

/// The error code and the refused request's sequence number of an
/// `NLMSG_ERROR` message, and the kernel's explanation if it gave one.
fn parse_error(msg: &Message<'_>) -> Result<(i32, u32, Option<String>), DriverError> {
    let malformed = || {
        DriverError::Malformed("nf_tables netlink: a damaged error message from the kernel".into())
    };
    let p = msg.payload;
    let code = i32::from_ne_bytes(
        p.get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(malformed)?,
    );
    let orig = p.get(4..4 + NLMSG_HDRLEN).ok_or_else(malformed)?;
    let seq = u32::from_ne_bytes(orig[8..12].try_into().map_err(|_| malformed())?);
    let mut detail = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        let orig_len = u32::from_ne_bytes(orig[0..4].try_into().map_err(|_| malformed())?) as usize;
        let tlvs = if msg.flags & NLM_F_CAPPED != 0 {
            4 + NLMSG_HDRLEN
        } else {
            4 + super::wire::align4(orig_len)
        };
        if let Some(text) = p.get(tlvs..).and_then(|t| Attrs(t).get(NLMSGERR_ATTR_MSG)) {
            detail = Some(super::wire::string(text));
        }
    }
    Ok((code, seq, detail))
}

impl NlSocket {
    /// Opens a socket in the calling thread's network namespace.
    pub(crate) fn open() -> Result<Self, DriverError> {
        let mut sock =
            Socket::new(NETLINK_NETFILTER).map_err(io_err("opening a netfilter netlink socket"))?;
        sock.bind_auto()
            .map_err(io_err("binding the netlink socket"))?;
        // Errors carry only the refused request's header, plus the kernel's text.
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_ext_ack(true);
        let fd = sock.as_raw_fd();
        set_buffer(fd, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, RCVBUF);
        let timeout = libc::timeval {
            tv_sec: libc::time_t::try_from(REPLY_TIMEOUT.as_secs()).unwrap_or(60),
            tv_usec: 0,
        };
        setsockopt(fd, libc::SO_RCVTIMEO, &timeout)
            .map_err(io_err("setting the netlink receive timeout"))?;
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() >> 2)
            .unwrap_or(1);
        Ok(NlSocket {
            sock,
            buf: vec![0; RECV_CHUNK],
            seq,
        })
    }

    /// A fresh sequence number.
    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Moves the sequence counter past numbers a batch used.
    pub(crate) fn skip_seq(&mut self, past: u32) {
        self.seq = past;
    }

    fn send(&self, buf: &[u8]) -> Result<(), DriverError> {
        match self.sock.send(buf, 0) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMSGSIZE | libc::ENOBUFS)) => {
                Err(DriverError::TooLarge {
                    bytes: buf.len(),
                    source: e,
                })
            }
            Err(e) => Err(DriverError::Io {
                context: "sending to the kernel",
                source: e,
            }),
        }
    }

    /// Reads one datagram into the buffer; `None` when nothing is waiting
    /// and `nonblocking`.
    fn recv(&mut self, nonblocking: bool) -> Result<Option<usize>, DriverError> {
        let flags = if nonblocking { libc::MSG_DONTWAIT } else { 0 };
        loop {
            match self.sock.recv(&mut &mut self.buf[..], flags) {
                Ok(n) => return Ok(Some(n.min(self.buf.len()))),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && nonblocking => return Ok(None),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(DriverError::Timeout)
                }
                Err(e) => {
                    return Err(DriverError::Io {
                        context: "reading the kernel's reply",
                        source: e,
                    })
                }
            }
        }
    }

    /// Sends a whole batch with one `sendmsg` (the kernel handles it as one
    /// transaction inside that call) and collects its verdict: `Ok(None)`
    /// when every message was accepted, else the first refused message.
    ///
    /// `begin_seq` is the batch-begin message's sequence number (the kernel
    /// reports commit-time failures against it); `last_seq` the message that
    /// carries `NLM_F_ACK`.
    pub(crate) fn commit(
        &mut self,
        batch: &[u8],
        begin_seq: u32,
        last_seq: u32,
    ) -> Result<Option<KernelError>, DriverError> {
        let fd = self.sock.as_raw_fd();
        set_buffer(
            fd,
            libc::SO_SNDBUFFORCE,
            libc::SO_SNDBUF,
            batch.len() + (64 << 10),
        );
        self.send(batch)?;
        let mut first: Option<KernelError> = None;
        let mut finished = false;
        loop {
            let got = match self.recv(finished) {
                Ok(got) => got,
                // Replies were dropped for lack of room: the first ones are in.
                Err(DriverError::Io { source, .. })
                    if source.raw_os_error() == Some(libc::ENOBUFS) && first.is_some() =>
                {
                    break
                }
                Err(e) => return Err(e),
            };
            let Some(n) = got else { break };
            for msg in messages(&self.buf[..n]) {
                if msg.ty != NLMSG_ERROR {
                    continue;
                }
                let (code, seq, detail) = parse_error(&msg)?;
                if !(begin_seq..=last_seq).contains(&seq) {
                    continue;
                }
                // The kernel reports errors in message order: the first is the cause.
                if code != 0 && first.is_none() {
                    first = Some(KernelError {
                        seq,
                        errno: -code,
                        detail,
                    });
                }
                if seq == last_seq || seq == begin_seq {
                    finished = true;
                }
            }
        }
        Ok(first)
    }

    /// Reads the replies to request `seq` until its end, handing each
    /// object message to `each`. A dump the kernel marks as interrupted (the
    /// ruleset changed during it) is read to its end, then reported as
    /// [`DriverError::Changed`].
    fn replies(
        &mut self,
        seq: u32,
        each: &mut dyn FnMut(Message<'_>) -> Result<(), DriverError>,
    ) -> Result<(), DriverError> {
        let mut interrupted = false;
        loop {
            let n = self.recv(false)?.unwrap_or(0);
            let buf = std::mem::take(&mut self.buf);
            let result = Self::handle(&buf[..n], seq, &mut interrupted, each);
            self.buf = buf;
            match result? {
                Some(Ok(())) if interrupted => return Err(DriverError::Changed),
                Some(end) => return end,
                None => {}
            }
        }
    }

    /// Handles one datagram of replies; `Some` once the request is answered.
    fn handle(
        data: &[u8],
        seq: u32,
        interrupted: &mut bool,
        each: &mut dyn FnMut(Message<'_>) -> Result<(), DriverError>,
    ) -> Result<Option<Result<(), DriverError>>, DriverError> {
        for msg in messages(data) {
            if msg.seq != seq {
                continue;
            }
            *interrupted |= msg.flags & NLM_F_DUMP_INTR != 0;
            match msg.ty {
                NLMSG_ERROR => {
                    let (code, _, detail) = parse_error(&msg)?;
                    return Ok(Some(match code {
                        0 => Ok(()),
                        code => Err(DriverError::Refused {
                            what: String::new(),
                            errno: -code,
                            detail,
                        }),
                    }));
                }
                NLMSG_DONE => {
                    let code = msg
                        .payload
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map(i32::from_ne_bytes)
                        .unwrap_or(0);
                    return Ok(Some(match code {
                        0.. => Ok(()),
                        code => Err(DriverError::Refused {
                            what: String::new(),
                            errno: -code,
                            detail: None,
                        }),
                    }));
                }
                _ if *interrupted => {}
                _ => each(msg)?,
            }
        }
        Ok(None)
    }

    /// Sends one request of nf_tables type `msg` with `flags`, its attributes
    /// written by `build`, and hands every object of the answer to `each`.
    fn request(
        &mut self,
        msg: u8,
        flags: u16,
        family: u8,
        build: &dyn Fn(&mut Writer),
        each: &mut dyn FnMut(Message<'_>) -> Result<(), DriverError>,
    ) -> Result<(), DriverError> {
        let seq = self.next_seq();
        let mut w = Writer::default();
        let m = w.begin_msg(nft_type(msg), NLM_F_REQUEST | flags, seq, family, 0);
        build(&mut w);
        w.end_msg(m);
        self.send(&w.into_bytes())?;
        self.replies(seq, each)
    }

    /// Runs a dump of nf_tables type `msg`, handing each object to `sink`,
    /// and restarts it when the ruleset changes meanwhile: `sink(None)`
    /// comes before each attempt, to forget what an interrupted one gave.
    pub(crate) fn dump(
        &mut self,
        msg: u8,
        family: u8,
        build: &dyn Fn(&mut Writer),
        sink: &mut dyn FnMut(Option<Message<'_>>) -> Result<(), DriverError>,
    ) -> Result<(), DriverError> {
        for _ in 0..DUMP_RETRIES {
            sink(None)?;
            match self.request(msg, NLM_F_DUMP, family, build, &mut |m| sink(Some(m))) {
                Err(DriverError::Changed) => continue,
                other => return other,
            }
        }
        Err(DriverError::Changed)
    }

    /// Asks for one object; `Ok(false)` when the kernel says it does not exist.
    pub(crate) fn exists(
        &mut self,
        msg: u8,
        family: u8,
        build: &dyn Fn(&mut Writer),
    ) -> Result<bool, DriverError> {
        match self.request(msg, NLM_F_ACK, family, build, &mut |_| Ok(())) {
            Ok(()) => Ok(true),
            Err(DriverError::Refused { errno, .. }) if errno == libc::ENOENT => Ok(false),
            Err(e) => Err(e),
        }
    }
}
