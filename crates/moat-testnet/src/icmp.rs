//! ICMP echo ("ping") over IPv4 and IPv6 using ping datagram sockets.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::sock::{icmp_socket, set_recverr, DEFAULT_TIMEOUT};
use crate::unreachable::{classify, Failure, Unreachable};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// What happened to one echo request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingOutcome {
    /// An echo reply arrived.
    Reply,
    /// ICMP port unreachable came back: what a plain `REJECT` (default
    /// `icmp-port-unreachable`) sends for an echo request.
    PortUnreachable,
    /// An ICMP error came back, or the local firewall dropped the request.
    Unreachable(Unreachable),
    /// Nothing came back within the timeout.
    TimedOut,
}

/// Sends one echo request from `ns` to `addr` and reports whether a reply
/// arrived within 1 s.
pub fn ping(ns: &Netns, addr: impl Into<IpAddr>) -> Result<bool> {
    Ok(ping_outcome(ns, addr, DEFAULT_TIMEOUT)? == PingOutcome::Reply)
}

/// Sends one echo request from `ns` to `addr` and waits up to `timeout`,
/// telling an ICMP error apart from silence.
pub fn ping_outcome(ns: &Netns, addr: impl Into<IpAddr>, timeout: Duration) -> Result<PingOutcome> {
    sized_ping_outcome(ns, addr.into(), PAYLOAD.len(), timeout)
}

/// Sends one echo request of `size` payload bytes from `ns` to `addr`
/// (beyond the link's MTU the sender's kernel fragments it) and reports
/// whether a reply arrived within 1 s.
pub fn ping_sized(ns: &Netns, addr: impl Into<IpAddr>, size: usize) -> Result<bool> {
    let outcome = sized_ping_outcome(ns, addr.into(), size, DEFAULT_TIMEOUT)?;
    Ok(outcome == PingOutcome::Reply)
}

fn sized_ping_outcome(
    ns: &Netns,
    addr: IpAddr,
    size: usize,
    timeout: Duration,
) -> Result<PingOutcome> {
    ns.run(|| {
        let sock = open(addr)?;
        if let Err(e) = send_echo(&sock, addr, 1, size) {
            return failure(addr, e);
        }
        let deadline = Instant::now() + timeout;
        loop {
            match recv_reply(&sock, addr, deadline) {
                Ok(Some(1)) => return Ok(PingOutcome::Reply),
                Ok(_) => continue,
                Err(e) => return failure(addr, e),
            }
        }
    })?
}

/// Sends `count` echo requests from `ns` to `addr` back to back, then
/// collects replies for up to `timeout` after the last one; returns how
/// many distinct requests were answered (for rate-limit tests).
pub fn ping_burst(
    ns: &Netns,
    addr: impl Into<IpAddr>,
    count: u16,
    timeout: Duration,
) -> Result<usize> {
    let addr = addr.into();
    ns.run(|| {
        let sock = open(addr)?;
        for seq in 1..=count {
            // A refused send (local DROP) simply gets no reply.
            let _ = send_echo(&sock, addr, seq, PAYLOAD.len());
        }
        let deadline = Instant::now() + timeout;
        let mut answered = HashSet::new();
        while answered.len() < usize::from(count) && Instant::now() < deadline {
            match recv_reply(&sock, addr, deadline) {
                Ok(Some(seq)) if (1..=count).contains(&seq) => {
                    answered.insert(seq);
                }
                Ok(_) => {}
                Err(e) if classify(&e) == Some(Failure::TimedOut) => break,
                // ICMP errors for some requests: keep collecting.
                Err(_) => {}
            }
        }
        Ok(answered.len())
    })?
}

fn open(addr: IpAddr) -> Result<UdpSocket> {
    let sock = icmp_socket(addr.is_ipv6())
        .map_err(|e| Error::io(format!("opening a ping socket for {addr}"), e))?;
    set_recverr(&sock, addr.is_ipv6()).map_err(|e| Error::io("enabling ICMP error reports", e))?;
    Ok(sock)
}

fn failure(addr: IpAddr, e: io::Error) -> Result<PingOutcome> {
    match classify(&e) {
        Some(Failure::TimedOut) => Ok(PingOutcome::TimedOut),
        Some(Failure::Unreachable(u)) => Ok(PingOutcome::Unreachable(u)),
        Some(Failure::Refused) => Ok(PingOutcome::PortUnreachable),
        None => Err(Error::io(format!("pinging {addr}"), e)),
    }
}

/// The payload of an echo request, repeated to the size asked for.
const PAYLOAD: &[u8] = b"moat-testnet";

fn send_echo(sock: &UdpSocket, addr: IpAddr, seq: u16, size: usize) -> io::Result<()> {
    let kind = if addr.is_ipv6() {
        ECHO_REQUEST_V6
    } else {
        ECHO_REQUEST_V4
    };
    // type, code, checksum, identifier (all filled in by the kernel but the
    // type), sequence number, payload.
    let mut packet = vec![kind, 0, 0, 0, 0, 0];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend(PAYLOAD.iter().cycle().take(size));
    sock.send_to(&packet, SocketAddr::new(addr, 0)).map(drop)
}

/// Waits until `deadline` for one datagram; returns the sequence number of
/// an echo reply from `addr`, `None` for anything else, or the error
/// (`WouldBlock` once the deadline passed).
fn recv_reply(sock: &UdpSocket, addr: IpAddr, deadline: Instant) -> io::Result<Option<u16>> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    sock.set_read_timeout(Some(left))?;
    let mut buf = [0u8; 256];
    let (n, from) = sock.recv_from(&mut buf)?;
    let reply = if addr.is_ipv6() {
        ECHO_REPLY_V6
    } else {
        ECHO_REPLY_V4
    };
    if n >= 8 && buf[0] == reply && from.ip() == addr {
        Ok(Some(u16::from_be_bytes([buf[6], buf[7]])))
    } else {
        Ok(None)
    }
}
