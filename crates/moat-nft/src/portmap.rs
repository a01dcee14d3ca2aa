//! Port maps: a run of port forwards that differ only in their port and
//! target (`-i wan0 -p tcp --dport P -j DNAT --to-destination A[:Q]`, the
//! shape of a NAT router's forwards) compiles into one rule that looks the
//! destination port up in two maps, so a new connection costs one lookup
//! instead of a walk down a list of rules.
//!
//! ```text
//! map portmap.<id> { type inet_service : ipv4_addr; counter;
//!     elements = { 6881 counter packets 4 bytes 240 comment "65536 -A PREROUTING ... --dport 6881 ..." : 192.168.1.100 } }
//! map portmap.<id>.ports { type inet_service : inet_service; elements = { 6881 : 6881 } }
//! chain PREROUTING {
//!     iifname "wan0" meta l4proto tcp dnat ip to tcp dport map @portmap.<id> : tcp dport map @portmap.<id>.ports comment "moat: port map portmap.<id>"
//! }
//! ```
//!
//! The rules stay the user's: each is an element of the address map whose
//! counter is the rule's counter and whose comment holds the rule's place
//! in the run and its source text, from which readers give the rules back
//! one by one. Runs shorter than [`MIN_RUN`] stay plain rules.

use std::collections::HashSet;
use std::net::IpAddr;

use moat_model::{Action, Chain, Family, Match, NatTarget, Rule, Stage};
use nftables::expr::{Expression, Map, NamedExpression, Payload, PayloadField};
use nftables::stmt::{AnonymousCounter, Counter, NATFamily, Statement, NAT};
use serde_json::{json, Value};

use crate::layout::{family_word, table_name};
use crate::rule::{compile_rule, digest, CompileError, CompiledRule, RuleContext};

/// Prefix of the address maps of port maps (the port maps add `.ports`).
pub const PORTMAP_PREFIX: &str = "portmap.";
/// The shortest run of port forwards that becomes a port map.
pub const MIN_RUN: usize = 8;
/// The comment of a port map's rule, before the map's name.
const MARKER: &str = "moat: port map ";
/// Longest rule source an element comment holds (the kernel keeps 256 bytes).
const MAX_SOURCE: usize = 200;
/// The gap between the order keys of a new map's rules.
pub const ORDER_STEP: u32 = 1 << 16;

/// One port forward of a port map.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The destination port it matches.
    pub port: u16,
    /// The address it translates to.
    pub addr: IpAddr,
    /// The port it translates to.
    pub to_port: u16,
    /// Its place in the run (increasing; kept while the rule stays).
    pub order: u32,
    /// The user's rule (source text and counters).
    pub rule: Rule,
}

impl Member {
    /// The element comment: order, then source text.
    pub fn comment(&self) -> String {
        format!(
            "{} {}",
            self.order,
            self.rule.source.as_deref().unwrap_or("")
        )
    }
}

/// A run of port forwards compiled as one rule and two maps.
#[derive(Debug, Clone, PartialEq)]
pub struct PortMap {
    /// The address map's name (`portmap.<id>`).
    pub name: String,
    /// The layer-4 protocol of every member.
    pub proto: u8,
    /// The matches every member has besides protocol and port.
    pub common: Vec<Match>,
    /// The forwards, in the user's order.
    pub members: Vec<Member>,
}

/// A chain's rules as they are laid out in the kernel: plain rules and port maps.
#[derive(Debug, Clone, PartialEq)]
pub enum Unit<'a> {
    /// One rule, `index` its 0-based place in the chain.
    Rule { rule: &'a Rule, index: usize },
    /// A port map holding the rules from `index` on.
    Map { map: PortMap, index: usize },
}

impl Unit<'_> {
    /// The 0-based place of the unit's first rule in the chain.
    pub fn index(&self) -> usize {
        match self {
            Unit::Rule { index, .. } | Unit::Map { index, .. } => *index,
        }
    }
}

/// The comment of port map `name`'s rule.
pub fn marker(name: &str) -> String {
    format!("{MARKER}{name}")
}

/// The port map a rule's comment names, if it is a port map's rule.
pub fn map_of(comment: &str) -> Option<&str> {
    comment
        .strip_prefix(MARKER)
        .filter(|n| n.starts_with(PORTMAP_PREFIX))
}

/// The name of the port map that goes with address map `name`.
pub fn ports_map(name: &str) -> String {
    format!("{name}.ports")
}

