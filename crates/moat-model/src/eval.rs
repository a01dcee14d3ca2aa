//! A conservative packet evaluator: would this ruleset certainly drop this packet?
//!
//! Used by moat's lock-out guard to tell whether a new ruleset would cut an
//! SSH session. Matches the evaluator cannot decide (marks, rate limits,
//! connection counts, unknown interfaces, ...) are treated as "may match":
//! both branches are followed, and a packet is reported as cut only when
//! every path through the tables ends in a drop or a reject.

use std::net::IpAddr;

use crate::action::Action;
use crate::decide::{self, Facts, Tri};
use crate::matches::ConnStates;
use crate::ruleset::{Family, Hook, Policy, Rule, Stage, Table};

/// The packet to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The packet's family.
    pub family: Family,
    /// Layer-4 protocol number (6 tcp, 17 udp, ...).
    pub protocol: u8,
    /// Source address.
    pub source: IpAddr,
    /// Destination address.
    pub destination: IpAddr,
    /// Source port, for TCP, UDP, SCTP and DCCP.
    pub source_port: Option<u16>,
    /// Destination port.
    pub destination_port: Option<u16>,
    /// The interface it arrives on, when known.
    pub in_iface: Option<String>,
    /// The interface it leaves through, when known.
    pub out_iface: Option<String>,
    /// Its connection-tracking state, one of the [`ConnStates`] bits.
    pub state: u8,
    /// Its TCP flags, when known.
    pub tcp_flags: Option<u8>,
}

/// Where a packet is certainly dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The hook.
    pub hook: Hook,
    /// The table.
    pub stage: Stage,
    /// The chain whose rule or policy drops it.
    pub chain: String,
    /// The 1-based rule number, or `None` for the chain's policy.
    pub rule: Option<usize>,
    /// The rule's source text (its iptables spelling), or `policy DROP`.
    pub text: String,
    /// Whether the sender is told (REJECT) rather than silently dropped.
    pub reject: bool,
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = self.stage.name();
        match self.rule {
            Some(n) => write!(
                f,
                "table {table}, chain {}, rule {n}: {}",
                self.chain, self.text
            ),
            None => write!(
                f,
                "table {table}, chain {}: policy DROP (no rule accepts the packet)",
                self.chain
            ),
        }
    }
}

/// The outcomes a chain can have for the packet.
#[derive(Debug, Default)]
struct Outcomes {
    accept: bool,
    ret: bool,
    drops: Vec<Cut>,
}

impl Outcomes {
    fn merge_terminal(&mut self, other: Outcomes) {
        self.accept |= other.accept;
        self.drops.extend(other.drops);
    }
}

const MAX_DEPTH: usize = 32;

/// Whether `packet`, passing `hooks` in order, is certainly dropped by
/// `tables`; returns where. Tables of another family are ignored.
///
/// Address-translation tables are consulted only for packets in state NEW
/// (the kernel skips them for the rest of a connection).
pub fn certainly_dropped(tables: &[Table], hooks: &[Hook], packet: &Packet) -> Option<Cut> {
    for &hook in hooks {
        let mut relevant: Vec<&Table> = tables
            .iter()
            .filter(|t| t.family == packet.family)
            .filter(|t| t.stage != Stage::Nat || packet.state & ConnStates::NEW != 0)
            .collect();
        relevant.sort_by_key(|t| t.stage.priority(hook));
        for table in relevant {
            if let Some(cut) = table_drops(table, hook, packet) {
                return Some(cut);
            }
        }
    }
    None
}

fn table_drops(table: &Table, hook: Hook, packet: &Packet) -> Option<Cut> {
    let base = table
        .chains
        .iter()
        .find(|c| c.base.map(|(h, _)| h) == Some(hook))?;
    let (_, policy) = base.base?;
    let mut out = eval_chain(table, hook, &base.name, packet, 0);
    if out.ret {
        match policy {
            Policy::Accept => out.accept = true,
            Policy::Drop => out.drops.push(Cut {
                hook,
                stage: table.stage,
                chain: base.name.clone(),
                rule: None,
                text: "policy DROP".into(),
                reject: false,
            }),
        }
    }
    if out.accept {
        None
    } else {
        out.drops.into_iter().next()
    }
}

