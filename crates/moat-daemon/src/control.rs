//! The daemon's own control socket (`@moat-daemon`, abstract, so one per
//! network namespace): `moat apply` asks a running daemon to read its
//! configuration again, even when no job runs yet.

use std::io::{BufRead, BufReader, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// The socket's abstract name.
pub const SOCKET_NAME: &str = "moat-daemon";

/// The one request: read the configuration again.
const RELOAD: &str = "reload";

fn address() -> std::io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(SOCKET_NAME.as_bytes())
}

/// Binds the socket; fails when another daemon runs in this namespace.
pub(crate) fn listen() -> std::io::Result<tokio::net::UnixListener> {
    let listener = std::os::unix::net::UnixListener::bind_addr(&address()?).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            std::io::Error::new(
                e.kind(),
                "another moat daemon runs in this network namespace",
            )
        } else {
            e
        }
    })?;
    listener.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(listener)
}

/// Reads one request; returns whether it asks for a reload.
pub(crate) async fn answer(stream: tokio::net::UnixStream) -> bool {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read);
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await;
    let reload = matches!(read, Ok(Ok(_))) && line.trim() == RELOAD;
    let reply: &[u8] = if reload {
        b"reloading\n"
    } else {
        b"unknown request\n"
    };
    let _ = write.write_all(reply).await;
    reload
}

/// Asks the daemon of this network namespace to read its configuration
/// again; `Ok(false)` when no daemon runs here.
pub fn request_reload() -> std::io::Result<bool> {
    let mut stream = match UnixStream::connect_addr(&address()?) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(false),
        Err(e) => return Err(e),
    };
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(format!("{RELOAD}\n").as_bytes())?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    Ok(reply.trim() == "reloading")
}