/// Splits an element comment into order and source.
pub fn parse_comment(comment: &str) -> Option<(u32, &str)> {
    let (order, source) = comment.split_once(' ')?;
    Some((order.parse().ok()?, source))
}

/// What groups a forward with others: its protocol and other matches.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    proto: u8,
    common: Vec<Match>,
}

/// A rule that can join a port map: its key and its forward.
fn forward(rule: &Rule) -> Option<(Key, u16, IpAddr, u16)> {
    let Action::Dnat(NatTarget {
        addrs: Some((addr, last)),
        ports,
        port_base: None,
        random: false,
        fully_random: false,
        persistent: false,
    }) = &rule.action
    else {
        return None;
    };
    if addr != last || rule.source.as_ref().is_none_or(|s| s.len() > MAX_SOURCE) {
        return None;
    }
    let (mut proto, mut port) = (None, None);
    let mut common = Vec::new();
    for m in &rule.matches {
        match m {
            Match::Protocol {
                proto: p @ (6 | 17),
                negate: false,
            } if proto.is_none() => proto = Some(*p),
            Match::DestPort {
                ports,
                negate: false,
                ..
            } if port.is_none() && ports.len() == 1 && ports[0].first == ports[0].last => {
                port = Some(ports[0].first)
            }
            Match::InInterface { .. }
            | Match::OutInterface { .. }
            | Match::SourceNet { .. }
            | Match::DestNet { .. }
            | Match::SourceRange { .. }
            | Match::DestRange { .. }
            | Match::AddrType { .. } => common.push(m.clone()),
            // A comment matches every packet; the rule's source keeps it.
            Match::Comment { .. } => {}
            _ => return None,
        }
    }
    let (proto, port) = (proto?, port?);
    let to_port = match ports {
        None => port,
        Some(r) if r.first == r.last => r.first,
        Some(_) => return None,
    };
    Some((Key { proto, common }, port, *addr, to_port))
}

/// Whether `rule` is a port forward that can join a port map (in a nat table).
pub fn is_port_forward(rule: &Rule) -> bool {
    forward(rule).is_some()
}

/// Lays `chain` out as it goes into the kernel: runs of at least
/// [`MIN_RUN`] alike port forwards (distinct ports) of a nat table become
/// port maps, named from the chain, their key and their place among the
/// chain's maps of that key; every other rule stays a rule.
pub fn units(chain: &Chain, stage: Stage) -> Vec<Unit<'_>> {
    let rules = &chain.rules;
    let mut out = Vec::with_capacity(rules.len());
    let mut seen_keys: Vec<String> = Vec::new();
    let mut i = 0;
    while i < rules.len() {
        let run = if stage == Stage::Nat {
            run_at(rules, i)
        } else {
            None
        };
        match run {
            Some((key, members)) if members.len() >= MIN_RUN => {
                let key_text = serde_json::to_string(&(&chain.name, key.proto, &key.common))
                    .unwrap_or_default();
                let occurrence = seen_keys.iter().filter(|k| **k == key_text).count();
                seen_keys.push(key_text.clone());
                let name = format!(
                    "{PORTMAP_PREFIX}{}",
                    digest(&format!("{key_text}\n{occurrence}"))
                );
                let len = members.len();
                out.push(Unit::Map {
                    map: PortMap {
                        name,
                        proto: key.proto,
                        common: key.common,
                        members,
                    },
                    index: i,
                });
                i += len;
            }
            _ => {
                out.push(Unit::Rule {
                    rule: &rules[i],
                    index: i,
                });
                i += 1;
            }
        }
    }
    out
}

/// The longest run of alike forwards with distinct ports starting at `start`.
fn run_at(rules: &[Rule], start: usize) -> Option<(Key, Vec<Member>)> {
    let (key, ..) = forward(&rules[start])?;
    let mut ports = HashSet::new();
    let mut members = Vec::new();
    for rule in &rules[start..] {
        match forward(rule) {
            Some((k, port, addr, to_port)) if k == key && ports.insert(port) => {
                members.push(Member {
                    port,
                    addr,
                    to_port,
                    order: ORDER_STEP * (members.len() as u32 + 1),
                    rule: rule.clone(),
                })
            }
            _ => break,
        }
    }
    Some((key, members))
}

fn proto_name(proto: u8) -> &'static str {
    if proto == 17 {
        "udp"
    } else {
        "tcp"
    }
}

