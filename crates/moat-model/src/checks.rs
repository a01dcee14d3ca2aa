//! Kernel settings a ruleset needs to work: moat warns, it never changes them.

use crate::action::Action;
use crate::matches::{ConnStates, Match};
use crate::ruleset::{Family, Hook, Rule, Table};

/// A sysctl a rule needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingNeed {
    /// The sysctl key, e.g. `net.ipv4.ip_forward`.
    pub key: String,
    /// The value it must have.
    pub value: &'static str,
    /// Which rule needs it.
    pub why: String,
}

fn forward_key(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "net.ipv4.ip_forward",
        Family::Ipv6 => "net.ipv6.conf.all.forwarding",
    }
}

fn in_interface(matches: &[Match]) -> Option<&str> {
    matches.iter().find_map(|m| match m {
        Match::InInterface {
            iface,
            negate: false,
        } if !iface.wildcard => Some(iface.name.as_str()),
        _ => None,
    })
}

/// Whether `rule` only passes packets of connections other rules let
/// through (replies, related connections): on its own it needs nothing.
fn only_replies(rule: &Rule) -> bool {
    let replies = ConnStates::ESTABLISHED | ConnStates::RELATED;
    rule.matches.iter().any(
        |m| matches!(m, Match::ConnState { states, negate: false } if states.0 & !replies == 0),
    )
}

/// The kernel settings one `rule` of chain `chain` (on `hook`, if a base
/// chain) in a `family` table depends on.
pub fn rule_needs(
    family: Family,
    chain: &str,
    hook: Option<Hook>,
    rule: &Rule,
) -> Vec<SettingNeed> {
    let mut needs = Vec::new();
    if hook == Some(Hook::Forward) && rule.action == Action::Accept && !only_replies(rule) {
        needs.push(SettingNeed {
            key: forward_key(family).to_string(),
            value: "1",
            why: format!("the ACCEPT rules in {chain} only see packets when the kernel forwards"),
        });
    }
    needs.extend(dnat_needs(family, hook, rule));
    needs
}

fn dnat_needs(family: Family, hook: Option<Hook>, rule: &Rule) -> Option<SettingNeed> {
    let Action::Dnat(target) = &rule.action else {
        return None;
    };
    let (addr, _) = target.addrs?;
    if addr.is_loopback() {
        if !addr.is_ipv4() {
            return None;
        }
        let iface = in_interface(&rule.matches).unwrap_or("all");
        return Some(SettingNeed {
            key: format!("net.ipv4.conf.{iface}.route_localnet"),
            value: "1",
            why: format!(
                "DNAT to {addr} from outside only works when {iface} may route to loopback"
            ),
        });
    }
    (hook == Some(Hook::Prerouting)).then(|| SettingNeed {
        key: forward_key(family).to_string(),
        value: "1",
        why: format!("DNAT to {addr} sends packets through this host"),
    })
}

/// The kernel settings `table`'s rules depend on, each setting once.
pub fn needed_settings(table: &Table) -> Vec<SettingNeed> {
    let mut needs: Vec<SettingNeed> = Vec::new();
    for chain in &table.chains {
        let hook = chain.base.map(|(h, _)| h);
        for rule in &chain.rules {
            for need in rule_needs(table.family, &chain.name, hook, rule) {
                if !needs.iter().any(|n| n.key == need.key) {
                    needs.push(need);
                }
            }
        }
    }
    needs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::NatTarget;
    use crate::matches::Iface;
    use crate::ruleset::Stage;
    use std::net::IpAddr;

    fn dnat_to(addr: &str, iface: Option<&str>) -> Rule {
        let addr: IpAddr = addr.parse().unwrap();
        let mut rule = Rule::new(Action::Dnat(NatTarget {
            addrs: Some((addr, addr)),
            ports: None,
            random: false,
            port_base: None,
            fully_random: false,
            persistent: false,
        }));
        if let Some(name) = iface {
            rule.matches.push(Match::InInterface {
                iface: Iface {
                    name: name.into(),
                    wildcard: false,
                },
                negate: false,
            });
        }
        rule
    }

    #[test]
    fn dnat_to_loopback_needs_route_localnet_on_the_interface() {
        let mut table = Table::new(Family::Ipv4, Stage::Nat);
        table.chains[0]
            .rules
            .push(dnat_to("127.0.0.1", Some("eth0")));
        let needs = needed_settings(&table);
        assert_eq!(needs.len(), 1);
        assert_eq!(needs[0].key, "net.ipv4.conf.eth0.route_localnet");
    }

    #[test]
    fn dnat_elsewhere_and_forward_rules_need_forwarding() {
        let mut table = Table::new(Family::Ipv4, Stage::Nat);
        table.chains[0].rules.push(dnat_to("192.168.1.100", None));
        assert_eq!(needed_settings(&table)[0].key, "net.ipv4.ip_forward");
        let mut filter = Table::new(Family::Ipv6, Stage::Filter);
        filter.chains[1].rules.push(Rule::new(Action::Accept));
        assert_eq!(
            needed_settings(&filter)[0].key,
            "net.ipv6.conf.all.forwarding"
        );
        assert!(needed_settings(&Table::new(Family::Ipv4, Stage::Filter)).is_empty());
    }

    #[test]
    fn accepting_only_replies_in_forward_needs_nothing() {
        let mut replies = Rule::new(Action::Accept);
        replies.matches.push(Match::ConnState {
            states: ConnStates(ConnStates::ESTABLISHED | ConnStates::RELATED),
            negate: false,
        });
        let mut filter = Table::new(Family::Ipv4, Stage::Filter);
        filter.chains[1].rules.push(replies.clone());
        assert!(needed_settings(&filter).is_empty());
        let Match::ConnState { negate, .. } = &mut replies.matches[0] else {
            unreachable!()
        };
        *negate = true;
        filter.chains[1].rules.push(replies);
        assert_eq!(needed_settings(&filter).len(), 1);
    }
}
