//! Test helpers: rulesets written as iptables-save text, parsed by moat's own
//! iptables front-end.

use moat_iptables::rule::RuleSpec;
use moat_iptables::save::{restore, RestoreOptions, SaveFile};
use moat_model::{Family, Match, PortRange, Rule, Table};

/// The tables of an iptables-save text for `family`.
pub fn tables_of(family: Family, text: &str) -> Vec<Table> {
    let file = SaveFile::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
    restore(&file, family, RestoreOptions::default(), |_| {
        Err("no current state".into())
    })
    .unwrap_or_else(|e| panic!("{text}: {e:?}"))
    .iter()
    .map(|s| s.to_table())
    .collect()
}

/// The IPv4 tables of an iptables-save text.
pub fn tables(text: &str) -> Vec<Table> {
    tables_of(Family::Ipv4, text)
}

/// One IPv4 rule from its iptables words (without `-A CHAIN`).
pub fn rule(text: &str) -> Rule {
    let words: Vec<String> = text.split_whitespace().map(String::from).collect();
    RuleSpec::parse(&words, Family::Ipv4)
        .and_then(|(spec, _)| spec.to_model(Family::Ipv4))
        .unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

/// The matches of an IPv4 rule from its iptables words.
pub fn parse_matches(text: &str) -> Vec<Match> {
    rule(text).matches
}

/// `--dport port` for TCP.
pub fn dport(port: u16) -> Match {
    Match::DestPort {
        proto: 6,
        ports: vec![PortRange {
            first: port,
            last: port,
        }],
        negate: false,
    }
}

/// The findings for an IPv4 iptables-save text.
pub fn lint_text(text: &str) -> Vec<crate::Finding> {
    crate::lint(&tables(text))
}

/// The (chain, rule) of each finding of `kind`.
pub fn found(findings: &[crate::Finding], kind: crate::FindingKind) -> Vec<(String, usize)> {
    findings
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| (f.chain.clone(), f.rule))
        .collect()
}

/// `(chain, rule)` pairs, for comparing with [`found`].
pub fn at(list: &[(&str, usize)]) -> Vec<(String, usize)> {
    list.iter().map(|(c, r)| (c.to_string(), *r)).collect()
}
