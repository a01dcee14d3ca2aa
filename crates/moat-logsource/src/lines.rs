//! Cutting a byte stream into lines: partial lines are held until their newline arrives, very
//! long lines are cut to [`MAX_LINE_BYTES`] (the rest is skipped, not kept in memory), invalid
//! UTF-8 is replaced.

use std::io::{self, Read};

use memchr::memchr;

/// The longest line delivered, in bytes; longer lines are cut to this length.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How much is read from a file at a time.
const READ_CHUNK: usize = 64 * 1024;

/// One line as read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RawLine {
    /// The text, lossy UTF-8, without its newline (nor a `\r` before it).
    pub text: String,
    /// The line's full length in bytes, without its newline.
    pub length: u64,
    /// Whether the text was cut to [`MAX_LINE_BYTES`].
    pub cut: bool,
}

impl RawLine {
    fn new(bytes: &[u8], length: u64) -> RawLine {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        RawLine {
            text: String::from_utf8_lossy(bytes).into_owned(),
            length,
            cut: length > MAX_LINE_BYTES as u64,
        }
    }
}

/// Bytes read but not yet returned as lines.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    /// Room for a line of [`MAX_LINE_BYTES`] and one more read; allocated at the first read.
    buf: Vec<u8>,
    /// The unreturned bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// The kept start and full length so far of a line longer than [`MAX_LINE_BYTES`] whose
    /// newline has not arrived yet.
    long: Option<(Vec<u8>, u64)>,
}

impl LineBuffer {
    /// The next complete line, reading from `src` as needed; `None` when `src` has no more
    /// bytes for now (a partial line stays held). The second value is the bytes the line took,
    /// newline included.
    pub(crate) fn next_line(&mut self, src: &mut impl Read) -> io::Result<Option<(RawLine, u64)>> {
        loop {
            let avail = &self.buf[self.start..self.end];
            if let Some(i) = memchr(b'\n', avail) {
                let line = match self.long.take() {
                    Some((head, length)) => RawLine::new(&head, length + i as u64),
                    None => RawLine::new(&avail[..i.min(MAX_LINE_BYTES)], i as u64),
                };
                self.start += i + 1;
                let taken = line.length + 1;
                return Ok(Some((line, taken)));
            }
            match &mut self.long {
                Some((_, length)) => {
                    *length += avail.len() as u64;
                    self.start = self.end;
                }
                None if avail.len() > MAX_LINE_BYTES => {
                    self.long = Some((avail[..MAX_LINE_BYTES].to_vec(), avail.len() as u64));
                    self.start = self.end;
                }
                None => {}
            }
            // At most MAX_LINE_BYTES are held now: move them to the front, read after them.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.is_empty() {
                self.buf = vec![0; MAX_LINE_BYTES + READ_CHUNK];
            }
            let read = loop {
                match src.read(&mut self.buf[self.end..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if read == 0 {
                return Ok(None);
            }
            self.end += read;
        }
    }

    /// The held partial line, if any, as a line (when its file ends for good); the buffer is
    /// then empty.
    pub(crate) fn take_partial(&mut self) -> Option<RawLine> {
        let rest = &self.buf[self.start..self.end];
        let line = match self.long.take() {
            Some((head, length)) => Some(RawLine::new(&head, length + rest.len() as u64)),
            None if !rest.is_empty() => Some(RawLine::new(rest, rest.len() as u64)),
            None => None,
        };
        self.clear();
        line
    }

    /// Forgets everything held.
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.long = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(buf: &mut LineBuffer, src: &mut impl Read) -> Vec<(String, u64, bool)> {
        let mut out = Vec::new();
        while let Some((l, taken)) = buf.next_line(src).unwrap() {
            assert_eq!(taken, l.length + 1);
            out.push((l.text, l.length, l.cut));
        }
        out
    }

    #[test]
    fn holds_partial_lines_until_complete() {
        let mut buf = LineBuffer::default();
        let got = all(&mut buf, &mut &b"one\ntw"[..]);
        assert_eq!(got, vec![("one".into(), 3, false)]);
        let got = all(&mut buf, &mut &b"o\r\nthree"[..]);
        assert_eq!(got, vec![("two".into(), 4, false)]);
        let partial = buf.take_partial().unwrap();
        assert_eq!(partial.text, "three");
        assert!(buf.take_partial().is_none());
    }

    #[test]
    fn cuts_long_lines_and_replaces_bad_utf8() {
        let mut data = vec![b'a'; 200_000];
        data.extend_from_slice(b"\n\xffok\xc3\xa9\n");
        let mut buf = LineBuffer::default();
        // Fed in small pieces, so the long line spans many reads.
        let mut got = Vec::new();
        for piece in data.chunks(1000) {
            got.extend(all(&mut buf, &mut &piece[..]));
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.len(), MAX_LINE_BYTES);
        assert_eq!((got[0].1, got[0].2), (200_000, true));
        assert_eq!(got[1], ("\u{fffd}oké".into(), 5, false));
        // A long partial line at the end of a file.
        let mut buf = LineBuffer::default();
        assert!(all(&mut buf, &mut &vec![b'b'; 100_000][..]).is_empty());
        let partial = buf.take_partial().unwrap();
        assert_eq!(
            (partial.text.len(), partial.length, partial.cut),
            (MAX_LINE_BYTES, 100_000, true)
        );
    }
}
