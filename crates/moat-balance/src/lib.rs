//! Load-balanced services that notice dead backends (seed 002's missing
//! half).
//!
//! A moat.toml `[[balance]]` with a health check (or backups, draining,
//! source affinity or hash mode) compiles to table `inet moat_lb`
//! ([`kernel`]): one DNAT rule per service that draws a slot number and
//! looks the backend up in a map of slots ([`slots`]: sized so weights stay
//! exact, Maglev for hash mode). `moat daemon` runs [`BalanceJob`]: it
//! checks every backend ([`check`], [`health`]) and, when one goes down or
//! comes back, rewrites the map's elements in one transaction (never the
//! rules) and forgets the dead backend's connections ([`conntrack`]).
//! With every backend down, new connections are rejected (TCP reset or
//! ICMP port unreachable) instead of hanging.

pub mod check;
pub mod conntrack;
pub mod control;
pub mod health;
mod job;
pub mod kernel;
pub mod service;
pub mod slots;

pub use job::BalanceJob;
pub use service::Service;

/// Why a balanced service could not be set up or changed.
#[derive(Debug, thiserror::Error)]
pub enum BalanceError {
    /// `nft` failed or refused the change; nothing was changed.
    #[error("nft: {0}")]
    Nft(String),
    /// Deleting conntrack entries failed.
    #[error("conntrack: {0}")]
    Conntrack(String),
}
