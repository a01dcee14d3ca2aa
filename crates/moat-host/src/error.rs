//! What can go wrong keeping the host's firewall.

use moat_backend::BackendError;
use moat_blocklist::BlocklistError;
use moat_iptables::save::SaveError;
use moat_iptables::state::StateError;
use moat_nft::PlanError;

use crate::set_copies::{MissingSet, WrongSetFamily};

/// An error of the host's firewall upkeep.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A file, socket or process moat needs failed; `what` says which.
    #[error("{what}: {source}")]
    Io {
        /// What moat was doing.
        what: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused a change or could not be asked.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A change could not be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// moat's table in the kernel holds a rule that does not read back.
    #[error(transparent)]
    State(#[from] StateError),
    /// A line of a save file, pointed at.
    #[error(transparent)]
    Save(#[from] SaveError),
    /// A kept ruleset (a snapshot or `ruleset.json`) does not read.
    #[error("reading a saved ruleset: {0}")]
    Kept(String),
    /// A rule names a set that is neither a block list nor an ipset.
    #[error(transparent)]
    MissingSet(#[from] MissingSet),
    /// A rule names an ipset of the other family.
    #[error(transparent)]
    WrongSetFamily(#[from] WrongSetFamily),
    /// moat's block lists could not be read.
    #[error("-m set --match-set looks up moat's block lists: {0}")]
    Blocklist(#[from] BlocklistError),
    /// The block lists a change touched could not be put back.
    #[error("putting the block lists back: {0}")]
    ListsBack(BlocklistError),
    /// What moat will not do here, and what to do instead.
    #[error("{0}")]
    Refused(String),
}

impl HostError {
    /// An [`HostError::Io`] maker for `map_err`: `what` moat was doing.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HostError {
        let what = what.into();
        move |source| HostError::Io { what, source }
    }
}
