//! The nf_tables compiler: turns the moat ruleset model into nftables JSON
//! commands (native expressions, no xtables compatibility layer).

pub mod rule;
