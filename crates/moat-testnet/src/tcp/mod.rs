//! TCP: a banner server, single connections and bursts of concurrent ones.

mod server;

pub use server::TcpServer;

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::sock::DEFAULT_TIMEOUT;
use crate::unreachable::{classify, Failure, Unreachable};

/// How often a pending connect checks for a soft (ICMP) error.
const SOFT_ERROR_INTERVAL: Duration = Duration::from_millis(10);

/// Longest banner a client reads.
const MAX_BANNER: usize = 256;

/// What happened to one TCP connection attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOutcome {
    /// The handshake completed. `banner` is what the server sent before the
    /// first newline; a [`TcpServer`] sends the address the connection
    /// reached it on (e.g. `10.99.2.3:80`, after any DNAT). It is empty when
    /// nothing arrived within the timeout.
    Connected {
        /// The server's first line, without the newline.
        banner: String,
    },
    /// `ECONNREFUSED`: a TCP RST (closed port, `REJECT --reject-with
    /// tcp-reset`) or an ICMP port unreachable (plain `REJECT`).
    Refused,
    /// An ICMP error other than port unreachable, or the local firewall
    /// (see [`Unreachable`] for the mapping). Reported as soon as the first
    /// ICMP error arrives, even when the kernel would only abort the
    /// connect at its next SYN retransmission.
    Unreachable(Unreachable),
    /// No answer within the timeout (e.g. `DROP`).
    TimedOut,
}

impl TcpOutcome {
    /// Whether the handshake completed.
    pub fn is_connected(&self) -> bool {
        matches!(self, TcpOutcome::Connected { .. })
    }

    /// The banner, if connected.
    pub fn banner(&self) -> Option<&str> {
        match self {
            TcpOutcome::Connected { banner } => Some(banner),
            _ => None,
        }
    }

    fn from_failure(f: Failure) -> TcpOutcome {
        match f {
            Failure::Refused => TcpOutcome::Refused,
            Failure::TimedOut => TcpOutcome::TimedOut,
            Failure::Unreachable(u) => TcpOutcome::Unreachable(u),
        }
    }
}

/// Connects from inside `ns` to `addr:port` with the default 1 s timeout
/// (for the handshake and again for the banner).
pub fn tcp_connect(ns: &Netns, addr: impl Into<IpAddr>, port: u16) -> Result<TcpOutcome> {
    tcp_connect_timeout(ns, addr, port, DEFAULT_TIMEOUT)
}

/// [`tcp_connect`] with an explicit timeout.
pub fn tcp_connect_timeout(
    ns: &Netns,
    addr: impl Into<IpAddr>,
    port: u16,
    timeout: Duration,
) -> Result<TcpOutcome> {
    let target = SocketAddr::new(addr.into(), port);
    ns.run(|| attempt(target, timeout).map(|(outcome, _stream)| outcome))?
}

/// Connects and reads the banner; the open stream is returned so callers
/// can hold the connection.
fn attempt(target: SocketAddr, timeout: Duration) -> Result<(TcpOutcome, Option<TcpStream>)> {
    match connect(target, timeout) {
        Ok(Ok(mut stream)) => {
            let banner = read_line(&mut stream, timeout);
            Ok((TcpOutcome::Connected { banner }, Some(stream)))
        }
        Ok(Err(failure)) => Ok((TcpOutcome::from_failure(failure), None)),
        Err(e) => Err(Error::io(format!("connecting to {target}"), e)),
    }
}

/// Connects without blocking, watching for ICMP errors on the way.
///
/// An ICMP error that arrives while the kernel still holds the socket for
/// sending the SYN (always the case over veths, where the reply is
/// processed synchronously) only becomes a "soft" error, and the kernel
/// would act on it only at the SYN retransmission one second later. So
/// the soft error (`SO_ERROR`) is checked while waiting and reported at
/// once.
fn connect(target: SocketAddr, timeout: Duration) -> io::Result<Result<TcpStream, Failure>> {
    let deadline = Instant::now() + timeout;
    let sock = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    sock.set_nonblocking(true)?;
    match sock.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return failure_or(e),
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let slice = left.min(SOFT_ERROR_INTERVAL);
        if wait_writable(&sock, slice)? {
            break;
        }
        if let Some(e) = sock.take_error()? {
            return failure_or(e);
        }
        if left <= slice {
            return Ok(Err(Failure::TimedOut));
        }
    }
    if let Some(e) = sock.take_error()? {
        return failure_or(e);
    }
    sock.set_nonblocking(false)?;
    let stream = TcpStream::from(sock);
    // Writable without error means connected; double-check for a reset.
    match stream.peer_addr() {
        Ok(_) => Ok(Ok(stream)),
        Err(e) => failure_or(stream.take_error()?.unwrap_or(e)),
    }
}

