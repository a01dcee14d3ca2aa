//! Telling what happened to a followed file: still the same, truncated, or replaced; and finding
//! a file that was rotated away while moat was not running.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::file::{Fate, OpenFile, Placed, Start};
use crate::position::FilePosition;

/// What the path shows, compared with the file being read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathState {
    /// The same file, grown or unchanged.
    Same,
    /// The same file, truncated (copytruncate).
    Truncated,
    /// Another file, or none: the file was renamed away or deleted.
    Replaced,
}

/// Compares the file at `path` with `open`.
pub(crate) fn examine(path: &Path, open: &OpenFile) -> io::Result<PathState> {
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(PathState::Replaced),
        Err(e) => Err(e),
        Ok(meta) if !open.is(&meta) => Ok(PathState::Replaced),
        Ok(_) => Ok(match open.fate()? {
            Fate::Intact => PathState::Same,
            Fate::Truncated => PathState::Truncated,
            Fate::Deleted => PathState::Replaced,
        }),
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The file that was at `path` when `saved` was taken, if it is still in the same directory under
/// another name (`auth.log.1` after logrotate), placed at `saved` to read the rest of it.
pub(crate) fn find_rotated(path: &Path, saved: &FilePosition) -> Option<(PathBuf, OpenFile)> {
    for entry in fs::read_dir(dir_of(path)).ok()?.flatten() {
        let candidate = entry.path();
        if candidate == path || entry.metadata().map(|m| m.ino()).ok() != Some(saved.ino) {
            continue;
        }
        let Ok(file) = File::open(&candidate) else {
            continue;
        };
        if let Ok((open, Placed::AsAsked)) = OpenFile::place(file, Start::Resume(*saved)) {
            return Some((candidate, open));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::Kind;
    use crate::Position;

    #[test]
    fn finds_the_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.log");
        std::fs::write(&path, "one\ntwo\n").unwrap();
        let (open, _) = OpenFile::open(&path, Start::End).unwrap();
        let Position(Kind::File(saved)) = open.position() else {
            panic!()
        };
        assert_eq!(examine(&path, &open).unwrap(), PathState::Same);

        std::fs::rename(&path, dir.path().join("auth.log.1")).unwrap();
        assert_eq!(examine(&path, &open).unwrap(), PathState::Replaced);
        std::fs::write(&path, "new\n").unwrap();
        assert_eq!(examine(&path, &open).unwrap(), PathState::Replaced);

        let (found, _) = find_rotated(&path, &saved).unwrap();
        assert_eq!(found, dir.path().join("auth.log.1"));
        std::fs::remove_file(&found).unwrap();
        assert!(find_rotated(&path, &saved).is_none());
    }
}
