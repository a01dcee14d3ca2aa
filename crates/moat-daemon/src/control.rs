//! The daemon's own control socket (`@moat-daemon`, abstract, so one per
//! network namespace): `moat apply` asks a running daemon to read its
//! configuration again, even when no job runs yet.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::socket;

/// The socket's abstract name.
pub const SOCKET_NAME: &str = "moat-daemon";

/// The request to read the configuration again.
const RELOAD: &str = "reload";

/// The request that only asks whether a daemon runs.
const PING: &str = "ping";

/// Binds the socket; fails when another daemon runs in this namespace.
pub(crate) fn listen() -> std::io::Result<tokio::net::UnixListener> {
    socket::bind(SOCKET_NAME).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            std::io::Error::new(
                e.kind(),
                "another moat daemon runs in this network namespace",
            )
        } else {
            e
        }
    })
}

/// Reads one request; returns whether it asks for a reload.
pub(crate) async fn answer(stream: tokio::net::UnixStream) -> bool {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read);
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await;
    let request = if matches!(read, Ok(Ok(_))) {
        line.trim()
    } else {
        ""
    };
    let reply: &[u8] = match request {
        RELOAD => b"reloading\n",
        PING => b"running\n",
        _ => b"unknown request\n",
    };
    let _ = write.write_all(reply).await;
    request == RELOAD
}

/// Asks the daemon of this network namespace to read its configuration
/// again; `Ok(false)` when no daemon runs here.
pub fn request_reload() -> std::io::Result<bool> {
    let reply = socket::exchange(SOCKET_NAME, RELOAD, Duration::from_secs(5))?;
    Ok(reply.is_some_and(|r| r.trim() == "reloading"))
}

/// Whether a daemon runs in this network namespace (with or without jobs).
pub fn daemon_runs() -> std::io::Result<bool> {
    let reply = socket::exchange(SOCKET_NAME, PING, Duration::from_secs(5))?;
    Ok(reply.is_some_and(|r| r.trim() == "running"))
}
