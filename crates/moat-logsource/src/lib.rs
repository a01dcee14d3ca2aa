//! Following logs for the ban daemon: files through rotation, and the systemd journal, from
//! saved positions.
//!
//! [`Follower::spawn`] takes the sources ([`SourceSpec`], each with the [`Position`] saved
//! after its last batch, if any) and sends [`Update`]s over a tokio channel: [`Batch`]es of at
//! most [`MAX_BATCH_LINES`] lines with the position after them, and [`SourceEvent`]s (missing,
//! unreadable, recovered, rotated, truncated, over-long line), each reported once.
//!
//! - Files are followed with inotify (crate `inotify`: one instance and one task for all files,
//!   watching each file and its directory; `notify` would add a thread and its own debouncing
//!   and hides the rename and truncation details needed here). On first start a file is read
//!   from its end (its history is not replayed); afterwards from the saved position, which
//!   names the file by inode and a fingerprint of its first bytes. A file rotated while moat was
//!   stopped is found under its new name in the same directory and its rest read first; then the
//!   new file from its start. Rename and delete rotation, copytruncate, a file that appears
//!   later, partial and over-long lines and invalid UTF-8 are handled (see the modules).
//!   Limits: a rotated file is still read for 5 s after its last write, then let go; a file
//!   rotated twice within the follower's reaction time (milliseconds) loses the middle file;
//!   every source is also re-examined once a second (retries, lost inotify events).
//! - The journal is read through `journalctl --output=json --follow --merge` with fail2ban
//!   `journalmatch` terms, from the saved cursor (without one: entries logged since the
//!   follower started, to the microsecond); lines are formatted as fail2ban's systemd backend
//!   formats them (`HOST IDENT[PID]: MESSAGE`) and carry the entry's time. journalctl is
//!   restarted 5 s after it stops; a cursor it rejects is dropped.
//! - fail2ban `logpath` globs are resolved by [`resolve_logpath`], once, when a jail starts.
//!
//! Positions count lines in [`Position::line_no`]; save the position of a batch only after its
//! lines were acted on, and a restart neither replays nor misses lines.

mod emit;
mod error;
mod file;
mod files;
mod follower;
mod journal;
mod journal_entry;
mod lines;
mod position;
mod rotation;
mod spec;
mod update;
mod watch;

pub use error::LogSourceError;
pub use follower::Follower;
pub use lines::MAX_LINE_BYTES;
pub use position::Position;
pub use spec::{resolve_logpath, SourceSpec};
pub use update::{Batch, LogLine, SourceEvent, SourceStats, Update};

/// The most lines in one [`Batch`]: a large append streams as a sequence of batches.
pub const MAX_BATCH_LINES: usize = 1024;

/// Lines stop being added to a file [`Batch`] once their text reaches this many bytes.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
