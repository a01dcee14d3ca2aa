//! The metrics endpoint as one of the daemon's jobs: a small HTTP server
//! answering `GET /metrics` with a fresh reading of the kernel (nothing is
//! cached, nothing in the ruleset is rewritten or reset).

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use moat_daemon::{log, Job, JobError, Level, Started, Stop};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::exposition::{Exposition, Kind, CONTENT_TYPE};

const JOB: &str = "metrics";
/// The longest request head read.
const MAX_HEAD: usize = 8192;

/// What a scrape reads: called on a blocking thread for every scrape.
pub type Collect = Arc<dyn Fn() -> Exposition + Send + Sync>;

/// The metrics job: serves `collect`'s reading on `listen`.
pub struct MetricsJob {
    listen: SocketAddr,
    collect: Collect,
}

impl MetricsJob {
    /// A job serving `collect` on `listen` (e.g. 127.0.0.1:9469).
    pub fn new(listen: SocketAddr, collect: Collect) -> Self {
        MetricsJob { listen, collect }
    }
}

impl Job for MetricsJob {
    fn name(&self) -> String {
        JOB.into()
    }

    fn run(
        self: Box<Self>,
        stop: Stop,
        started: Started,
    ) -> Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>> {
        Box::pin(async move {
            let listener = TcpListener::bind(self.listen).await.map_err(|e| JobError {
                job: JOB.into(),
                message: format!("cannot listen on {}: {e}", self.listen),
            })?;
            log(
                Level::Info,
                JOB,
                &format!("serving http://{}/metrics", self.listen),
            );
            started.done();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    conn = listener.accept() => {
                        if let Ok((stream, _)) = conn {
                            let collect = Arc::clone(&self.collect);
                            tokio::spawn(serve(stream, collect));
                        }
                    }
                }
            }
        })
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    Metrics,
    Index,
    NotFound,
    BadMethod,
}

/// Reads the request line of an HTTP/1.x request head.
fn asked(head: &[u8]) -> Option<Asked> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    let (method, target) = (words.next()?, words.next()?);
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let path = target.split('?').next().unwrap_or(target);
    Some(match (method, path) {
        ("GET" | "HEAD", "/metrics") => Asked::Metrics,
        ("GET" | "HEAD", "/") => Asked::Index,
        ("GET" | "HEAD", _) => Asked::NotFound,
        _ => Asked::BadMethod,
    })
}

async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Some(head)
}

async fn serve(mut stream: TcpStream, collect: Collect) {
    let Ok(Some(head)) =
        tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream)).await
    else {
        return;
    };
    let head_only = head.starts_with(b"HEAD ");
    let (status, content_type, encoding, body) = match asked(&head) {
        Some(Asked::Metrics) => {
            let gzip = accepts_gzip(&head);
            let read = tokio::task::spawn_blocking(move || {
                let text = scrape(&collect).into_bytes();
                if gzip {
                    (Some("gzip"), gzipped(&text))
                } else {
                    (None, text)
                }
            });
            match read.await {
                Ok((encoding, body)) => ("200 OK", CONTENT_TYPE, encoding, body),
                Err(e) => (
                    "500 Internal Server Error",
                    "text/plain",
                    None,
                    format!("reading the kernel failed: {e}\n").into_bytes(),
                ),
            }
        }
        Some(Asked::Index) => (
            "200 OK",
            "text/html",
            None,
            b"<html><body><a href=\"/metrics\">moat metrics</a></body></html>\n".to_vec(),
        ),
        Some(Asked::NotFound) => (
            "404 Not Found",
            "text/plain",
            None,
            b"try /metrics\n".to_vec(),
        ),
        Some(Asked::BadMethod) => (
            "405 Method Not Allowed",
            "text/plain",
            None,
            b"GET only\n".to_vec(),
        ),
        None => (
            "400 Bad Request",
            "text/plain",
            None,
            b"not an HTTP request\n".to_vec(),
        ),
    };
    let coding = encoding
        .map(|c| format!("Content-Encoding: {c}\r\n"))
        .unwrap_or_default();
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{coding}Vary: Accept-Encoding\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // Head and body go out as two writes, without copying the body after
    // the head and without waiting for the head's acknowledgement.
    let _ = stream.set_nodelay(true);
    let _ = stream.write_all(reply.as_bytes()).await;
    if !head_only {
        let _ = stream.write_all(&body).await;
    }
    let _ = stream.shutdown().await;
}

/// Whether the request's `Accept-Encoding` takes gzip (as Prometheus asks):
/// a 10,000-rule reading shrinks about sevenfold, which saves more time
/// on the wire (and in the rules the reply's packets cross) than
/// compressing costs.
fn accepts_gzip(head: &[u8]) -> bool {
    let Ok(head) = std::str::from_utf8(head) else {
        return false;
    };
    head.lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("accept-encoding"))
        .flat_map(|(_, value)| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `body` compressed with gzip at the fastest level.
fn gzipped(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 6), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// One reading, with how long it took.
pub fn scrape(collect: &Collect) -> String {
    let started = Instant::now();
    let mut e = collect();
    e.sample(
        "moat_scrape_duration_seconds",
        "How long reading the kernel for this scrape took.",
        Kind::Gauge,
        &[],
        started.elapsed().as_secs_f64(),
    );
    e.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            asked(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Asked::Metrics)
        );
        assert_eq!(
            asked(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Some(Asked::Metrics)
        );
        assert_eq!(asked(b"GET / HTTP/1.1\r\n\r\n"), Some(Asked::Index));
        assert_eq!(asked(b"GET /x HTTP/1.1\r\n\r\n"), Some(Asked::NotFound));
        assert_eq!(
            asked(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Some(Asked::BadMethod)
        );
        assert_eq!(asked(b"SSH-2.0-x\r\n"), None);
    }

    #[test]
    fn gzip_is_used_when_the_request_takes_it() {
        let head = |h: &str| format!("GET /metrics HTTP/1.1\r\n{h}\r\n\r\n");
        assert!(accepts_gzip(head("Accept-Encoding: gzip").as_bytes()));
        // Prometheus' own header.
        assert!(accepts_gzip(
            head("Accept-Encoding: gzip\r\nAccept: text/plain;version=0.0.4").as_bytes()
        ));
        assert!(accepts_gzip(
            head("accept-encoding: deflate, GZIP;q=0.5, br").as_bytes()
        ));
        assert!(accepts_gzip(head("Accept-Encoding: *").as_bytes()));
        assert!(!accepts_gzip(head("Accept-Encoding: gzip;q=0").as_bytes()));
        assert!(!accepts_gzip(head("Accept-Encoding: identity").as_bytes()));
        assert!(!accepts_gzip(head("X-Note: gzip").as_bytes()));
        assert!(!accepts_gzip(b"GET /metrics HTTP/1.1\r\n\r\n"));
    }

    #[test]
    fn gzipped_bodies_read_back_whole() {
        use std::io::Read as _;
        let text = "moat_rule_packets_total{rule=\"1\"} 0\n".repeat(1000);
        let packed = gzipped(text.as_bytes());
        assert!(packed.len() * 10 < text.len(), "{}", packed.len());
        let mut unpacked = String::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, text);
    }
}
