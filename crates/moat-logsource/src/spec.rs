//! What to follow: files (fail2ban `logpath` globs resolved here) or the systemd journal.

use std::path::PathBuf;

use crate::LogSourceError;

/// One source to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A log file, followed through rotation. The path need not exist yet. Globs are not
    /// expanded here: resolve them first with [`resolve_logpath`].
    File(PathBuf),
    /// The systemd journal, read through `journalctl`.
    Journal {
        /// fail2ban `journalmatch` terms: `FIELD=value` matches, `+` between groups for OR
        /// (`_SYSTEMD_UNIT=sshd.service + _COMM=sshd`). Each string may hold several terms
        /// separated by white space. Empty: every entry.
        matches: Vec<String>,
        /// A journal directory to read instead of the system journal (`journalctl
        /// --directory`; fail2ban's `journalpath`).
        directory: Option<PathBuf>,
    },
}

/// Resolves a fail2ban `logpath` value, once, when a jail starts (as fail2ban does): a path
/// with glob characters (`*`, `?`, `[`) becomes the files it matches now, sorted; a file that
/// appears later under the pattern is not picked up until the jail is started again. A path
/// without glob characters is returned as it is, whether or not the file exists yet (it is
/// followed from when it appears).
pub fn resolve_logpath(pattern: &str) -> Result<Vec<PathBuf>, LogSourceError> {
    if !pattern.contains(['*', '?', '[']) {
        return Ok(vec![PathBuf::from(pattern)]);
    }
    let bad = |message: String| LogSourceError::BadPattern {
        pattern: pattern.to_owned(),
        message,
    };
    let mut paths = Vec::new();
    for entry in glob::glob(pattern).map_err(|e| bad(e.to_string()))? {
        let path = entry.map_err(|e| bad(e.to_string()))?;
        if path.is_file() {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(LogSourceError::NoMatch(pattern.to_owned()));
    }
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_resolve_to_sorted_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.log", "a.log", "c.txt"] {
            std::fs::write(dir.path().join(name), "x\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        let pattern = format!("{}/*.log", dir.path().display());
        assert_eq!(
            resolve_logpath(&pattern).unwrap(),
            vec![dir.path().join("a.log"), dir.path().join("b.log")]
        );
        let none = format!("{}/*.gz", dir.path().display());
        assert!(matches!(
            resolve_logpath(&none),
            Err(LogSourceError::NoMatch(_))
        ));
        assert!(matches!(
            resolve_logpath("/tmp/[x"),
            Err(LogSourceError::BadPattern { .. })
        ));
        let plain = format!("{}/later.log", dir.path().display());
        assert_eq!(resolve_logpath(&plain).unwrap(), vec![PathBuf::from(plain)]);
    }
}
