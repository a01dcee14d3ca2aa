//! The jobs' control sockets: abstract unix sockets, so each network
//! namespace has its own (like moat's tables) and they vanish with the
//! process. One request line per connection, one reply line.

use std::io::{BufRead, BufReader, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::time::Duration;

/// The address of the abstract socket `@name`.
pub fn address(name: &str) -> std::io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(name.as_bytes())
}

/// Binds `@name` for a job; fails when another process holds it.
pub fn bind(name: &str) -> std::io::Result<tokio::net::UnixListener> {
    let listener = std::os::unix::net::UnixListener::bind_addr(&address(name)?)?;
    listener.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(listener)
}

/// Sends `request` (one line) to `@name` and reads one reply line;
/// `Ok(None)` when nothing listens there.
pub fn exchange(name: &str, request: &str, wait: Duration) -> std::io::Result<Option<String>> {
    let mut stream = match UnixStream::connect_addr(&address(name)?) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(None),
        Err(e) => return Err(e),
    };
    stream.set_read_timeout(Some(wait))?;
    stream.write_all(format!("{}\n", request.trim_end()).as_bytes())?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    Ok(Some(reply))
}

/// Why a job's control socket could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nothing listens on the socket in this network namespace.
    #[error("no moat daemon runs here")]
    NoDaemon,
    /// The exchange failed.
    #[error("talking to the moat daemon: {0}")]
    Io(#[from] std::io::Error),
    /// The request could not be written or the reply was not understood.
    #[error("the moat daemon's reply was not understood: {0}")]
    Json(#[from] serde_json::Error),
}

/// Sends `request` as one JSON line to `@name` and reads one JSON reply.
pub fn ask<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
    name: &str,
    request: &Q,
    wait: Duration,
) -> Result<A, ControlError> {
    let line = serde_json::to_string(request)?;
    match exchange(name, &line, wait)? {
        Some(reply) => Ok(serde_json::from_str(&reply)?),
        None => Err(ControlError::NoDaemon),
    }
}
