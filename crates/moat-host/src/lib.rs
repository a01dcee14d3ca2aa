//! The host's firewall as moat keeps it, shared by every command that
//! changes it: the ruleset lock, the SSH lock-out guard, moat's tables read
//! back into the iptables view, the block-list copies and LOG routes a
//! batch needs, snapshots of all tables (with the block lists a change
//! touches), the files kept for boot, and the
//! watchdog of a confirmable apply.

pub mod confirm;
mod error;
pub mod guard;
pub mod lock;
pub mod log_route;
pub mod persist;
pub mod previous;
pub mod set_copies;
pub mod settings;
pub mod snapshot;
pub mod stored;

pub use error::HostError;
