//! Errors and warnings about fail2ban files, each naming the file and line.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in a configuration file: the file and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// The file (a built-in filter is named `builtin:NAME.conf`).
    pub file: PathBuf,
    /// The 1-based line.
    pub line: usize,
}

impl Location {
    /// A location in `file` at `line`.
    pub fn new(file: impl Into<PathBuf>, line: usize) -> Self {
        Location {
            file: file.into(),
            line,
        }
    }

    /// An error at this location.
    pub(crate) fn error(&self, message: impl Into<String>) -> ConfError {
        ConfError {
            file: self.file.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    /// A warning at this location.
    pub(crate) fn warning(&self, message: impl Into<String>) -> Warning {
        Warning {
            file: self.file.clone(),
            line: self.line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A broken jail or filter file: where, what is wrong and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct ConfError {
    /// The file at fault.
    pub file: PathBuf,
    /// The 1-based line (0 when the file as a whole is at fault).
    pub line: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfError {
    /// An error about the file as a whole (line 0), e.g. one that cannot be read.
    pub(crate) fn file(file: &Path, message: impl Into<String>) -> Self {
        ConfError {
            file: file.to_path_buf(),
            line: 0,
            message: message.into(),
        }
    }
}

/// Something fail2ban accepts silently but a user most likely did not mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line.
    pub line: usize,
    /// What fail2ban (and moat) does with it.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}
