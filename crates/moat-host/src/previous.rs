//! What a change replaces, kept to put it back: the ruleset and the block
//! lists the change loads or removes (`moat apply` loads a configuration's
//! lists before its rules, in a transaction of their own).

use moat_backend::Backend;
use moat_blocklist::{merge_saved, Blocklists, SavedList};
use serde::{Deserialize, Serialize};

use crate::snapshot::{restore_snapshot, Snapshot};
use crate::HostError;

/// The ruleset, block lists and kept configuration before a change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    /// moat's tables.
    pub ruleset: Snapshot,
    /// The block lists the change touches, as they were.
    #[serde(default)]
    pub lists: Vec<SavedList>,
    /// The moat.toml kept before, whose balanced services (table `inet
    /// moat_lb`, written after the ruleset) come back with a rollback;
    /// `None` when none was kept.
    #[serde(default)]
    pub config: Option<String>,
}

impl Previous {
    /// The ruleset `ruleset` and kept moat.toml `config`, with block lists
    /// `names` as they are now.
    pub fn with_lists(
        ruleset: Snapshot,
        config: Option<String>,
        names: &[String],
    ) -> Result<Previous, HostError> {
        let lists = if names.is_empty() {
            Vec::new()
        } else {
            Blocklists::open()
                .and_then(|mut l| l.save(names))
                .map_err(HostError::ListsBack)?
        };
        Ok(Previous {
            ruleset,
            lists,
            config,
        })
    }

    /// `self`, an earlier change's state, with the lists `later` saves that
    /// it does not name.
    pub fn and_then(self, later: Previous) -> Previous {
        Previous {
            lists: merge_saved(self.lists, later.lists),
            ..self
        }
    }
}

/// Puts `previous` back: the lists that existed first (the old rules may
/// look them up), then the ruleset, then the removal of lists that did not
/// exist (once no rule uses them).
pub fn put_back(backend: &dyn Backend, previous: &Previous) -> Result<(), HostError> {
    let mut lists = Blocklists::open().map_err(HostError::ListsBack)?;
    lists
        .restore_saved(&previous.lists)
        .map_err(HostError::ListsBack)?;
    restore_snapshot(backend, &previous.ruleset)?;
    lists
        .remove_unsaved(&previous.lists)
        .map_err(HostError::ListsBack)
}

/// Puts only the block lists of `previous` back, for a change whose
/// ruleset never went in.
pub fn put_lists_back(previous: &Previous) -> Result<(), HostError> {
    let mut lists = Blocklists::open().map_err(HostError::ListsBack)?;
    lists
        .restore_saved(&previous.lists)
        .and_then(|()| lists.remove_unsaved(&previous.lists))
        .map_err(HostError::ListsBack)
}
