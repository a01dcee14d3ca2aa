//! One health check of one backend: connect, ask, or run a command, with a
//! time limit. Runs in the daemon's network namespace (the gateway's).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use moat_config::model::{CheckKind, HealthCheck};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// Checks `target` as `kind` says, within `limit`: `Ok` when the backend
/// is fine, else why not.
pub async fn probe(kind: &CheckKind, target: SocketAddr, limit: Duration) -> Result<(), String> {
    match timeout(limit, attempt(kind, target)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}

/// A check in words: `tcp every 1 s (timeout 1 s), down after 2, up after 2`.
pub fn describe(c: &HealthCheck) -> String {
    let what = match &c.kind {
        CheckKind::Tcp => "tcp".to_string(),
        CheckKind::Http { path, first, last } => {
            format!("http GET {path} expecting {first}-{last}")
        }
        CheckKind::UdpDns { name } => format!("udp-dns {name}"),
        CheckKind::Command { command } => format!("command `{command}`"),
    };
    format!(
        "{what} every {} s (timeout {} s), down after {}, up after {}",
        c.interval.as_secs_f64(),
        c.timeout.as_secs_f64(),
        c.fall,
        c.rise
    )
}

async fn attempt(kind: &CheckKind, target: SocketAddr) -> Result<(), String> {
    match kind {
        CheckKind::Tcp => TcpStream::connect(target)
            .await
            .map(drop)
            .map_err(|e| format!("connect: {e}")),
        CheckKind::Http { path, first, last } => {
            let status = http_status(target, path).await?;
            if (*first..=*last).contains(&status) {
                Ok(())
            } else {
                Err(format!("HTTP status {status}, expected {first}-{last}"))
            }
        }
        CheckKind::UdpDns { name } => dns(target, name).await,
        CheckKind::Command { command } => run_command(command, target).await,
    }
}

/// `GET path` over HTTP/1.0 and the status of the answer.
async fn http_status(target: SocketAddr, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(target)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let host = match target {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: moat-health-check\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head).ok_or_else(|| "the answer is not HTTP".to_string())
}

/// The status code of an HTTP status line (`HTTP/1.1 200 OK`).
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    words.next()?.parse().ok()
}

/// A DNS query for `name` (type NS, recursion desired) and its wire bytes.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 2, 0, 1]);
    q
}

/// Asks `target` about `name`: any answer to our query that is not a
/// server failure shows the server is at work.
async fn dns(target: SocketAddr, name: &str) -> Result<(), String> {
    let local: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal address")
    } else {
        "[::]:0".parse().expect("literal address")
    };
    let sock = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    sock.connect(target)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let id = (std::process::id() as u16) ^ (target.port().rotate_left(7));
    sock.send(&dns_query(id, name))
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = [0u8; 512];
    loop {
        let n = sock
            .recv(&mut buf)
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        if n < 12 || buf[..2] != id.to_be_bytes() || buf[2] & 0x80 == 0 {
            continue;
        }
        return match buf[3] & 0x0f {
            2 => Err("the server answered SERVFAIL".into()),
            _ => Ok(()),
        };
    }
}

/// Runs `command` with `sh -c`; exit status 0 is healthy. The backend is
/// in `$MOAT_BACKEND_ADDR` and `$MOAT_BACKEND_PORT`; it is killed when the
/// check's time is up.
async fn run_command(command: &str, target: SocketAddr) -> Result<(), String> {
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("MOAT_BACKEND_ADDR", target.ip().to_string())
        .env("MOAT_BACKEND_PORT", target.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| format!("cannot run the check command: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the check command ended with {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503 Busy\r\nX: y"), Some(503));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
    }

    #[test]
    fn dns_query_layout() {
        let q = dns_query(0x1234, "example.org");
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..], b"\x07example\x03org\x00\x00\x02\x00\x01");
        assert_eq!(&dns_query(1, ".")[12..], b"\x00\x00\x02\x00\x01");
    }

    #[tokio::test]
    async fn checks_against_local_listeners() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for status in ["200 OK", "500 Internal Server Error"] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                s.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        let http = CheckKind::Http {
            path: "/health".into(),
            first: 200,
            last: 399,
        };
        let limit = Duration::from_secs(2);
        assert_eq!(probe(&http, addr, limit).await, Ok(()));
        let err = probe(&http, addr, limit).await.unwrap_err();
        assert!(err.contains("500"), "{err}");
        server.await.unwrap();
        // Nothing listens now on a fresh port: connect is refused.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gone = closed.local_addr().unwrap();
        drop(closed);
        assert!(probe(&CheckKind::Tcp, gone, limit).await.is_err());
        let ok = CheckKind::Command {
            command: "test \"$MOAT_BACKEND_PORT\" = 8080".into(),
        };
        let target: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(probe(&ok, target, limit).await, Ok(()));
        let slow = CheckKind::Command {
            command: "sleep 5".into(),
        };
        let err = probe(&slow, target, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(err.contains("no answer within 100 ms"), "{err}");
    }
}
