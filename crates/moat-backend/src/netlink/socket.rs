//! [`NfSocket`]: a netfilter netlink socket. It sends a batch with one
//! `sendmsg` and collects the kernel's verdict on it, runs dumps (restarted
//! when the ruleset changes meanwhile) and single requests.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};

use super::consts::*;
use super::reply::{done_code, parse_error};
use super::wire::{messages, nft_type, Message, Writer};
use super::NetlinkError;

/// How long to wait for the kernel's answer before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// Receive buffer asked for, so that the errors of a large refused batch fit.
const RCVBUF: usize = 16 << 20;
/// Bytes read per `recv`: twice the largest datagram the kernel sends (a
/// dump's buffers are at most 32 KiB, other answers smaller). The buffer
/// is never filled in advance, so a short answer touches a page of it.
const RECV_CHUNK: usize = 64 << 10;
/// How often a dump is restarted when the ruleset changes during it.
const DUMP_RETRIES: usize = 5;
/// Datagrams read on the calling thread before an answer counts as long:
/// a short dump is its objects and then, in a datagram of its own, its end.
const SHORT_ANSWER: usize = 2;
/// Datagrams of a long answer received ahead of the thread reading them.
const PIPELINE_DEPTH: usize = 16;

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
pub struct NfSocket {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for NfSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NfSocket")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

fn io_err(context: &'static str) -> impl FnOnce(io::Error) -> NetlinkError {
    move |error| NetlinkError::Io { context, error }
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

/// `result` with the kernel's "no such object" (ENOENT) as `None`.
pub(crate) fn none_if_missing<T>(
    result: Result<T, NetlinkError>,
) -> Result<Option<T>, NetlinkError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(NetlinkError::Refused { errno, .. }) if errno == libc::ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads one datagram from `sock` into `buf` (its capacity), which then
/// holds it alone; `None` when nothing is waiting and `nonblocking`.
fn recv_into(
    sock: &Socket,
    buf: &mut Vec<u8>,
    nonblocking: bool,
) -> Result<Option<usize>, NetlinkError> {
    let flags = if nonblocking { libc::MSG_DONTWAIT } else { 0 };
    loop {
        buf.clear();
        match sock.recv(buf, flags) {
            Ok(_) => return Ok(Some(buf.len())),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && nonblocking => return Ok(None),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(NetlinkError::Timeout)
            }
            Err(e) => {
                return Err(NetlinkError::Io {
                    context: "reading the kernel's reply",
                    error: e,
                })
            }
        }
    }
}

/// Receives the datagrams of the answer to request `seq` after its first
/// and hands each on, until the one that ends it (done or error), a
/// failed `recv`, or the reader gone (it stopped early).
fn receive_answer(
    sock: &Socket,
    seq: u32,
    datagrams: &mpsc::SyncSender<Result<Vec<u8>, NetlinkError>>,
) {
    let mut buf = Vec::with_capacity(RECV_CHUNK);
    loop {
        let datagram = recv_into(sock, &mut buf, false).and_then(|n| {
            let data = buf[..n.unwrap_or(0)].to_vec();
            let last = messages(&data)?
                .iter()
                .any(|m| m.seq == seq && matches!(m.ty, NLMSG_DONE | NLMSG_ERROR));
            Ok((data, last))
        });
        let (data, last) = match datagram {
            Ok(d) => d,
            Err(e) => {
                let _ = datagrams.send(Err(e));
                return;
            }
        };
        if datagrams.send(Ok(data)).is_err() || last {
            return;
        }
    }
}

impl NfSocket {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, NetlinkError> {
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
            tv_sec: libc::time_t::try_from(REPLY_TIMEOUT.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_usec: 0,
        };
        setsockopt(fd, libc::SO_RCVTIMEO, &timeout)
            .map_err(io_err("setting the netlink receive timeout"))?;
        // Requests use the upper half of the sequence numbers, batches
        // built without a socket the lower half.
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1)
            | 0x8000_0000;
        Ok(NfSocket {
            sock,
            seq,
            buf: Vec::with_capacity(RECV_CHUNK),
        })
    }

