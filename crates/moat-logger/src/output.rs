//! The log file: appended to, rotated by size and by age with a kept
//! count (`packets.jsonl.1` is the newest old one), opened again when
//! the daemon is told to (logrotate's SIGHUP).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// When the file is rotated and how many old files are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a line would make the file larger than this.
    pub max_bytes: Option<u64>,
    /// Rotate when the file is older than this.
    pub max_age: Option<Duration>,
    /// Old files kept (`.1` ... `.keep`); older ones are removed.
    pub keep: u32,
}

/// The packet log file moat writes.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    rotation: Rotation,
    out: BufWriter<File>,
    bytes: u64,
    opened: SystemTime,
}

fn open(path: &Path) -> io::Result<(File, u64)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let bytes = file.metadata()?.len();
    Ok((file, bytes))
}

/// `path` with `.n` added.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl LogFile {
    /// Opens (or creates, with its directory) the file at `path` for appending.
    pub fn open(path: &Path, rotation: Rotation) -> io::Result<LogFile> {
        let (file, bytes) = open(path)?;
        Ok(LogFile {
            path: path.to_path_buf(),
            rotation,
            out: BufWriter::with_capacity(256 * 1024, file),
            bytes,
            opened: SystemTime::now(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line (a newline is added), rotating first when the
    /// line would pass the size limit or the file is too old.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        let too_big = self
            .rotation
            .max_bytes
            .is_some_and(|max| self.bytes > 0 && self.bytes + len > max);
        let too_old = self.rotation.max_age.is_some_and(|age| {
            self.opened
                .elapsed()
                .is_ok_and(|e| e >= age && self.bytes > 0)
        });
        if too_big || too_old {
            self.rotate()?;
        }
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.bytes += len;
        Ok(())
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Moves the file to `.1` (and `.1` to `.2`, ... up to the kept count)
    /// and starts a new one; with nothing to keep the old lines are removed.
    pub fn rotate(&mut self) -> io::Result<()> {
        self.out.flush()?;
        let keep = self.rotation.keep;
        if keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(&self.path, keep));
            for n in (1..keep).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        self.reopen()
    }

    /// Opens the path again (after logrotate moved the file away).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.out.flush()?;
        let (file, bytes) = open(&self.path)?;
        self.out = BufWriter::with_capacity(256 * 1024, file);
        self.bytes = bytes;
        self.opened = SystemTime::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("moat-logfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn size_rotation_keeps_every_line_in_order_and_the_kept_count() {
        let dir = temp_dir("size");
        let path = dir.join("sub/packets.jsonl");
        let rotation = Rotation {
            max_bytes: Some(100),
            max_age: None,
            keep: 2,
        };
        let mut f = LogFile::open(&path, rotation).unwrap();
        for i in 0..25 {
            f.write_line(&format!("line {i:04} ........")).unwrap();
        }
        f.flush().unwrap();
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let (now, one, two) = (
            read(&path),
            read(&numbered(&path, 1)),
            read(&numbered(&path, 2)),
        );
        assert!(!numbered(&path, 3).exists(), "only two old files are kept");
        let lines: Vec<&str> = two.lines().chain(one.lines()).chain(now.lines()).collect();
        assert_eq!(lines.last(), Some(&"line 0024 ........"));
        for pair in lines.windows(2) {
            assert!(pair[0] < pair[1], "in order: {pair:?}");
        }
        for p in [&path, &numbered(&path, 1)] {
            assert!(std::fs::metadata(p).unwrap().len() <= 100);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reopen_follows_a_file_moved_away() {
        let dir = temp_dir("reopen");
        let path = dir.join("packets.log");
        let rotation = Rotation {
            max_bytes: None,
            max_age: None,
            keep: 1,
        };
        let mut f = LogFile::open(&path, rotation).unwrap();
        f.write_line("before").unwrap();
        f.flush().unwrap();
        std::fs::rename(&path, dir.join("moved")).unwrap();
        f.write_line("still buffered").unwrap();
        f.reopen().unwrap();
        f.write_line("after").unwrap();
        f.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("moved")).unwrap(),
            "before\nstill buffered\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
