//! `moat trace`: the kernel's own trace (nftrace) of the packets a filter
//! picks, read as each packet's path through moat's tables in iptables
//! terms. [`event`] reads `nft -a monitor trace` lines; [`path`] names each
//! rule by table, chain and number with its iptables text, and shows the
//! NAT rewrite; [`marking`] is the rule that asks the kernel to trace.

pub mod event;
pub mod marking;
pub mod path;

pub use event::{Event, Step, TraceLines};
pub use path::{describe, Resolver, TRACE_TABLE};
