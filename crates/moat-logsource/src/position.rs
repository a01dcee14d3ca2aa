//! Where a source was read up to, saved by the daemon so a restart neither replays old lines
//! nor misses new ones.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use serde::{Deserialize, Serialize};

use crate::LogSourceError;

/// How many bytes at the start of a file its fingerprint covers.
pub(crate) const FINGERPRINT_BYTES: u64 = 256;

/// The place after the last line delivered from a source: opaque to the caller, stored as bytes
/// ([`Position::to_bytes`], [`Position::from_bytes`]).
///
/// For a file: its inode, the byte offset after the last complete line, the number of lines
/// read from it, and a fingerprint (hash and length) of its first bytes, so a different file that
/// got the same inode (or the same file after copytruncate) is recognised. The device number is
/// deliberately not kept: it can change across reboots (device-mapper and NVMe numbering), and
/// treating that as a new file would re-read whole logs, which is fail2ban's fault #1252.
/// For the journal: the cursor of the last entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position(pub(crate) Kind);

/// The two kinds of position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    File(FilePosition),
    Journal(JournalPosition),
}

/// A position in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FilePosition {
    pub ino: u64,
    pub offset: u64,
    pub line: u64,
    pub fingerprint: Fingerprint,
}

/// A position in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JournalPosition {
    pub cursor: String,
    pub line: u64,
}

/// A hash (FNV-1a, 64 bits) of a file's first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    pub len: u64,
    pub hash: u64,
}

impl Position {
    /// The position as bytes for the store (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).expect("a position always serialises")
    }

    /// Reads a position written by [`Position::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Position, LogSourceError> {
        serde_json::from_slice(bytes)
            .map(Position)
            .map_err(LogSourceError::BadPosition)
    }

    /// How many lines have been read from the source (from the file's start, or since following
    /// began when it started at a file's end; for the journal, since following first began).
    pub fn line_no(&self) -> u64 {
        match &self.0 {
            Kind::File(f) => f.line,
            Kind::Journal(j) => j.line,
        }
    }
}

impl Fingerprint {
    /// The fingerprint of a file's first bytes, `head`.
    pub(crate) fn of(head: &[u8]) -> Fingerprint {
        Fingerprint {
            len: head.len() as u64,
            hash: fnv1a(head),
        }
    }

    /// Whether `file` starts with the bytes this fingerprint was taken of.
    pub(crate) fn matches(&self, file: &File) -> io::Result<bool> {
        let head = read_head(file, self.len)?;
        Ok(head.len() as u64 == self.len && fnv1a(&head) == self.hash)
    }
}

/// The first `len` bytes of `file` (fewer if it is shorter).
pub(crate) fn read_head(file: &File, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    let n = read_full_at(file, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Reads from offset 0 until `buf` is full or the file ends; returns the bytes read.
fn read_full_at(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// FNV-1a, 64 bits: stable across versions and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn round_trips_through_bytes() {
        let file = Position(Kind::File(FilePosition {
            ino: 7,
            offset: 100,
            line: 3,
            fingerprint: Fingerprint { len: 5, hash: 9 },
        }));
        assert_eq!(Position::from_bytes(&file.to_bytes()).unwrap(), file);
        let journal = Position(Kind::Journal(JournalPosition {
            cursor: "s=1;i=2".into(),
            line: 4,
        }));
        assert_eq!(Position::from_bytes(&journal.to_bytes()).unwrap(), journal);
        assert_eq!(journal.line_no(), 4);
        assert!(Position::from_bytes(b"{\"nope\":1}").is_err());
    }

    #[test]
    fn fingerprint_tells_files_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"first line\n").unwrap();
        let file = File::open(&path).unwrap();
        let fp = Fingerprint::of(&read_head(&file, 1000).unwrap());
        assert_eq!(fp.len, 11);
        // Growing the file keeps it the same file.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"more\n")
            .unwrap();
        assert!(fp.matches(&file).unwrap());
        // Other content, or a shorter file, is another file.
        std::fs::write(&path, b"other line\n").unwrap();
        assert!(!fp.matches(&file).unwrap());
        std::fs::write(&path, b"first").unwrap();
        assert!(!fp.matches(&file).unwrap());
    }
}
