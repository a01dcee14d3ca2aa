//! Kernel settings a ruleset needs to work: moat warns, it never changes them.

use crate::action::Action;
use crate::matches::Match;
use crate::ruleset::{Family, Hook, Table};

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

/// The kernel settings `table`'s rules depend on.
pub fn needed_settings(table: &Table) -> Vec<SettingNeed> {
    let mut needs: Vec<SettingNeed> = Vec::new();
    let mut push = |need: SettingNeed| {
        if !needs.iter().any(|n| n.key == need.key) {
            needs.push(need);
        }
    };
    for chain in &table.chains {
        let hook = chain.base.map(|(h, _)| h);
        if hook == Some(Hook::Forward) && chain.rules.iter().any(|r| r.action == Action::Accept) {
            push(SettingNeed {
                key: forward_key(table.family).to_string(),
                value: "1",
                why: format!(
                    "the ACCEPT rules in {} only see packets when the kernel forwards",
                    chain.name
                ),
            });
        }
        for rule in &chain.rules {
            let Action::Dnat(target) = &rule.action else {
                continue;
            };
            let Some((addr, _)) = target.addrs else {
                continue;
            };
            if addr.is_loopback() {
                if addr.is_ipv4() {
                    let iface = in_interface(&rule.matches).unwrap_or("all");
                    push(SettingNeed {
                        key: format!("net.ipv4.conf.{iface}.route_localnet"),
                        value: "1",
                        why: format!("DNAT to {addr} from outside only works when {iface} may route to loopback"),
                    });
                }
            } else if hook == Some(Hook::Prerouting) {
                push(SettingNeed {
                    key: forward_key(table.family).to_string(),
                    value: "1",
                    why: format!("DNAT to {addr} sends packets through this host"),
                });
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
    use crate::ruleset::{Rule, Stage};
    use std::net::IpAddr;

    fn dnat_to(addr: &str, iface: Option<&str>) -> Rule {
        let addr: IpAddr = addr.parse().unwrap();
        let mut rule = Rule::new(Action::Dnat(NatTarget {
            addrs: Some((addr, addr)),
            ports: None,
            random: false,
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
}
