//! The ruleset's counters: every rule's packets and bytes as counters,
//! labelled by family, table, chain, rule number and a short id that stays
//! the same while the rule's text does; the text itself only in
//! `moat_rule_info`, so series stay small. Chain policies count too, and
//! rules named with `-m comment --comment NAME` add up per name: named
//! counters that follow a rule wherever it moves.

use std::collections::BTreeMap;

use moat_iptables::rule::split_args;
pub use moat_iptables::rule_id;
use moat_iptables::save::stage_name;
use moat_iptables::{family_word, StoredChain};
use moat_model::{Counters, Family, Policy, Stage};

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

/// The name `-m comment --comment NAME` gives a rule, if its text has one.
fn comment_of(text: &str) -> Option<String> {
    let at = text.find("--comment ")?;
    split_args(&text[at..])?.into_iter().nth(1)
}

/// Adds the counters of `tables`.
pub fn add(e: &mut Exposition, tables: &[TableCounters]) {
    let mut named: BTreeMap<String, Counters> = BTreeMap::new();
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
                if let Some(name) = comment_of(text) {
                    let sum = named.entry(name).or_default();
                    sum.packets += rule.counters.packets;
                    sum.bytes += rule.counters.bytes;
                }
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
    for (name, sum) in &named {
        let labels = [("name", name.as_str())];
        e.sample(
            "moat_named_packets_total",
            "Packets the rules named NAME by -m comment --comment NAME matched, together.",
            Kind::Counter,
            &labels,
            sum.packets as f64,
        );
        e.sample(
            "moat_named_bytes_total",
            "Bytes the rules named NAME by -m comment --comment NAME matched, together.",
            Kind::Counter,
            &labels,
            sum.bytes as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_iptables::StoredRule;

    fn rule(text: &str, packets: u64) -> StoredRule {
        StoredRule {
            source: Some(text.to_string()),
            counters: Counters {
                packets,
                bytes: packets * 100,
            },
        }
    }

    #[test]
    fn rules_named_by_a_comment_add_up_per_name() {
        assert_eq!(
            comment_of("-m comment --comment web -j ACCEPT").as_deref(),
            Some("web")
        );
        assert_eq!(
            comment_of(r#"-p tcp -m comment --comment "New incomming: " -j LOG"#).as_deref(),
            Some("New incomming: ")
        );
        assert_eq!(comment_of("-p tcp -j ACCEPT"), None);
        let chain = StoredChain {
            name: "INPUT".into(),
            base: None,
            policy_counters: Counters::default(),
            rules: vec![
                rule("-p tcp --dport 80 -m comment --comment web -j ACCEPT", 3),
                rule("-p tcp --dport 443 -m comment --comment web -j ACCEPT", 4),
                rule(r#"-m comment --comment "ssh in" -j ACCEPT"#, 1),
                rule("-j DROP", 9),
            ],
        };
        let mut e = Exposition::new();
        add(
            &mut e,
            &[TableCounters {
                family: Family::Ipv4,
                stage: Stage::Filter,
                chains: vec![chain],
            }],
        );
        let text = e.render();
        assert!(
            text.contains("moat_named_packets_total{name=\"web\"} 7\n"),
            "{text}"
        );
        assert!(
            text.contains("moat_named_bytes_total{name=\"web\"} 700\n"),
            "{text}"
        );
        assert!(
            text.contains("moat_named_packets_total{name=\"ssh in\"} 1\n"),
            "{text}"
        );
        assert_eq!(text.matches("moat_named_packets_total{").count(), 2);
    }
}
