//! The daemon's log: one line per event on standard error, which systemd
//! puts in the journal (and `moat daemon 2>>FILE` in a file).

use std::io::Write;

/// How much a log line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something is wrong but handled.
    Warning,
    /// A ban, an unban: what an operator wants to see.
    Notice,
    /// Progress.
    Info,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Notice => "NOTICE",
            Level::Info => "INFO",
        }
    }

    /// The syslog priority systemd reads from a `<N>` line prefix.
    fn priority(self) -> u8 {
        match self {
            Level::Error => 3,
            Level::Warning => 4,
            Level::Notice => 5,
            Level::Info => 6,
        }
    }
}

/// Whether standard error is the journal stream systemd set up: the
/// `device:inode` in `JOURNAL_STREAM` is standard error's own (the variable
/// alone may be inherited by a process whose stderr goes elsewhere).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    static IS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IS.get_or_init(|| {
        let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
            return false;
        };
        let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
            return false;
        };
        stream.to_string_lossy() == format!("{}:{}", meta.dev(), meta.ino())
    })
}

/// Writes `LEVEL [job] message`, with the syslog priority prefix systemd
/// understands when standard error goes to the journal.
pub fn log(level: Level, job: &str, message: &str) {
    let prefix = if stderr_is_journal() {
        format!("<{}>", level.priority())
    } else {
        String::new()
    };
    let line = format!("{prefix}{} [{job}] {message}\n", level.word());
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