fn eval_chain(table: &Table, hook: Hook, name: &str, packet: &Packet, depth: usize) -> Outcomes {
    let Some(chain) = table.chains.iter().find(|c| c.name == name) else {
        return Outcomes {
            accept: true,
            ..Outcomes::default()
        };
    };
    if depth > MAX_DEPTH {
        return Outcomes {
            accept: true,
            ..Outcomes::default()
        };
    }
    let mut set = Outcomes::default();
    for (i, rule) in chain.rules.iter().enumerate() {
        let matched = decide::all(&rule.matches, &facts(packet));
        if matched == Tri::No {
            continue;
        }
        let cut = |reject: bool| Cut {
            hook,
            stage: table.stage,
            chain: name.to_string(),
            rule: Some(i + 1),
            text: rule
                .source
                .clone()
                .unwrap_or_else(|| format!("{:?}", rule.action)),
            reject,
        };
        let (effect, continues) = match &rule.action {
            Action::Accept
            | Action::Dnat(_)
            | Action::Snat(_)
            | Action::Masquerade { .. }
            | Action::Redirect { .. }
            | Action::Netmap { .. }
            // The program reading the queue decides: not certainly dropped.
            | Action::Queue { .. }
            // It completes handshakes itself: not certainly dropped.
            | Action::SynProxy(_)
            // A local socket takes it, or it is dropped: not certainly dropped.
            | Action::Tproxy(_) => (
                Outcomes {
                    accept: true,
                    ..Outcomes::default()
                },
                false,
            ),
            Action::Drop => (
                Outcomes {
                    drops: vec![cut(false)],
                    ..Outcomes::default()
                },
                false,
            ),
            Action::Reject(_) => (
                Outcomes {
                    drops: vec![cut(true)],
                    ..Outcomes::default()
                },
                false,
            ),
            Action::Return => (
                Outcomes {
                    ret: true,
                    ..Outcomes::default()
                },
                false,
            ),
            Action::Jump(target) => {
                let sub = eval_chain(table, hook, target, packet, depth + 1);
                let continues = sub.ret;
                (Outcomes { ret: false, ..sub }, continues)
            }
            Action::Goto(target) => (eval_chain(table, hook, target, packet, depth + 1), false),
            _ => (Outcomes::default(), true),
        };
        set.ret |= effect.ret;
        set.merge_terminal(effect);
        if matched == Tri::Yes && !continues {
            return set;
        }
    }
    set.ret = true;
    set
}

/// Whether `rule` certainly does not match `packet` (a match the evaluator
/// cannot decide counts as matching).
pub fn never_matches(rule: &Rule, packet: &Packet) -> bool {
    decide::all(&rule.matches, &facts(packet)) == Tri::No
}

