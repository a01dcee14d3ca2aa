//! A small userspace reader of an NFQUEUE queue (how Suricata and other
//! IPS get packets): it binds the queue over nfnetlink_queue, asks for the
//! packets' metadata only, and gives every packet the kernel hands it the
//! verdict ACCEPT, counting them.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::netns::Netns;

/// nfnetlink's subsystem of the queue.
const SUBSYS_QUEUE: u16 = 3;
/// Messages of that subsystem: a queued packet, a verdict, a configuration.
const MSG_PACKET: u16 = 0;
const MSG_VERDICT: u16 = 1;
const MSG_CONFIG: u16 = 2;
/// Configuration attributes: a command, the copy parameters.
const CFG_CMD: u16 = 1;
const CFG_PARAMS: u16 = 2;
/// The command that binds the socket to the queue.
const CMD_BIND: u8 = 1;
/// Copy the packets' metadata, not their bytes.
const COPY_META: u8 = 1;
/// A packet's header attribute, and a verdict's.
const PACKET_HDR: u16 = 1;
const VERDICT_HDR: u16 = 2;
/// The verdict given.
const NF_ACCEPT: u32 = 1;
/// How long a receive waits before the reader checks whether to stop.
const POLL: Duration = Duration::from_millis(100);

/// An NFQUEUE reader running in a namespace until dropped.
pub struct QueueReader {
    accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl QueueReader {
    /// Binds queue `queue` in `ns` and starts accepting its packets.
    pub fn start(ns: &Netns, queue: u16) -> Result<QueueReader> {
        let socket = ns
            .run(|| open(queue))?
            .map_err(|e| Error::io(format!("binding NFQUEUE {queue} in {}", ns.name()), e))?;
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, stop) = (Arc::clone(&accepted), Arc::clone(&stop));
            thread::Builder::new()
                .name(format!("nfqueue {queue}"))
                .spawn(move || serve(&socket, queue, &accepted, &stop))
                .map_err(|e| Error::io("spawning the queue reader", e))?
        };
        Ok(QueueReader {
            accepted,
            stop,
            thread: Some(thread),
        })
    }

    /// How many packets the reader has accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for QueueReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A netlink socket of nfnetlink, bound to `queue` for metadata copies,
/// with a receive timeout.
fn open(queue: u16) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: POLL.as_micros() as libc::suseconds_t,
    };
    // SAFETY: the option value is a timeval of the size given.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if set < 0 {
        return Err(io::Error::last_os_error());
    }
    let bind = attr(CFG_CMD, &[CMD_BIND, 0, 0, 0]);
    request(&socket, MSG_CONFIG, queue, &bind, true)?;
    let mut params = 0xffffu32.to_be_bytes().to_vec();
    params.push(COPY_META);
    request(&socket, MSG_CONFIG, queue, &attr(CFG_PARAMS, &params), true)?;
    Ok(socket)
}

/// One netlink attribute, padded to 4 bytes.
fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut out = Vec::with_capacity(len.next_multiple_of(4));
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(len.next_multiple_of(4), 0);
    out
}

/// Sends one queue message with `attrs`; with `ack`, waits for the
/// kernel's answer and returns its error.
fn request(socket: &OwnedFd, msg: u16, queue: u16, attrs: &[u8], ack: bool) -> io::Result<()> {
    let len = 16 + 4 + attrs.len();
    let flags = (libc::NLM_F_REQUEST | if ack { libc::NLM_F_ACK } else { 0 }) as u16;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&((SUBSYS_QUEUE << 8) | msg).to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&[0; 8]);
    // nfgenmsg: any family, version 0, the queue number.
    out.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    out.extend_from_slice(&queue.to_be_bytes());
    out.extend_from_slice(attrs);
    // SAFETY: sends the bytes of a live buffer.
    let sent = unsafe { libc::send(socket.as_raw_fd(), out.as_ptr().cast(), out.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    if !ack {
        return Ok(());
    }
    let mut buf = [0u8; 4096];
    let got = receive(socket, &mut buf)?;
    let answer = messages(&buf[..got])
        .next()
        .filter(|(ty, body)| *ty == libc::NLMSG_ERROR as u16 && body.len() >= 4)
        .map(|(_, body)| i32::from_ne_bytes([body[0], body[1], body[2], body[3]]));
    match answer {
        Some(0) => Ok(()),
        Some(code) => Err(io::Error::from_raw_os_error(-code)),
        None => Err(io::Error::other("no answer to an NFQUEUE request")),
    }
}

fn receive(socket: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: receives into a live buffer of the length given.
    let got = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if got < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(got as usize)
    }
}

/// The netlink messages of a datagram: each one's type and body.
fn messages(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let header = data.get(..16)?;
        let len = u32::from_ne_bytes(header[..4].try_into().ok()?) as usize;
        let ty = u16::from_ne_bytes(header[4..6].try_into().ok()?);
        let body = data.get(16..len)?;
        data = data.get(len.next_multiple_of(4)..).unwrap_or_default();
        Some((ty, body))
    })
}

/// The id of a queued packet: its header attribute's first word.
fn packet_id(body: &[u8]) -> Option<u32> {
    let mut attrs = body.get(4..)?;
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        let value = attrs.get(4..len)?;
        if kind == PACKET_HDR {
            return Some(u32::from_be_bytes(value.get(..4)?.try_into().ok()?));
        }
        attrs = attrs.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    None
}

/// Accepts every packet of `queue` until told to stop.
fn serve(socket: &OwnedFd, queue: u16, accepted: &AtomicU64, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        let Ok(got) = receive(socket, &mut buf) else {
            continue;
        };
        for (ty, body) in messages(&buf[..got]) {
            if ty != (SUBSYS_QUEUE << 8) | MSG_PACKET {
                continue;
            }
            let Some(id) = packet_id(body) else { continue };
            let mut verdict = NF_ACCEPT.to_be_bytes().to_vec();
            verdict.extend_from_slice(&id.to_be_bytes());
            if request(
                socket,
                MSG_VERDICT,
                queue,
                &attr(VERDICT_HDR, &verdict),
                false,
            )
            .is_ok()
            {
                accepted.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}