    /// A fresh sequence number.
    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1) | 0x8000_0000;
        self.seq
    }

    /// Moves the sequence counter past numbers a batch used.
    pub(crate) fn skip_seq(&mut self, past: u32) {
        self.seq = past;
    }

    fn send(&self, buf: &[u8]) -> Result<(), NetlinkError> {
        match self.sock.send(buf, 0) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMSGSIZE | libc::ENOBUFS)) => {
                Err(NetlinkError::TooLarge {
                    bytes: buf.len(),
                    error: e,
                })
            }
            Err(e) => Err(NetlinkError::Io {
                context: "sending to the kernel",
                error: e,
            }),
        }
    }

    /// Reads one datagram into the buffer; `None` when nothing is waiting
    /// and `nonblocking`.
    fn recv(&mut self, nonblocking: bool) -> Result<Option<usize>, NetlinkError> {
        recv_into(&self.sock, &mut self.buf, nonblocking)
    }

    /// Sends a whole batch with one `sendmsg` (the kernel handles it as one
    /// transaction inside that call) and collects its verdict: `Ok(None)`
    /// when every message was accepted, else the first refused message.
    ///
    /// `begin_seq` is the batch-begin message's sequence number (the kernel
    /// reports commit-time failures against it); `last_seq` the message that
    /// carries `NLM_F_ACK`.
    pub(crate) fn send_batch(
        &mut self,
        batch: &[u8],
        begin_seq: u32,
        last_seq: u32,
    ) -> Result<Option<KernelError>, NetlinkError> {
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
            // The kernel answers the batch inside sendmsg: once it has
            // refused something, the rest of its answer is queued already.
            let got = match self.recv(finished || first.is_some()) {
                Ok(got) => got,
                // Replies were dropped for lack of room: the first ones are in.
                Err(NetlinkError::Io { error, .. })
                    if error.raw_os_error() == Some(libc::ENOBUFS) && first.is_some() =>
                {
                    break
                }
                Err(e) => return Err(e),
            };
            let Some(n) = got else { break };
            for msg in messages(&self.buf[..n])? {
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

    /// Sends one request of nf_tables type `msg` with `flags`, its attributes
    /// written by `build`, and hands every object of the answer to `each`.
    /// `Ok(false)` when the kernel marked the answer as interrupted (the
    /// ruleset changed during a dump): it is read to its end, but the
    /// objects after the mark are not handed on.
    fn exchange<E: From<NetlinkError>>(
        &mut self,
        msg: u8,
        flags: u16,
        family: u8,
        build: &dyn Fn(&mut Writer),
        each: &mut dyn FnMut(Message<'_>) -> Result<(), E>,
    ) -> Result<bool, E> {
        self.exchange_typed(nft_type(msg), flags, family, build, each)
    }

    /// [`NfSocket::exchange`] for a message of any nfnetlink subsystem:
    /// `ty` is the whole netlink message type.
    pub(crate) fn exchange_typed<E: From<NetlinkError>>(
        &mut self,
        ty: u16,
        flags: u16,
        family: u8,
        build: &dyn Fn(&mut Writer),
        each: &mut dyn FnMut(Message<'_>) -> Result<(), E>,
    ) -> Result<bool, E> {
        let seq = self.next_seq();
        let mut w = Writer::default();
        let m = w.begin_msg(ty, NLM_F_REQUEST | flags, seq, family, 0);
        build(&mut w);
        w.end_msg(m);
        self.send(&w.into_bytes())?;
        let mut interrupted = false;
        for _ in 0..SHORT_ANSWER {
            let n = self.recv(false)?.unwrap_or(0);
            let buf = std::mem::take(&mut self.buf);
            let answered = Self::handle(&buf[..n], seq, &mut interrupted, each);
            self.buf = buf;
            if answered? {
                return Ok(!interrupted);
            }
        }
        // A long answer: the kernel fills each next datagram inside the
        // `recv` that takes the previous one, so a second thread receives
        // while this one reads what came.
        std::thread::scope(|scope| {
            let (datagrams, received) = mpsc::sync_channel(PIPELINE_DEPTH);
            let sock = &self.sock;
            scope.spawn(move || receive_answer(sock, seq, &datagrams));
            for datagram in received {
                if Self::handle(&datagram?, seq, &mut interrupted, each)? {
                    return Ok(!interrupted);
                }
            }
            Err(NetlinkError::Malformed("the kernel's answer ended early".into()).into())
        })
    }

    /// Handles one datagram of replies to request `seq`; `Ok(true)` once
    /// the request is answered, an error if the kernel refused it.
    fn handle<E: From<NetlinkError>>(
        data: &[u8],
        seq: u32,
        interrupted: &mut bool,
        each: &mut dyn FnMut(Message<'_>) -> Result<(), E>,
    ) -> Result<bool, E> {
        for msg in messages(data)? {
            if msg.seq != seq {
                continue;
            }
            *interrupted |= msg.flags & NLM_F_DUMP_INTR != 0;
            let refusal = match msg.ty {
                NLMSG_ERROR => match parse_error(&msg)? {
                    (0, _, _) => None,
                    (code, _, detail) => Some((code, detail)),
                },
                NLMSG_DONE => Some(done_code(&msg))
                    .filter(|&code| code < 0)
                    .map(|code| (code, None)),
                _ if *interrupted => continue,
                _ => {
                    each(msg)?;
                    continue;
                }
            };
            return match refusal {
                None => Ok(true),
                Some((code, detail)) => Err(NetlinkError::Refused {
                    what: String::new(),
                    errno: -code,
                    detail,
                }
                .into()),
            };
        }
        Ok(false)
    }

    /// Sends one request (see [`NfSocket::exchange`]) and reads its answer;
    /// an interrupted answer is [`NetlinkError::Changed`].
    pub(crate) fn request<E: From<NetlinkError>>(
        &mut self,
        msg: u8,
        flags: u16,
        family: u8,
        build: &dyn Fn(&mut Writer),
        each: &mut dyn FnMut(Message<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.exchange(msg, flags, family, build, each)? {
            Ok(())
        } else {
            Err(NetlinkError::Changed.into())
        }
    }

    /// Runs a dump of nf_tables type `msg`, handing each object to `sink`,
    /// and restarts it when the ruleset changes meanwhile: `sink(None)`
    /// comes before each attempt, to forget what an interrupted one gave.
    pub(crate) fn dump<E: From<NetlinkError>>(
        &mut self,
        msg: u8,
        family: u8,
        build: &dyn Fn(&mut Writer),
        sink: &mut dyn FnMut(Option<Message<'_>>) -> Result<(), E>,
    ) -> Result<(), E> {
        for _ in 0..=DUMP_RETRIES {
            sink(None)?;
            if self.exchange(msg, NLM_F_DUMP, family, build, &mut |m| sink(Some(m)))? {
                return Ok(());
            }
        }
        Err(NetlinkError::Changed.into())
    }

    /// Asks for one object; `Ok(false)` when the kernel says it does not exist.
    pub(crate) fn exists(
        &mut self,
        msg: u8,
        family: u8,
        build: &dyn Fn(&mut Writer),
    ) -> Result<bool, NetlinkError> {
        let asked = self.request(msg, NLM_F_ACK, family, build, &mut |_| Ok(()));
        none_if_missing(asked).map(|found| found.is_some())
    }
}