fn map_lookup(proto: u8, map: String) -> Expression<'static> {
    Expression::Named(NamedExpression::Map(Box::new(Map {
        key: Expression::Named(NamedExpression::Payload(Payload::PayloadField(
            PayloadField {
                protocol: proto_name(proto).into(),
                field: "dport".into(),
            },
        ))),
        data: Expression::String(format!("@{map}").into()),
    })))
}

/// The statements of a port map's rule in chain `chain`: its common
/// matches and protocol, then `dnat to <port> map @addresses : <port> map @ports`.
pub fn compile(
    map: &PortMap,
    chain: &str,
    ctx: &RuleContext,
) -> Result<CompiledRule, CompileError> {
    let mut matches = map.common.clone();
    matches.push(Match::Protocol {
        proto: map.proto,
        negate: false,
    });
    let mut compiled = compile_rule(
        &Rule {
            matches,
            ..Rule::new(Action::Continue)
        },
        chain,
        ctx,
    )?;
    compiled.stmts.retain(|s| {
        !matches!(
            s,
            Statement::Counter(Counter::Anonymous(Some(AnonymousCounter { .. })))
        )
    });
    compiled.stmts.push(Statement::DNAT(Some(NAT {
        addr: Some(map_lookup(map.proto, map.name.clone())),
        family: Some(match ctx.family {
            Family::Ipv4 => NATFamily::IP,
            Family::Ipv6 => NATFamily::IP6,
        }),
        port: Some(map_lookup(map.proto, ports_map(&map.name))),
        flags: None,
    })));
    Ok(compiled)
}

/// The nft JSON commands that declare port map `name`'s two maps in
/// `family`'s nat table (no-ops when they exist).
pub fn declare_json(family: Family, name: &str) -> Vec<Value> {
    let (fam, table) = (family_word(family), table_name(Stage::Nat));
    let addr_type = match family {
        Family::Ipv4 => "ipv4_addr",
        Family::Ipv6 => "ipv6_addr",
    };
    vec![
        json!({"add": {"map": {"family": fam, "table": table, "name": name,
            "type": "inet_service", "map": addr_type, "stmt": [{"counter": null}]}}}),
        json!({"add": {"map": {"family": fam, "table": table, "name": ports_map(name),
            "type": "inet_service", "map": "inet_service"}}}),
    ]
}

/// The nft JSON commands that add `members` to port map `name`. New
/// elements' counters start at zero (nft's JSON reader drops the values).
pub fn add_elements_json(family: Family, name: &str, members: &[Member]) -> Vec<Value> {
    if members.is_empty() {
        return Vec::new();
    }
    let (fam, table) = (family_word(family), table_name(Stage::Nat));
    let addrs: Vec<Value> = members
        .iter()
        .map(|m| json!([{"elem": {"val": m.port, "comment": m.comment()}}, m.addr.to_string()]))
        .collect();
    let ports: Vec<Value> = members.iter().map(|m| json!([m.port, m.to_port])).collect();
    vec![
        json!({"add": {"element": {"family": fam, "table": table, "name": name, "elem": addrs}}}),
        json!({"add": {"element": {"family": fam, "table": table, "name": ports_map(name), "elem": ports}}}),
    ]
}

/// The nft JSON commands that remove the elements of `ports` from port map `name`.
pub fn delete_elements_json(family: Family, name: &str, ports: &[u16]) -> Vec<Value> {
    if ports.is_empty() {
        return Vec::new();
    }
    let (fam, table) = (family_word(family), table_name(Stage::Nat));
    [name.to_string(), ports_map(name)]
        .into_iter()
        .map(|map| json!({"delete": {"element": {"family": fam, "table": table, "name": map, "elem": ports}}}))
        .collect()
}

