//! Removing namespaces left behind by processes that died.

use std::path::Path;

use crate::error::{Error, Result};
use crate::netns::{delete, NAME_PREFIX, NETNS_RUN_DIR};

/// Deletes every namespace named `moat-<pid>-<n>-...` whose `<pid>` is no
/// longer running (a killed test run cannot run its drop guards), and
/// returns the names it deleted. Namespaces of live processes, including
/// this one, are left alone. If some deletion fails, the others are still
/// attempted and the first failure is returned.
pub fn cleanup_stale() -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(NETNS_RUN_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {NETNS_RUN_DIR}"), e)),
    };
    let mut removed = Vec::new();
    let mut first_error = None;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {NETNS_RUN_DIR}"), e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            match delete(&name) {
                Ok(()) => removed.push(name),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// The `<pid>` of a `moat-<pid>-<n>-<role>` name.
pub(crate) fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let mut parts = rest.splitn(3, '-');
    let pid = parts.next()?;
    let id = parts.next()?;
    let role = parts.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(id) || role.is_empty() {
        return None;
    }
    pid.parse().ok()
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_owner_pid() {
        assert_eq!(owner_pid("moat-123-4-client"), Some(123));
        assert_eq!(owner_pid("moat-123-4-my-role"), Some(123));
        assert_eq!(owner_pid("moat-123-client"), None);
        assert_eq!(owner_pid("moat-x-4-client"), None);
        assert_eq!(owner_pid("moat-123-4-"), None);
        assert_eq!(owner_pid("other-123-4-client"), None);
    }

    #[test]
    fn own_process_is_alive() {
        assert!(process_alive(std::process::id()));
    }
}