/// A network failure as `Ok(Err(..))`, anything else as the I/O error.
fn failure_or<T>(e: io::Error) -> io::Result<Result<T, Failure>> {
    match classify(&e) {
        Some(f) => Ok(Err(f)),
        None => Err(e),
    }
}

/// Waits up to `timeout` for `sock` to become writable (or fail).
fn wait_writable(sock: &Socket, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    loop {
        // SAFETY: `pfd` is a valid pollfd array of length 1 for the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc >= 0 {
            return Ok(rc > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Reads up to the first newline, EOF, error or timeout.
fn read_line(stream: &mut TcpStream, timeout: Duration) -> String {
    let mut line = Vec::new();
    if stream.set_read_timeout(Some(timeout)).is_ok() {
        let mut buf = [0u8; 64];
        while line.len() < MAX_BANNER && !line.contains(&b'\n') {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => line.extend_from_slice(&buf[..n]),
            }
        }
    }
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    String::from_utf8_lossy(&line[..end]).trim_end().to_owned()
}

/// Counts of a [`tcp_connect_many`] burst.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectSummary {
    /// Every attempt's outcome, in no particular order.
    pub outcomes: Vec<TcpOutcome>,
}

impl ConnectSummary {
    /// How many connections completed the handshake.
    pub fn connected(&self) -> usize {
        self.count(|o| o.is_connected())
    }

    /// How many were refused.
    pub fn refused(&self) -> usize {
        self.count(|o| *o == TcpOutcome::Refused)
    }

    /// How many got an ICMP error or were dropped by the local firewall.
    pub fn unreachable(&self) -> usize {
        self.count(|o| matches!(o, TcpOutcome::Unreachable(_)))
    }

    /// How many timed out.
    pub fn timed_out(&self) -> usize {
        self.count(|o| *o == TcpOutcome::TimedOut)
    }

    fn count(&self, pred: impl Fn(&TcpOutcome) -> bool) -> usize {
        self.outcomes.iter().filter(|o| pred(o)).count()
    }
}

/// Opens `n` TCP connections from `ns` to `addr:port` at the same time and
/// keeps every successful one open until all attempts have finished, so a
/// connection limit sees them all at once. Uses the default 1 s timeout;
/// the whole call takes at most about twice that.
pub fn tcp_connect_many(
    ns: &Netns,
    addr: impl Into<IpAddr>,
    port: u16,
    n: usize,
) -> Result<ConnectSummary> {
    tcp_connect_many_timeout(ns, addr, port, n, DEFAULT_TIMEOUT)
}

/// [`tcp_connect_many`] with an explicit timeout per attempt.
pub fn tcp_connect_many_timeout(
    ns: &Netns,
    addr: impl Into<IpAddr>,
    port: u16,
    n: usize,
    timeout: Duration,
) -> Result<ConnectSummary> {
    let target = SocketAddr::new(addr.into(), port);
    if n == 0 {
        return Ok(ConnectSummary::default());
    }
    // Threads spawned inside `run` start in the namespace as well.
    ns.run(|| {
        let barrier = Barrier::new(n);
        thread::scope(|scope| {
            let workers: Vec<_> = (0..n)
                .map(|_| {
                    scope.spawn(|| {
                        let result = attempt(target, timeout);
                        // Hold every connection until all attempts are done.
                        barrier.wait();
                        result.map(|(outcome, _stream)| outcome)
                    })
                })
                .collect();
            let outcomes = workers
                .into_iter()
                .map(|w| match w.join() {
                    Ok(result) => result,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(ConnectSummary { outcomes })
        })
    })?
}
