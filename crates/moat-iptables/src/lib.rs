//! The iptables front-end: iptables command lines, iptables-save files and
//! iptables listings, into and out of the moat ruleset model.

pub mod rule;