/// What the evaluator knows of `p`: nothing beyond its own fields.
fn facts(p: &Packet) -> Facts<'_> {
    Facts {
        protocol: p.protocol,
        source: p.source,
        destination: p.destination,
        source_port: p.source_port,
        destination_port: p.destination_port,
        in_iface: p.in_iface.as_deref(),
        out_iface: p.out_iface.as_deref(),
        state: p.state,
        nat_status: None,
        tcp_flags: p.tcp_flags,
        icmp: None,
        mark: None,
        conn_mark: None,
        length: None,
        source_type: None,
        destination_type: None,
        sets: &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matches::{ConnStates, Iface, Match, PortRange};
    use crate::ruleset::{Rule, Table};

    fn ssh_packet(state: u8) -> Packet {
        Packet {
            family: Family::Ipv4,
            protocol: 6,
            source: "10.0.0.5".parse().unwrap(),
            destination: "10.0.0.1".parse().unwrap(),
            source_port: Some(50514),
            destination_port: Some(22),
            in_iface: Some("eth0".into()),
            out_iface: None,
            state,
            tcp_flags: Some(0x10),
        }
    }

    fn rule(matches: Vec<Match>, action: Action, text: &str) -> Rule {
        Rule {
            matches,
            source: Some(text.into()),
            ..Rule::new(action)
        }
    }

    fn filter_input(policy: Policy, rules: Vec<Rule>) -> Table {
        let mut t = Table::new(Family::Ipv4, Stage::Filter);
        let input = t.chain_mut("INPUT").unwrap();
        input.base = Some((Hook::Input, policy));
        input.rules = rules;
        t
    }

    #[test]
    fn policy_drop_without_accept_cuts() {
        let t = filter_input(Policy::Drop, vec![]);
        let cut =
            certainly_dropped(&[t], &[Hook::Input], &ssh_packet(ConnStates::ESTABLISHED)).unwrap();
        assert_eq!(cut.rule, None);
        assert_eq!(cut.chain, "INPUT");
    }

    #[test]
    fn established_accept_keeps() {
        let est = rule(
            vec![Match::ConnState {
                states: ConnStates(ConnStates::ESTABLISHED | ConnStates::RELATED),
                negate: false,
            }],
            Action::Accept,
            "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        );
        let t = filter_input(Policy::Drop, vec![est]);
        assert!(
            certainly_dropped(&[t], &[Hook::Input], &ssh_packet(ConnStates::ESTABLISHED)).is_none()
        );
    }

    #[test]
    fn port_accept_keeps_and_other_port_does_not() {
        let ssh = rule(
            vec![
                Match::Protocol {
                    proto: 6,
                    negate: false,
                },
                Match::DestPort {
                    proto: 6,
                    ports: vec![PortRange {
                        first: 22,
                        last: 22,
                    }],
                    negate: false,
                },
            ],
            Action::Accept,
            "-p tcp --dport 22 -j ACCEPT",
        );
        let t = filter_input(Policy::Drop, vec![ssh]);
        assert!(
            certainly_dropped(&[t], &[Hook::Input], &ssh_packet(ConnStates::ESTABLISHED)).is_none()
        );
        let mut p = ssh_packet(ConnStates::ESTABLISHED);
        p.destination_port = Some(2222);
        let t = filter_input(
            Policy::Drop,
            vec![rule(
                vec![Match::DestPort {
                    proto: 6,
                    ports: vec![PortRange {
                        first: 22,
                        last: 22,
                    }],
                    negate: false,
                }],
                Action::Accept,
                "x",
            )],
        );
        assert!(certainly_dropped(&[t], &[Hook::Input], &p).is_some());
    }

    #[test]
    fn undecidable_match_is_not_a_cut_and_explicit_drop_names_the_rule() {
        let limited = rule(
            vec![Match::Mark {
                value: 1,
                mask: 1,
                negate: false,
            }],
            Action::Accept,
            "-m mark --mark 0x1 -j ACCEPT",
        );
        let t = filter_input(Policy::Drop, vec![limited]);
        assert!(
            certainly_dropped(&[t], &[Hook::Input], &ssh_packet(ConnStates::ESTABLISHED)).is_none()
        );
        let drop = rule(
            vec![Match::InInterface {
                iface: Iface {
                    name: "eth".into(),
                    wildcard: true,
                },
                negate: false,
            }],
            Action::Drop,
            "-i eth+ -j DROP",
        );
        let t = filter_input(Policy::Accept, vec![drop]);
        let cut =
            certainly_dropped(&[t], &[Hook::Input], &ssh_packet(ConnStates::ESTABLISHED)).unwrap();
        assert_eq!(cut.rule, Some(1));
        assert!(cut.to_string().contains("-i eth+ -j DROP"), "{cut}");
    }

    #[test]
    fn jumps_returns_and_unknown_interfaces() {
        let mut t = filter_input(
            Policy::Drop,
            vec![rule(vec![], Action::Jump("ZONE".into()), "-j ZONE")],
        );
        t.chains.push(crate::ruleset::Chain {
            name: "ZONE".into(),
            base: None,
            policy_counters: Default::default(),
            rules: vec![rule(
                vec![Match::InInterface {
                    iface: Iface {
                        name: "eth0".into(),
                        wildcard: false,
                    },
                    negate: false,
                }],
                Action::Accept,
                "-i eth0 -j ACCEPT",
            )],
        });
        let mut p = ssh_packet(ConnStates::ESTABLISHED);
        assert!(certainly_dropped(std::slice::from_ref(&t), &[Hook::Input], &p).is_none());
        p.in_iface = Some("eth1".into());
        assert!(certainly_dropped(std::slice::from_ref(&t), &[Hook::Input], &p).is_some());
        p.in_iface = None;
        assert!(certainly_dropped(&[t], &[Hook::Input], &p).is_none());
    }

    #[test]
    fn nat_tables_are_skipped_for_established_packets() {
        let mut nat = Table::new(Family::Ipv4, Stage::Nat);
        nat.chains[0].base = Some((Hook::Prerouting, Policy::Drop));
        let p = ssh_packet(ConnStates::ESTABLISHED);
        assert!(certainly_dropped(std::slice::from_ref(&nat), &[Hook::Prerouting], &p).is_none());
        let p = ssh_packet(ConnStates::NEW);
        assert!(certainly_dropped(&[nat], &[Hook::Prerouting], &p).is_some());
    }
}