/// The nft JSON commands that delete port map `name`'s maps (after its rule).
pub fn delete_json(family: Family, name: &str) -> Vec<Value> {
    let (fam, table) = (family_word(family), table_name(Stage::Nat));
    [name.to_string(), ports_map(name)]
        .into_iter()
        .map(|map| json!({"delete": {"map": {"family": fam, "table": table, "name": map}}}))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use moat_model::{Iface, PortRange};

    /// `-i wan0 -p PROTO --dport PORT -j DNAT --to-destination 10.0.0.1:TO`.
    pub(crate) fn forward_rule(proto: u8, port: u16, to: u16) -> Rule {
        Rule {
            matches: vec![
                Match::InInterface {
                    iface: Iface {
                        name: "wan0".into(),
                        wildcard: false,
                    },
                    negate: false,
                },
                Match::Protocol {
                    proto,
                    negate: false,
                },
                Match::DestPort {
                    proto,
                    ports: vec![PortRange {
                        first: port,
                        last: port,
                    }],
                    negate: false,
                },
            ],
            action: Action::Dnat(NatTarget {
                addrs: Some(("10.0.0.1".parse().unwrap(), "10.0.0.1".parse().unwrap())),
                ports: Some(PortRange {
                    first: to,
                    last: to,
                }),
                port_base: None,
                random: false,
                fully_random: false,
                persistent: false,
            }),
            source: Some(format!(
                "-i wan0 -p {proto} --dport {port} -j DNAT --to 10.0.0.1:{to}"
            )),
            ..Rule::new(Action::Accept)
        }
    }

    fn chain(rules: Vec<Rule>) -> Chain {
        Chain {
            name: "PREROUTING".into(),
            base: None,
            policy_counters: Default::default(),
            rules,
        }
    }

    fn shape(units: &[Unit]) -> Vec<(char, usize, usize)> {
        units
            .iter()
            .map(|u| match u {
                Unit::Rule { index, .. } => ('r', *index, 1),
                Unit::Map { map, index } => ('m', *index, map.members.len()),
            })
            .collect()
    }

    #[test]
    fn long_runs_of_alike_forwards_become_maps() {
        let mut rules: Vec<Rule> = (0..10).map(|i| forward_rule(6, 100 + i, 80)).collect();
        rules.push(forward_rule(17, 53, 53));
        rules.extend((0..3).map(|i| forward_rule(17, 200 + i, 80)));
        rules.extend((0..9).map(|i| forward_rule(6, 300 + i, 80)));
        let c = chain(rules);
        let laid_out = units(&c, Stage::Nat);
        assert_eq!(
            shape(&laid_out),
            [
                ('m', 0, 10),
                ('r', 10, 1),
                ('r', 11, 1),
                ('r', 12, 1),
                ('r', 13, 1),
                ('m', 14, 9)
            ]
        );
        let names: Vec<&str> = laid_out
            .iter()
            .filter_map(|u| match u {
                Unit::Map { map, .. } => Some(map.name.as_str()),
                _ => None,
            })
            .collect();
        assert_ne!(names[0], names[1], "two runs of one key get their own maps");
        assert_eq!(units(&c, Stage::Nat), laid_out, "names are stable");
        assert!(units(&c, Stage::Filter)
            .iter()
            .all(|u| matches!(u, Unit::Rule { .. })));
        let Unit::Map { map, .. } = &laid_out[0] else {
            unreachable!()
        };
        assert_eq!(map.members[3].port, 103);
        assert_eq!(map.members[3].order, 4 * ORDER_STEP);
        assert!(map.members[3]
            .comment()
            .ends_with("--dport 103 -j DNAT --to 10.0.0.1:80"));
    }

    #[test]
    fn duplicates_ranges_and_other_matches_break_a_run() {
        let mut rules: Vec<Rule> = (0..8).map(|i| forward_rule(6, 100 + i, 80)).collect();
        rules[4] = forward_rule(6, 100, 80);
        assert!(units(&chain(rules.clone()), Stage::Nat)
            .iter()
            .all(|u| matches!(u, Unit::Rule { .. })));
        let mut commented = forward_rule(6, 104, 80);
        commented.matches.push(Match::Comment {
            text: "moat: port forward".into(),
        });
        assert_eq!(
            forward(&commented).map(|f| f.0),
            forward(&rules[3]).map(|f| f.0)
        );
        let mut limited = forward_rule(6, 104, 80);
        limited.matches.push(Match::Fragment { negate: false });
        rules[4] = limited;
        assert!(forward(&rules[4]).is_none());
        let mut random = forward_rule(6, 104, 80);
        random.action = Action::Dnat(NatTarget {
            addrs: Some(("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())),
            ports: None,
            random: false,
            port_base: None,
            fully_random: false,
            persistent: false,
        });
        assert!(forward(&random).is_none(), "address ranges stay rules");
    }

    #[test]
    fn comments_read_back() {
        assert_eq!(
            parse_comment("65536 -p tcp -j DNAT"),
            Some((65536, "-p tcp -j DNAT"))
        );
        assert_eq!(parse_comment("x -p"), None);
        assert_eq!(map_of(&marker("portmap.ab")), Some("portmap.ab"));
        assert_eq!(map_of("-A INPUT"), None);
    }
}
