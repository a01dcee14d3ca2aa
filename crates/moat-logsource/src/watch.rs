//! The inotify watches of all file sources, on one inotify instance: a directory or file
//! watched for several sources has one watch descriptor (inotify gives the same one for the
//! same inode), removed when no source needs it any more.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use inotify::{WatchDescriptor, WatchMask, Watches};

/// What a watch is on, for a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The directory holding the file: creations, renames, deletions of the file's name.
    Dir,
    /// A file being read: writes, renames, deletion, permission changes.
    File,
}

impl Target {
    fn mask(self) -> WatchMask {
        match self {
            Target::Dir => {
                WatchMask::CREATE
                    | WatchMask::MOVED_TO
                    | WatchMask::MOVED_FROM
                    | WatchMask::DELETE
                    | WatchMask::ATTRIB
                    | WatchMask::DELETE_SELF
                    | WatchMask::MOVE_SELF
            }
            Target::File => {
                WatchMask::MODIFY
                    | WatchMask::ATTRIB
                    | WatchMask::MOVE_SELF
                    | WatchMask::DELETE_SELF
            }
        }
    }
}

/// The watches and which sources each is for.
#[derive(Debug)]
pub(crate) struct Registry {
    watches: Watches,
    users: HashMap<WatchDescriptor, Vec<(usize, Target)>>,
}

impl Registry {
    /// A registry adding watches through `watches`.
    pub(crate) fn new(watches: Watches) -> Registry {
        Registry {
            watches,
            users: HashMap::new(),
        }
    }

    /// Watches `path` as `target` for `source`.
    pub(crate) fn add(
        &mut self,
        path: &Path,
        target: Target,
        source: usize,
    ) -> io::Result<WatchDescriptor> {
        let wd = self.watches.add(path, target.mask())?;
        self.users
            .entry(wd.clone())
            .or_default()
            .push((source, target));
        Ok(wd)
    }

    /// Stops watching `wd` as `target` for `source`; the watch goes when no one uses it.
    pub(crate) fn remove(&mut self, wd: WatchDescriptor, target: Target, source: usize) {
        let Some(users) = self.users.get_mut(&wd) else {
            return;
        };
        if let Some(i) = users.iter().position(|u| *u == (source, target)) {
            users.swap_remove(i);
        }
        if users.is_empty() {
            self.users.remove(&wd);
            // Fails harmlessly when the kernel already dropped it (file deleted).
            let _ = self.watches.remove(wd);
        }
    }

    /// Who a watch is for.
    pub(crate) fn users(&self, wd: &WatchDescriptor) -> &[(usize, Target)] {
        self.users.get(wd).map_or(&[], Vec::as_slice)
    }

    /// The kernel dropped `wd` (its inode is gone): forgets it and says who used it.
    pub(crate) fn dropped(&mut self, wd: &WatchDescriptor) -> Vec<(usize, Target)> {
        self.users.remove(wd).unwrap_or_default()
    }
}
