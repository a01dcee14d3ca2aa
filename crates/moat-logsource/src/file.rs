//! One open log file: reading its lines from a starting point, and where it has been read to.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::lines::{LineBuffer, RawLine, MAX_LINE_BYTES};
use crate::position::{read_head, FilePosition, Fingerprint, Kind, FINGERPRINT_BYTES};
use crate::Position;

/// Where to start reading a file that is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// After its last complete line (first start, no saved position).
    End,
    /// At its first byte (a file that appeared or replaced another).
    Beginning,
    /// At a saved position, if the file is the one it was saved for; otherwise at its start.
    Resume(FilePosition),
}

/// How [`OpenFile::open`] placed the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// As asked.
    AsAsked,
    /// At its start, because the saved position was for another file (or for a longer one).
    NotTheSavedFile,
}

/// What happened to an open file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Grown or unchanged.
    Intact,
    /// Shorter than what was read, or its first bytes changed (copytruncate).
    Truncated,
    /// Deleted: its inode number may be reused by a new file at the same path.
    Deleted,
}

/// A file being read.
#[derive(Debug)]
pub(crate) struct OpenFile {
    file: File,
    dev: u64,
    ino: u64,
    /// Offset after the last complete line returned.
    offset: u64,
    /// Lines returned (counting from where reading started, see [`Position::line_no`]).
    line: u64,
    lines: LineBuffer,
    /// Offset of the next byte to read.
    read_pos: u64,
    /// The file's first bytes (up to [`FINGERPRINT_BYTES`]) as they were read.
    head: Vec<u8>,
}

impl OpenFile {
    /// Opens `path` and places it at `start`.
    pub(crate) fn open(path: &Path, start: Start) -> io::Result<(OpenFile, Placed)> {
        Self::place(File::open(path)?, start)
    }

    /// Places an open file at `start`. A file already deleted is refused as
    /// not found: the path was looked up while its unlink was under way (the
    /// name still resolves for a moment after the link count drops to 0), and
    /// nothing written later will reach that path through it.
    pub(crate) fn place(mut file: File, start: Start) -> io::Result<(OpenFile, Placed)> {
        let meta = file.metadata()?;
        if meta.nlink() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the file was deleted as it was opened",
            ));
        }
        let (offset, line, placed) = match start {
            Start::Beginning => (0, 0, Placed::AsAsked),
            Start::End => (after_last_newline(&file, meta.len())?, 0, Placed::AsAsked),
            Start::Resume(saved) => {
                if saved.ino == meta.ino()
                    && meta.len() >= saved.offset
                    && saved.fingerprint.matches(&file)?
                {
                    (saved.offset, saved.line, Placed::AsAsked)
                } else {
                    (0, 0, Placed::NotTheSavedFile)
                }
            }
        };
        file.seek(SeekFrom::Start(offset))?;
        let head = read_head(&file, offset.min(FINGERPRINT_BYTES))?;
        let open = OpenFile {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            offset,
            line,
            lines: LineBuffer::default(),
            read_pos: offset,
            head,
        };
        Ok((open, placed))
    }

    /// The next complete line and its number, `None` at the end of what is written so far.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<(u64, RawLine)>> {
        let mut src = Recording {
            file: &mut self.file,
            pos: &mut self.read_pos,
            head: &mut self.head,
        };
        let Some((line, taken)) = self.lines.next_line(&mut src)? else {
            return Ok(None);
        };
        self.offset += taken;
        self.line += 1;
        Ok(Some((self.line, line)))
    }

    /// The partial line at the end, as a last line, when the file is left for good.
    pub(crate) fn take_partial(&mut self) -> Option<(u64, RawLine)> {
        let line = self.lines.take_partial()?;
        self.offset += line.length;
        self.line += 1;
        Some((self.line, line))
    }

    /// Starts again at the first byte (the file was truncated); line numbers start again too.
    pub(crate) fn rewind(&mut self) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.lines.clear();
        self.offset = 0;
        self.line = 0;
        self.read_pos = 0;
        self.head.clear();
        Ok(())
    }

    /// A path naming exactly this open file (through /proc), to watch it without racing a
    /// rename of its name.
    pub(crate) fn fd_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }

    /// Whether `meta` (of the path) describes this file.
    pub(crate) fn is(&self, meta: &Metadata) -> bool {
        (meta.dev(), meta.ino()) == (self.dev, self.ino)
    }

    /// Whether the file's first bytes changed since they were read: it was truncated and
    /// written again (possibly past our offset). One pread of at most
    /// [`FINGERPRINT_BYTES`].
    pub(crate) fn rewritten(&self) -> io::Result<bool> {
        Ok(read_head(&self.file, self.head.len() as u64)? != self.head)
    }

    /// What happened to the open file itself (one fstat, and [`OpenFile::rewritten`]).
    pub(crate) fn fate(&self) -> io::Result<Fate> {
        let meta = self.file.metadata()?;
        Ok(if meta.nlink() == 0 {
            Fate::Deleted
        } else if meta.len() < self.read_pos || self.rewritten()? {
            Fate::Truncated
        } else {
            Fate::Intact
        })
    }

    /// Where to resume after the last line returned.
    pub(crate) fn position(&self) -> Position {
        Position(Kind::File(FilePosition {
            ino: self.ino,
            offset: self.offset,
            line: self.line,
            fingerprint: Fingerprint::of(&self.head),
        }))
    }
}

