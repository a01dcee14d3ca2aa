//! moat-explain: the path a described packet takes through a ruleset.
//!
//! For a packet a user describes ([`PacketSpec`]) and what is known of the
//! host ([`HostView`]: its addresses and routes), [`explain`] follows the
//! packet through every hook in the kernel's order (raw, mangle, nat,
//! filter at PREROUTING; the routing decision; INPUT, or FORWARD and
//! POSTROUTING; OUTPUT and POSTROUTING for a packet the host sends, then
//! PREROUTING and INPUT again when it sends to itself), every rule of every
//! chain it reaches, jumps, returns and gotos, NAT rewrites and mark
//! changes, and reports each possible path with its verdict. Matches the
//! description cannot decide (rate limits, sets, statistic, ...) split
//! the path in two.

mod error;
mod flight;
mod host;
mod marks;
mod nat;
mod packet;
mod path;
mod render;
mod report;
mod walk;
mod why;

#[cfg(test)]
mod tests;

pub use error::SpecError;
pub use flight::Flight;
pub use host::{HostView, LocalAddr, Route};
pub use packet::{parse_icmp_type, parse_protocol, ConnState, PacketSpec};
pub use path::{explain, MAX_PATHS};
pub use report::{Event, Explanation, Outcome, PathReport, Routing, RuleRef, RuleResult, Verdict};
