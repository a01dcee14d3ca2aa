//! Block lists — whole countries and address lists — as nf_tables interval
//! sets, loaded fast and replaced atomically.
//!
//! Each list is one interval set per family in table `inet moat_block` and
//! one rule per direction and family (see [`layout`]), not a rule per
//! network. Lists are read from files ([`Entries`], [`zones`]), merged with
//! `ipnet` (overlaps and duplicates never make a load fail), and sent to the
//! kernel over netlink in batches inside one transaction
//! ([`Blocklists::load`]): a refresh flushes and refills a set in the same
//! transaction, so a list is never empty or missing, and a load that fails
//! changes nothing.
//!
//! `-m set --match-set NAME` in moat's iptables tables uses a copy of the
//! list in that table ([`set_declaration`], [`iptables_set`]), which
//! [`Blocklists`] keeps current in the same transactions.

#![warn(missing_docs)]

pub mod entries;
mod iptables;
mod kernel;
pub mod layout;
mod saved;
pub mod zones;

use std::path::PathBuf;

pub use entries::{Entries, ParseError, ParseStats};
pub use iptables::{copies_to_declare, iptables_set, set_declaration};
pub use kernel::{Blocklists, ListInfo, ListSpec, LoadSummary, Source, UpdateSummary};
pub use layout::Direction;
pub use moat_backend::netlink::NetlinkError;
/// The `nftables` crate, whose schema types [`set_declaration`] returns.
pub use nftables;
pub use saved::{merge_saved, SavedContents, SavedList};

/// Why a block-list operation failed. Whatever the error, the kernel was
/// left as it was.
#[derive(Debug, thiserror::Error)]
pub enum BlocklistError {
    /// A line of a list is not an address or network.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A file or directory could not be read.
    #[error("cannot read {}: {error}", .path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        error: std::io::Error,
    },
    /// The zone directory does not exist.
    #[error("no zone directory {}\n{}", .dir.display(), zones::fetch_help(.dir, .codes))]
    NoZoneDir {
        /// The zone directory.
        dir: PathBuf,
        /// The countries asked for.
        codes: Vec<String>,
    },
    /// No zone file for some countries.
    #[error("no zone file for {} in {} (looked for ipv4/CC.zone, ipv6/CC.zone and CC.zone)\n{}", .codes.join(", "), .dir.display(), zones::fetch_help(.dir, .codes))]
    NoZone {
        /// The country codes without a file.
        codes: Vec<String>,
        /// The zone directory.
        dir: PathBuf,
    },
    /// Not a two-letter country code.
    #[error("{0:?} is not a two-letter country code (like cn or de)")]
    BadCountry(String),
    /// Not a valid list name.
    #[error("{0:?} is not a valid list name: use letters, digits, '_' and '-' (at most 40, starting with a letter or digit; 'country' is reserved)")]
    BadName(String),
    /// Not a direction.
    #[error("{0:?} is not a direction: use in, forward or out")]
    BadDirection(String),
    /// No list of that name.
    #[error("there is no block list {0:?} (see `moat block list`)")]
    NotFound(String),
    /// `block add` to a list that does not exist, without `--create`.
    #[error("there is no block list {name:?} ({}); add --create to make a new one", existing_text(.existing))]
    NoSuchList {
        /// The list named.
        name: String,
        /// The lists there are.
        existing: Vec<String>,
    },
    /// `unblock country` named a list that is not a country's.
    #[error("block list {name:?} is not a country list (it is {what}); remove it with `moat unblock {name}`")]
    NotCountry {
        /// The list.
        name: String,
        /// What the list is.
        what: String,
    },
    /// A load would change a list's kind (country, file, by hand).
    #[error("block list {name:?} already exists as {existing}; remove it first with `moat unblock {name}` or choose another name")]
    KindChange {
        /// The list.
        name: String,
        /// What the existing list is.
        existing: String,
    },
    /// A load would leave a list empty.
    #[error("no addresses for block list {name:?} in {source_desc}: refusing to load an empty list, which would lift the block (an empty or failed download?); use `moat unblock {name}` to remove a list, or --allow-empty")]
    Empty {
        /// The list.
        name: String,
        /// Where the addresses were to come from.
        source_desc: String,
    },
    /// The list is used by iptables rules and cannot be removed.
    #[error("block list {name:?} is used by moat's iptables rules in table {table} (-m set --match-set {name}); delete those rules first")]
    InUse {
        /// The list.
        name: String,
        /// The table whose rules use it, e.g. `ip moat_filter`.
        table: String,
    },
    /// The same list named twice in one command.
    #[error("block list {0:?} is named twice")]
    Duplicate(String),
    /// The kernel refused, or could not be reached.
    #[error(transparent)]
    Kernel(#[from] NetlinkError),
}

/// The lists there are, in words.
fn existing_text(names: &[String]) -> String {
    if names.is_empty() {
        "there are no block lists yet".into()
    } else {
        format!("the lists are: {}", names.join(", "))
    }
}
