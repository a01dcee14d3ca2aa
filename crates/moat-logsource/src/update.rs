//! What a follower sends: batches of lines with the position after them, and events.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::{LogSourceError, Position};

/// One line read from a source, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Index of the source in the list given to [`crate::Follower::spawn`].
    pub source: usize,
    /// The text; invalid UTF-8 is replaced (lossy), lines longer than [`crate::MAX_LINE_BYTES`]
    /// are cut to that length.
    pub text: String,
    /// The line's number in its source, from 1 (see [`Position::line_no`]).
    pub line_no: u64,
    /// When the line was logged, if the source says (the journal); `None` for files, whose
    /// lines carry their own date.
    pub time: Option<SystemTime>,
}

/// Consecutive lines of one source, with the position after the last of them: persist it once
/// the lines have been acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Index of the source in the list given to [`crate::Follower::spawn`].
    pub source: usize,
    /// The lines, in order; never empty, at most [`crate::MAX_BATCH_LINES`].
    pub lines: Vec<LogLine>,
    /// Where to resume after these lines.
    pub position: Position,
}

/// Something that happened to a source, reported once (not again until it changes).
#[derive(Debug)]
pub enum SourceEvent {
    /// The file does not exist (yet); it is followed from its start when it appears.
    Missing {
        /// Index of the source.
        source: usize,
        /// The file.
        path: PathBuf,
    },
    /// The source cannot be read; retried every second (journalctl: every few seconds).
    Unreadable {
        /// Index of the source.
        source: usize,
        /// Why.
        error: LogSourceError,
    },
    /// The source is read again after being [`SourceEvent::Missing`] or
    /// [`SourceEvent::Unreadable`].
    Recovered {
        /// Index of the source.
        source: usize,
    },
    /// The file at the path was renamed away or deleted (rotation), found replaced at start
    /// (rotated while not followed), or is now another file: the rest of the old file is
    /// still read, and the new one from its start.
    Rotated {
        /// Index of the source.
        source: usize,
        /// The file.
        path: PathBuf,
    },
    /// The file shrank (copytruncate): read again from its start.
    Truncated {
        /// Index of the source.
        source: usize,
        /// The file.
        path: PathBuf,
    },
    /// A line longer than [`crate::MAX_LINE_BYTES`] was cut; reported for the first such line
    /// of a source only (all are counted in [`SourceStats::long_lines`]).
    LongLine {
        /// Index of the source.
        source: usize,
        /// The line's number.
        line_no: u64,
        /// Its full length in bytes.
        length: u64,
    },
}

/// What a follower sends over its channel.
#[derive(Debug)]
pub enum Update {
    /// Lines and the position after them.
    Lines(Batch),
    /// A change in a source's state.
    Event(SourceEvent),
}

/// Counters of one source, since the follower started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Lines delivered.
    pub lines: u64,
    /// Bytes of those lines, newlines included.
    pub bytes: u64,
    /// Lines cut to [`crate::MAX_LINE_BYTES`].
    pub long_lines: u64,
    /// Rotations seen (renamed, deleted or replaced files).
    pub rotations: u64,
    /// Truncations seen (copytruncate).
    pub truncations: u64,
}
