//! UDP: an answering server, single exchanges and bursts.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::sock::{any_of_family, normalize, set_recverr, DEFAULT_TIMEOUT};
use crate::unreachable::{classify, Failure, Unreachable};

/// How often the server loop checks whether it should stop.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Payload [`udp_exchange`] sends.
const PROBE: &[u8] = b"moat-testnet probe";

/// What happened to one UDP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpOutcome {
    /// An answer arrived. From a [`UdpEcho`] it is the server's own address
    /// (e.g. `10.99.2.3:53`).
    Reply {
        /// The answer, as (lossy) UTF-8.
        reply: String,
    },
    /// ICMP port unreachable (`ECONNREFUSED`): nothing listens there, or a
    /// plain `REJECT`.
    PortUnreachable,
    /// Another ICMP error or the local firewall (see [`Unreachable`]).
    Unreachable(Unreachable),
    /// No answer within the timeout.
    TimedOut,
}

impl UdpOutcome {
    /// Whether an answer arrived.
    pub fn is_reply(&self) -> bool {
        matches!(self, UdpOutcome::Reply { .. })
    }
}

/// Sends one datagram from `ns` to `addr:port` on a connected socket and
/// waits up to 1 s for the answer.
pub fn udp_exchange(ns: &Netns, addr: impl Into<IpAddr>, port: u16) -> Result<UdpOutcome> {
    udp_exchange_timeout(ns, addr, port, DEFAULT_TIMEOUT)
}

/// [`udp_exchange`] with an explicit timeout.
pub fn udp_exchange_timeout(
    ns: &Netns,
    addr: impl Into<IpAddr>,
    port: u16,
    timeout: Duration,
) -> Result<UdpOutcome> {
    let target = SocketAddr::new(addr.into(), port);
    ns.run(|| exchange(target, timeout))?
}

fn exchange(target: SocketAddr, timeout: Duration) -> Result<UdpOutcome> {
    let setup = |e| Error::io(format!("preparing a UDP socket for {target}"), e);
    let sock = UdpSocket::bind(any_of_family(target.ip())).map_err(setup)?;
    set_recverr(&sock, target.is_ipv6()).map_err(setup)?;
    sock.set_read_timeout(Some(timeout)).map_err(setup)?;
    let result = sock
        .connect(target)
        .and_then(|()| sock.send(PROBE))
        .and_then(|_| {
            let mut buf = [0u8; 512];
            sock.recv(&mut buf).map(|n| buf[..n].to_vec())
        });
    match result {
        Ok(data) => Ok(UdpOutcome::Reply {
            reply: String::from_utf8_lossy(&data).into_owned(),
        }),
        Err(e) => match classify(&e) {
            Some(Failure::Refused) => Ok(UdpOutcome::PortUnreachable),
            Some(Failure::TimedOut) => Ok(UdpOutcome::TimedOut),
            Some(Failure::Unreachable(u)) => Ok(UdpOutcome::Unreachable(u)),
            None => Err(Error::io(format!("UDP exchange with {target}"), e)),
        },
    }
}

/// Sends `count` datagrams from one socket in `ns` to `addr:port` as fast
/// as possible, ignoring answers and ICMP errors. Returns how many the
/// local stack accepted (a local `DROP` makes sends fail). Compare with
/// [`UdpEcho::received`] to see how many got through.
pub fn udp_burst(ns: &Netns, addr: impl Into<IpAddr>, port: u16, count: usize) -> Result<usize> {
    let target = SocketAddr::new(addr.into(), port);
    ns.run(|| {
        let sock = UdpSocket::bind(any_of_family(target.ip()))
            .map_err(|e| Error::io("binding a UDP socket", e))?;
        Ok((0..count)
            .filter(|i| sock.send_to(&i.to_be_bytes(), target).is_ok())
            .count())
    })?
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    peers: Mutex<Vec<SocketAddr>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A UDP server inside a namespace that answers every datagram with its
/// own address (e.g. `10.99.2.3:53`) and records who sent it.
///
/// Bind it to a specific address: a wildcard-bound server answers from
/// whatever source address routing picks, which a connected client ignores
/// if it differs from the address it sent to. Stops when dropped.
pub struct UdpEcho {
    local: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl UdpEcho {
    /// Binds in `ns` to `addr:port` (port 0 picks a free port).
    pub fn start(ns: &Netns, addr: impl Into<IpAddr>, port: u16) -> Result<UdpEcho> {
        let want = SocketAddr::new(addr.into(), port);
        let sock = ns
            .run(|| UdpSocket::bind(want))?
            .map_err(|e| Error::io(format!("binding UDP {want} in {}", ns.name()), e))?;
        let setup = |e| Error::io(format!("setting up UDP {want}"), e);
        sock.set_read_timeout(Some(POLL_INTERVAL)).map_err(setup)?;
        let local = normalize(sock.local_addr().map_err(setup)?);
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("udp echo {local}"))
                .spawn(move || serve(&sock, local, &shared))
                .map_err(|e| Error::io("spawning the UDP server thread", e))?
        };
        Ok(UdpEcho {
            local,
            shared,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local.port()
    }

    /// Sources of all datagrams received so far, in order.
    pub fn peers(&self) -> Vec<SocketAddr> {
        lock(&self.shared.peers).clone()
    }

    /// Source of the most recent datagram.
    pub fn last_peer(&self) -> Option<SocketAddr> {
        lock(&self.shared.peers).last().copied()
    }

    /// How many datagrams arrived so far.
    pub fn received(&self) -> usize {
        lock(&self.shared.peers).len()
    }
}

impl std::fmt::Debug for UdpEcho {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpEcho")
            .field("local", &self.local)
            .field("received", &self.received())
            .finish()
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(sock: &UdpSocket, local: SocketAddr, shared: &Shared) {
    let answer = local.to_string();
    let mut buf = [0u8; 2048];
    while !shared.stop.load(Ordering::SeqCst) {
        if let Ok((_, peer)) = sock.recv_from(&mut buf) {
            lock(&shared.peers).push(normalize(peer));
            let _ = sock.send_to(answer.as_bytes(), peer);
        }
    }
}
