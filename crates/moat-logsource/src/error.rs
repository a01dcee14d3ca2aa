//! The crate's error type.

use std::path::PathBuf;

/// What went wrong while resolving, opening or following a log source.
#[derive(Debug, thiserror::Error)]
pub enum LogSourceError {
    /// A file or directory could not be opened, read or examined.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The inotify instance could not be created (for example too many instances).
    #[error("inotify: {0}")]
    Inotify(#[source] std::io::Error),
    /// A log path pattern is not a valid glob.
    #[error("bad log path pattern {pattern:?}: {message}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// Why it is not valid.
        message: String,
    },
    /// A log path pattern matched no file.
    #[error("no file matches {0:?}")]
    NoMatch(String),
    /// A saved position could not be decoded.
    #[error("invalid saved position: {0}")]
    BadPosition(#[source] serde_json::Error),
    /// `journalctl` could not be started.
    #[error("cannot run journalctl: {0}")]
    JournalSpawn(#[source] std::io::Error),
    /// `journalctl` stopped; its exit status and the end of what it wrote to stderr.
    #[error("journalctl stopped ({status}){}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    JournalExited {
        /// The exit status as text (`exit status: 1`, `signal: 9`).
        status: String,
        /// The last lines journalctl wrote to stderr.
        stderr: String,
    },
    /// Reading journalctl's output failed.
    #[error("reading journalctl output: {0}")]
    JournalRead(#[source] std::io::Error),
}