/// Reads a file, keeping its first bytes as they pass.
struct Recording<'a> {
    file: &'a mut File,
    pos: &'a mut u64,
    head: &'a mut Vec<u8>,
}

impl Read for Recording<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if self.head.len() as u64 == *self.pos && *self.pos < FINGERPRINT_BYTES {
            let keep = (FINGERPRINT_BYTES - *self.pos).min(n as u64) as usize;
            self.head.extend_from_slice(&buf[..keep]);
        }
        *self.pos += n as u64;
        Ok(n)
    }
}

/// The offset just after the last newline of a file `len` bytes long, so following from its end
/// starts at a line's beginning (a partial last line is delivered once complete). Looks back at
/// most [`MAX_LINE_BYTES`].
fn after_last_newline(file: &File, len: u64) -> io::Result<u64> {
    let back = len.min(MAX_LINE_BYTES as u64);
    let mut tail = vec![0u8; back as usize];
    file.read_exact_at(&mut tail, len - back)?;
    Ok(match memchr::memrchr(b'\n', &tail) {
        Some(i) => len - back + i as u64 + 1,
        None if back == len => 0,
        None => len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn texts(f: &mut OpenFile) -> Vec<(u64, String)> {
        std::iter::from_fn(|| f.next_line().unwrap())
            .map(|(n, l)| (n, l.text))
            .collect()
    }

    #[test]
    fn starts_at_end_resumes_and_detects_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "old 1\nold 2\npart").unwrap();
        let (mut f, _) = OpenFile::open(&path, Start::End).unwrap();
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(b"ial\nnew\n").unwrap();
        assert_eq!(
            texts(&mut f),
            vec![(1, "partial".into()), (2, "new".into())]
        );
        let Position(Kind::File(saved)) = f.position() else {
            panic!()
        };
        assert_eq!((saved.offset, saved.line), (24, 2));

        w.write_all(b"after\n").unwrap();
        let (mut again, placed) = OpenFile::open(&path, Start::Resume(saved)).unwrap();
        assert_eq!(placed, Placed::AsAsked);
        assert_eq!(texts(&mut again), vec![(3, "after".into())]);

        // Same inode, other content: from the start.
        std::fs::write(&path, "x\n".repeat(20)).unwrap();
        let (mut other, placed) = OpenFile::open(&path, Start::Resume(saved)).unwrap();
        assert_eq!(placed, Placed::NotTheSavedFile);
        assert_eq!(texts(&mut other).len(), 20);
    }

    #[test]
    fn a_file_deleted_as_it_is_opened_counts_as_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "old\n").unwrap();
        let file = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let err = OpenFile::place(file, Start::Beginning).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn notices_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "a\nb\n").unwrap();
        let (mut f, _) = OpenFile::open(&path, Start::Beginning).unwrap();
        assert_eq!(texts(&mut f).len(), 2);
        assert_eq!(f.fate().unwrap(), Fate::Intact);
        std::fs::write(&path, "c\n").unwrap();
        assert_eq!(f.fate().unwrap(), Fate::Truncated);
        // Truncated and refilled beyond our offset: the first bytes tell.
        std::fs::write(&path, "zzzzzzzz\n").unwrap();
        assert!(f.rewritten().unwrap());
        assert_eq!(f.fate().unwrap(), Fate::Truncated);
        f.rewind().unwrap();
        assert_eq!(texts(&mut f), vec![(1, "zzzzzzzz".into())]);
    }
}
