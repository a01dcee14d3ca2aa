//! Bans in the kernel (nf_tables sets with per-element timeouts) and in a
//! crash-safe store.
//!
//! [`BanTable`] keeps every jail's bans in table `inet moat_ban` (see
//! [`layout`]): per jail, sets of banned addresses whose elements carry the
//! time left of each ban, and rules that close the jail's ports (or all
//! traffic) to them. The kernel lifts a ban when its time is up, and bans
//! outlive the daemon. A ban is one netlink message; restoring many is one
//! transaction ([`BanTable::ban_many`]). [`Store`] keeps what must survive
//! a reboot: the active bans with their end time (restored at start),
//! how often each address was banned (for `bantime.increment`), and log
//! positions.

#![warn(missing_docs)]

mod encode;
pub mod layout;
mod store;
mod table;

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

pub use layout::{JailScope, Protocol};
pub use moat_backend::netlink::NetlinkError;
pub use store::{
    Ban, BanHistory, Store, DEFAULT_STATE_DIR, FILE_NAME, IDLE_CLOSE, LOCK_WAIT, STATE_ENV,
};
pub use table::{BanTable, KernelBan};

/// Why a ban operation failed. A refused kernel change changed nothing;
/// a failed store write left the store as it was.
#[derive(Debug, thiserror::Error)]
pub enum BanError {
    /// Not a valid jail name.
    #[error("{0:?} is not a valid jail name: use letters, digits, '_', '-' and '.' (at most 64, starting with a letter or digit)")]
    BadJailName(String),
    /// A jail's scope is not valid.
    #[error("jail {jail}: {message}")]
    BadScope {
        /// The jail.
        jail: String,
        /// What is wrong.
        message: String,
    },
    /// The same jail twice in one call.
    #[error("jail {0:?} is named twice")]
    DuplicateJail(String),
    /// No such jail in the kernel's ban table.
    #[error("there is no jail {0:?} in the kernel's ban table (moat daemon creates its jails' sets at start)")]
    UnknownJail(String),
    /// A jail cannot ban this address or network.
    #[error("jail {jail} cannot ban {addr}: {why}")]
    BadAddress {
        /// The jail.
        jail: String,
        /// The address or network.
        addr: IpNet,
        /// Why not.
        why: &'static str,
    },
    /// The kernel refused, or could not be reached.
    #[error(transparent)]
    Kernel(#[from] NetlinkError),
    /// The store's directory could not be created.
    #[error("cannot create {}: {source}", .path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The store could not be read or written.
    #[error("ban store {}: {source}", .path.display())]
    Store {
        /// The store's file.
        path: PathBuf,
        /// redb's error.
        source: Box<redb::Error>,
    },
    /// Another process kept the store open too long.
    #[error("ban store {} is busy: another process kept it open for {waited:?}", .path.display())]
    StoreBusy {
        /// The store's file.
        path: PathBuf,
        /// How long this one waited.
        waited: Duration,
    },
}

#[cfg(test)]
mod kernel_tests;
