//! The ruleset's counters: every rule's packets and bytes as counters,
//! labelled by family, table, chain, rule number and a short id that stays
//! the same while the rule's text does; the text itself only in
//! `moat_rule_info`, so series stay small. Chain policies count too.

pub use moat_iptables::rule_id;
use moat_iptables::save::stage_name;
use moat_iptables::{family_word, StoredChain};
use moat_model::{Family, Policy, Stage};

use crate::exposition::{Exposition, Kind};

/// One of moat's tables as read back: its family, stage and chains.
#[derive(Debug, Clone)]
pub struct TableCounters {
    /// IPv4 or IPv6.
    pub family: Family,
    /// filter, nat, mangle or raw.
    pub stage: Stage,
    /// The chains with their rules' source texts and counters.
    pub chains: Vec<StoredChain>,
}

/// Adds the counters of `tables`.
pub fn add(e: &mut Exposition, tables: &[TableCounters]) {
    for t in tables {
        let (family, table) = (family_word(t.family), stage_name(t.stage));
        for chain in &t.chains {
            if let Some((_, policy)) = chain.base {
                let policy = match policy {
                    Policy::Accept => "accept",
                    Policy::Drop => "drop",
                };
                let labels = [
                    ("family", family),
                    ("table", table),
                    ("chain", chain.name.as_str()),
                    ("policy", policy),
                ];
                e.sample(
                    "moat_chain_policy_packets_total",
                    "Packets that reached the end of a built-in chain and met its policy.",
                    Kind::Counter,
                    &labels,
                    chain.policy_counters.packets as f64,
                );
                e.sample(
                    "moat_chain_policy_bytes_total",
                    "Bytes that reached the end of a built-in chain and met its policy.",
                    Kind::Counter,
                    &labels,
                    chain.policy_counters.bytes as f64,
                );
            }
            for (i, rule) in chain.rules.iter().enumerate() {
                let text = rule.source.as_deref().unwrap_or_default();
                let number = (i + 1).to_string();
                let id = rule_id(t.family, t.stage, &chain.name, text);
                let labels = [
                    ("family", family),
                    ("table", table),
                    ("chain", chain.name.as_str()),
                    ("rule", number.as_str()),
                    ("id", id.as_str()),
                ];
                e.sample(
                    "moat_rule_packets_total",
                    "Packets a rule matched (iptables -vnL's pkts).",
                    Kind::Counter,
                    &labels,
                    rule.counters.packets as f64,
                );
                e.sample(
                    "moat_rule_bytes_total",
                    "Bytes a rule matched (iptables -vnL's bytes).",
                    Kind::Counter,
                    &labels,
                    rule.counters.bytes as f64,
                );
                let mut info = labels.to_vec();
                info.push(("text", text));
                e.sample(
                    "moat_rule_info",
                    "A rule's text as iptables -S shows it, by id (always 1).",
                    Kind::Gauge,
                    &info,
                    1.0,
                );
            }
        }
    }
}
