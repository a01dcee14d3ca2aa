//! The banner server.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::sock::{normalize, DEFAULT_TIMEOUT};

/// How often the accept loop checks whether it should stop.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How long the server keeps a connection open waiting for the client to
/// close it (dropping the server closes it at once).
const HOLD_TIMEOUT: Duration = Duration::from_secs(10);

/// State shared between a [`TcpServer`] and its threads.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    peers: Mutex<Vec<SocketAddr>>,
    open: Mutex<HashMap<u64, TcpStream>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A TCP server listening inside a namespace.
///
/// Each accepted connection gets one line, the local address it was
/// accepted on (e.g. `10.99.2.3:80\n`, IPv6 as `[fd99:2::3]:80`), and is
/// then held open until the client closes it (at most 10 s), so connection
/// limits can count it. The peer address of every connection is recorded
/// (see [`TcpServer::peers`]), which shows the source a NAT left. The
/// server stops, closing all its connections, when dropped.
pub struct TcpServer {
    local: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl TcpServer {
    /// Listens in `ns` on `addr:port` (port 0 picks a free port, see
    /// [`TcpServer::local_addr`]).
    pub fn start(ns: &Netns, addr: impl Into<IpAddr>, port: u16) -> Result<TcpServer> {
        let want = SocketAddr::new(addr.into(), port);
        let listener = ns
            .run(|| TcpListener::bind(want))?
            .map_err(|e| Error::io(format!("listening on {want} in {}", ns.name()), e))?;
        let setup = |e| Error::io(format!("setting up the listener on {want}"), e);
        listener.set_nonblocking(true).map_err(setup)?;
        let local = normalize(listener.local_addr().map_err(setup)?);
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("tcp server {local}"))
                .spawn(move || accept_loop(&listener, &shared))
                .map_err(|e| Error::io("spawning the accept thread", e))?
        };
        Ok(TcpServer {
            local,
            shared,
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.local.port()
    }

    /// Peer addresses of all connections accepted so far, in order.
    pub fn peers(&self) -> Vec<SocketAddr> {
        lock(&self.shared.peers).clone()
    }

    /// Peer address of the most recent connection.
    pub fn last_peer(&self) -> Option<SocketAddr> {
        lock(&self.shared.peers).last().copied()
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        lock(&self.shared.peers).len()
    }

    /// How many accepted connections are still open.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.open).len()
    }
}

impl std::fmt::Debug for TcpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpServer")
            .field("local", &self.local)
            .field("accepted", &self.accepted())
            .finish()
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            // The accept loop never panics on purpose; nothing to report.
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                next_id += 1;
                lock(&shared.peers).push(normalize(peer));
                if let Some(h) = start_handler(stream, next_id, shared) {
                    handlers.push(h);
                }
                handlers.retain(|h| !h.is_finished());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL_INTERVAL),
            Err(_) => thread::sleep(POLL_INTERVAL),
        }
    }
    for stream in lock(&shared.open).values() {
        let _ = stream.shutdown(Shutdown::Both);
    }
    for h in handlers {
        let _ = h.join();
    }
}

fn start_handler(stream: TcpStream, id: u64, shared: &Arc<Shared>) -> Option<JoinHandle<()>> {
    let _ = stream.set_nonblocking(false);
    if let Ok(clone) = stream.try_clone() {
        lock(&shared.open).insert(id, clone);
    }
    let shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name(format!("tcp conn {id}"))
        .spawn(move || {
            serve(stream);
            lock(&shared.open).remove(&id);
        });
    spawned.ok()
}

/// Sends the banner, then waits for the client to close.
fn serve(mut stream: TcpStream) {
    let banner = match stream.local_addr() {
        Ok(local) => format!("{}\n", normalize(local)),
        Err(_) => "?\n".to_owned(),
    };
    let _ = stream.set_write_timeout(Some(DEFAULT_TIMEOUT));
    if stream.write_all(banner.as_bytes()).is_err() {
        return;
    }
    let _ = stream.set_read_timeout(Some(HOLD_TIMEOUT));
    let mut sink = [0u8; 256];
    while let Ok(n) = stream.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}
