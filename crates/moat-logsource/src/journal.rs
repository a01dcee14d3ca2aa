//! Following the systemd journal through `journalctl -o json --follow`, with fail2ban's
//! `journalmatch` terms, from a saved cursor. journalctl is restarted (after [`RETRY`]) when it
//! stops, from the last cursor seen.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::emit::{Emitter, Latch, Stopped};
use crate::journal_entry;
use crate::position::{JournalPosition, Kind};
use crate::{Batch, LogLine, LogSourceError, Position, SourceEvent, MAX_BATCH_LINES};

/// How long to wait before starting journalctl again.
const RETRY: Duration = Duration::from_secs(5);
/// How much of journalctl's stderr is kept for the report when it stops.
const STDERR_KEEP: usize = 2048;

/// Where journalctl starts.
#[derive(Debug, PartialEq, Eq)]
enum From {
    /// After this entry.
    Cursor(String),
    /// With entries logged since this time: when following began (first start, or journalctl
    /// restarted before any entry was seen). Microseconds, so nothing older is replayed.
    Since(SystemTime),
}

/// A journal source being followed.
pub(crate) struct Journal {
    index: usize,
    matches: Vec<String>,
    directory: Option<PathBuf>,
    cursor: Option<String>,
    line: u64,
    /// When following began.
    started: SystemTime,
    latch: Latch,
    emitter: Emitter,
}

impl Journal {
    /// A journal source with index `index`, resuming at `position` if given.
    pub(crate) fn new(
        index: usize,
        matches: Vec<String>,
        directory: Option<PathBuf>,
        position: Option<JournalPosition>,
        emitter: Emitter,
    ) -> Journal {
        let (cursor, line) = position.map_or((None, 0), |p| (Some(p.cursor), p.line));
        let cursor = cursor.filter(|c| !c.is_empty());
        Journal {
            index,
            matches,
            directory,
            cursor,
            line,
            started: SystemTime::now(),
            latch: Latch::default(),
            emitter,
        }
    }

    /// Follows until cancelled or the receiver is gone.
    pub(crate) async fn run(mut self) {
        loop {
            let from = match &self.cursor {
                Some(cursor) => From::Cursor(cursor.clone()),
                None => From::Since(self.started),
            };
            let Ok(error) = self.follow_once(from).await else {
                return;
            };
            if let LogSourceError::JournalExited { stderr, .. } = &error {
                if stderr.contains("cursor") {
                    // A cursor journalctl does not accept (journal vacuumed, other machine):
                    // start again from when following began.
                    self.cursor = None;
                }
            }
            if self.latch.failed(error.to_string()) {
                let event = SourceEvent::Unreadable {
                    source: self.index,
                    error,
                };
                if self.emitter.event(event).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                _ = self.emitter.cancel().cancelled() => return,
                _ = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    /// Runs journalctl once, sending its entries, until it stops; returns why it stopped.
    async fn follow_once(&mut self, from: From) -> Result<LogSourceError, Stopped> {
        let mut child = match Command::new("journalctl")
            .args(arguments(&self.matches, self.directory.as_ref(), &from))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return Ok(LogSourceError::JournalSpawn(e)),
        };
        let stderr = tokio::spawn(tail(child.stderr.take().expect("piped")));
        let mut reader = BufReader::with_capacity(64 * 1024, child.stdout.take().expect("piped"));
        let mut json = Vec::new();
        let mut lines = Vec::new();
        let read_error = loop {
            let read = tokio::select! {
                biased;
                _ = self.emitter.cancel().cancelled() => return Err(Stopped),
                read = reader.read_until(b'\n', &mut json) => read,
            };
            match read {
                Ok(0) => break None,
                Ok(_) => {}
                Err(e) => break Some(e),
            }
            if let Ok(entry) = journal_entry::parse(&json) {
                self.line += 1;
                lines.push(LogLine {
                    source: self.index,
                    text: entry.text,
                    line_no: self.line,
                    time: entry.time,
                });
                if entry.cursor.is_some() {
                    self.cursor = entry.cursor;
                }
            }
            json.clear();
            let more_ready = memchr::memchr(b'\n', reader.buffer()).is_some();
            if lines.len() >= MAX_BATCH_LINES || (!more_ready && !lines.is_empty()) {
                self.send(std::mem::take(&mut lines)).await?;
            }
        };
        if !lines.is_empty() {
            self.send(lines).await?;
        }
        if let Some(e) = read_error {
            return Ok(LogSourceError::JournalRead(e));
        }
        let status = match child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        };
        let stderr = stderr.await.unwrap_or_default();
        Ok(LogSourceError::JournalExited { status, stderr })
    }

    /// Sends entries with the cursor of the last as position.
    async fn send(&mut self, lines: Vec<LogLine>) -> Result<(), Stopped> {
        if self.latch.fine() {
            let source = self.index;
            self.emitter
                .event(SourceEvent::Recovered { source })
                .await?;
        }
        let position = Position(Kind::Journal(JournalPosition {
            cursor: self.cursor.clone().unwrap_or_default(),
            line: self.line,
        }));
        self.emitter
            .batch(Batch {
                source: self.index,
                lines,
                position,
            })
            .await
    }
}

/// journalctl's arguments. `--merge`: without it, journalctl 252 following limits itself to the
/// latest boot in the journal, so entries logged after the saved cursor but before a reboot
/// would be skipped, and an empty journal is an error.
fn arguments(matches: &[String], directory: Option<&PathBuf>, from: &From) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--output=json",
        "--all",
        "--follow",
        "--no-pager",
        "--quiet",
        "--merge",
    ]
    .map(OsString::from)
    .into();
    if let Some(dir) = directory {
        args.push("--directory".into());
        args.push(dir.into());
    }
    match from {
        From::Cursor(cursor) => {
            args.push(format!("--after-cursor={cursor}").into());
            args.push("--no-tail".into());
        }
        From::Since(time) => {
            let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
            let (secs, micros) = (since.as_secs(), since.subsec_micros());
            args.push(format!("--since=@{secs}.{micros:06}").into());
            args.push("--no-tail".into());
        }
    }
    args.extend(
        matches
            .iter()
            .flat_map(|m| m.split_whitespace())
            .map(OsString::from),
    );
    args
}

/// The last [`STDERR_KEEP`] bytes a stream gives before it closes, as text.
async fn tail(stream: impl AsyncRead + Unpin) -> String {
    let mut reader = BufReader::new(stream);
    let mut kept = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = reader.read(&mut chunk).await {
        kept.extend_from_slice(&chunk[..n]);
        let excess = kept.len().saturating_sub(STDERR_KEEP);
        kept.drain(..excess);
    }
    String::from_utf8_lossy(&kept).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_journalctl_arguments() {
        let matches = vec!["_SYSTEMD_UNIT=sshd.service + _COMM=sshd".to_owned()];
        let since = From::Since(UNIX_EPOCH + Duration::from_micros(5_000_123));
        let args = arguments(&matches, None, &since);
        assert_eq!(
            args,
            [
                "--output=json",
                "--all",
                "--follow",
                "--no-pager",
                "--quiet",
                "--merge",
                "--since=@5.000123",
                "--no-tail",
                "_SYSTEMD_UNIT=sshd.service",
                "+",
                "_COMM=sshd"
            ]
            .map(OsString::from)
        );
        let dir = PathBuf::from("/j");
        let args = arguments(&[], Some(&dir), &From::Cursor("s=1".into()));
        assert!(args.ends_with(
            &["--directory", "/j", "--after-cursor=s=1", "--no-tail"].map(OsString::from)
        ));
    }
}
