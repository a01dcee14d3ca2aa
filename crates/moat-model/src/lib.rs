//! The moat ruleset model: what a firewall does, independent of how a user wrote it.
//!
//! Front-ends (iptables command lines, iptables-save files, moat.toml) build these types;
//! checks and the packet explainer read them; the nf_tables compiler turns them into
//! kernel rules. Nothing here knows about iptables' spelling or nft's syntax.

pub mod action;
pub mod addr_text;
pub mod checks;
pub mod decide;
pub mod describe;
pub mod eval;
pub mod hash;
pub mod matches;
pub mod ruleset;
pub mod text;
pub mod validate;
pub mod xt;

pub use action::{
    ct_event_names, nat_translates_ports, Action, EcnChange, IpSetUpdate, LogFlags, LogLevel,
    MarkSet, MssValue, NatSide, NatTarget, RejectKind, SecMarkCopy, SynProxyOptions, TproxyTarget,
    TtlOp, CT_EVENTS,
};
pub use hash::stable_hash;
pub use matches::{
    AddrTypes, Compare, ConnCounter, ConnStates, ConntrackAddr, ConntrackPort, CtDirection, Iface,
    LimitKey, Match, PacketType, PortRange, Rate, RateUnit, RecentAction, SetCounterTest,
    SetMatchOptions, SetSide, StatisticMode, TcpFlags,
};
pub use ruleset::{
    Chain, Counters, Family, Hook, Policy, Rule, Stage, Table, RESERVED_CHAIN_PREFIX,
};
pub use validate::{validate_rule, RuleError};
pub use xt::{XtExtension, XtLayout};
