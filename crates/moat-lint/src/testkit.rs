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

/// The IPv4 tables of an iptables-save text, built rule by rule without the
/// front-end's whole-table checks (so tests can hold rules iptables refuses).
pub fn unchecked_tables(text: &str) -> Vec<Table> {
    use moat_model::{Chain, Counters, Hook, Policy, Stage};
    let mut out: Vec<Table> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('*') {
            let stage = match name {
                "filter" => Stage::Filter,
                "nat" => Stage::Nat,
                "mangle" => Stage::Mangle,
                "security" => Stage::Security,
                _ => Stage::Raw,
            };
            out.push(Table {
                family: Family::Ipv4,
                stage,
                chains: Vec::new(),
            });
            continue;
        }
        let Some(table) = out.last_mut() else {
            continue;
        };
        if let Some(decl) = line.strip_prefix(':') {
            let mut words = decl.split_whitespace();
            let name = words.next().unwrap_or_default().to_string();
            let hook = match name.as_str() {
                "PREROUTING" => Some(Hook::Prerouting),
                "INPUT" => Some(Hook::Input),
                "FORWARD" => Some(Hook::Forward),
                "OUTPUT" => Some(Hook::Output),
                "POSTROUTING" => Some(Hook::Postrouting),
                _ => None,
            };
            let policy = match words.next() {
                Some("DROP") => Policy::Drop,
                _ => Policy::Accept,
            };
            table.chains.push(Chain {
                name,
                base: hook.map(|h| (h, policy)),
                policy_counters: Counters::default(),
                rules: Vec::new(),
            });
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let (chain, words) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some(c) = table.chains.iter_mut().find(|c| c.name == chain) {
                c.rules.push(rule(words));
            }
        }
    }
    out
}
