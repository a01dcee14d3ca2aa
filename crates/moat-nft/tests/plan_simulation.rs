//! The planner against a simulated kernel: random edits of a nat chain full
//! of port forwards (runs growing into port maps and shrinking out of them,
//! rules inserted in the middle of maps, rules swapped, counters zeroed) are planned with
//! `plan_update`, the operations are carried out on a model of what the
//! kernel holds, and the kernel must then hold exactly the user's rules, in
//! order, with the counters of every rule that stayed.

use std::collections::BTreeMap;

use moat_model::{
    Action, Counters, Family, Hook, Iface, Match, NatTarget, Policy, PortRange, Rule, Stage, Table,
};
use moat_nft::portmap::{map_of, marker, parse_comment};
use moat_nft::{
    plan_update, KernelChain, KernelMember, KernelRule, KernelSet, KernelTable, Op, Position,
};

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A forward on `iface` (two interfaces make two keys), or a plain rule.
fn rule(rng: &mut Rng, serial: &mut u32) -> Rule {
    *serial += 1;
    let port = 1000 + (*serial % 5000) as u16;
    if rng.below(10) == 0 {
        return Rule {
            source: Some(format!("-p udp --dport {port} -j ACCEPT #{serial}")),
            ..Rule::new(Action::Accept)
        };
    }
    let iface = if rng.below(6) == 0 { "lan0" } else { "wan0" };
    Rule {
        matches: vec![
            Match::InInterface {
                iface: Iface {
                    name: iface.into(),
                    wildcard: false,
                },
                negate: false,
            },
            Match::Protocol {
                proto: 6,
                negate: false,
            },
            Match::DestPort {
                proto: 6,
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
                first: 80,
                last: 80,
            }),
            port_base: None,
            random: false,
            fully_random: false,
            persistent: false,
        }),
        source: Some(format!(
            "-i {iface} -p tcp --dport {port} -j DNAT #{serial}"
        )),
        counters: Counters {
            packets: u64::from(*serial),
            bytes: 0,
        },
    }
}

/// What the kernel holds: the chain's rules and the port maps' elements.
#[derive(Default)]
struct Kernel {
    rules: Vec<(u32, String, Counters)>,
    maps: BTreeMap<String, BTreeMap<u16, KernelMember>>,
    next_handle: u32,
}

impl Kernel {
    fn table(&self) -> KernelTable {
        let rules = self
            .rules
            .iter()
            .map(|(handle, source, counters)| KernelRule {
                handle: *handle,
                source: Some(source.clone()),
                counters: *counters,
                members: map_of(source)
                    .map(|name| {
                        let mut members: Vec<KernelMember> =
                            self.maps[name].values().cloned().collect();
                        members.sort_by_key(|m| m.order);
                        members
                    })
                    .unwrap_or_default(),
                log_group: None,
                nat_side: None,
                fills: Vec::new(),
                ct_objects: Vec::new(),
            })
            .collect();
        KernelTable {
            family: Family::Ipv4,
            stage: Stage::Nat,
            chains: vec![KernelChain {
                name: "PREROUTING".into(),
                base: Some((Hook::Prerouting, Policy::Accept)),
                policy_counter: Some((1, Counters::default())),
                uses: None,
                rules,
            }],
            sets: self
                .maps
                .keys()
                .map(|name| KernelSet {
                    name: name.clone(),
                    timeout: None,
                })
                .collect(),
            after_conntrack: false,
        }
    }

    /// The user's rules as readers give them back.
    fn user_rules(&self) -> Vec<(String, Counters)> {
        self.table().chains[0]
            .rules
            .iter()
            .flat_map(|r| match map_of(r.source.as_deref().unwrap()) {
                None => vec![(r.source.clone().unwrap(), r.counters)],
                Some(_) => r
                    .members
                    .iter()
                    .map(|m| (m.source.clone(), m.counters))
                    .collect(),
            })
            .collect()
    }

    fn insert(&mut self, position: Position, source: String, counters: Counters) {
        self.next_handle += 1;
        let entry = (self.next_handle, source, counters);
        match position {
            Position::Append => self.rules.push(entry),
            Position::First => self.rules.insert(0, entry),
            Position::Before(handle) => {
                let at = self
                    .rules
                    .iter()
                    .position(|r| r.0 == handle)
                    .expect("handle");
                self.rules.insert(at, entry);
            }
        }
    }

    fn carry_out(&mut self, ops: Vec<Op>) {
        for op in ops {
            match op {
                Op::AddRule { rule, position, .. } => {
                    self.insert(position, rule.source.unwrap(), rule.counters)
                }
                Op::ReplaceRule { handle, rule, .. } => {
                    let r = self
                        .rules
                        .iter_mut()
                        .find(|r| r.0 == handle)
                        .expect("handle");
                    assert!(
                        map_of(&r.1).is_none(),
                        "a port map's rule is never replaced"
                    );
                    *r = (handle, rule.source.unwrap(), rule.counters);
                }
                Op::DeleteRule { handle, .. } => self.rules.retain(|r| r.0 != handle),
                Op::FlushChain { .. } => self.rules.clear(),
                Op::PortMapElements {
                    name,
                    create,
                    delete,
                    add,
                } => {
                    if create {
                        assert!(self.maps.insert(name.clone(), BTreeMap::new()).is_none());
                    }
                    let map = self.maps.get_mut(&name).expect("the map exists");
                    for port in delete {
                        assert!(map.remove(&port).is_some(), "deleting a missing element");
                    }
                    for m in add {
                        let (order, source) = parse_comment(&m.comment())
                            .map(|(o, s)| (o, s.to_string()))
                            .unwrap();
                        let old = map.insert(
                            m.port,
                            KernelMember {
                                port: m.port,
                                order,
                                source,
                                counters: m.rule.counters,
                            },
                        );
                        assert!(old.is_none(), "adding an element that exists");
                    }
                }
                Op::AddPortMapRule { map, position, .. } => {
                    assert!(self.maps.contains_key(&map.name));
                    self.insert(position, marker(&map.name), Counters::default());
                }
                Op::DeletePortMap { name } => {
                    assert!(
                        self.rules
                            .iter()
                            .all(|r| map_of(&r.1) != Some(name.as_str())),
                        "a map is deleted after its rule"
                    );
                    self.maps.remove(&name).expect("the map exists");
                }
                other => panic!("unexpected op {other:?}"),
            }
        }
    }
}

fn table(rules: &[Rule]) -> Table {
    let mut t = Table::new(Family::Ipv4, Stage::Nat);
    t.chains.retain(|c| c.name == "PREROUTING");
    t.chains[0].rules = rules.to_vec();
    t
}

#[test]
fn random_edits_leave_the_kernel_holding_the_users_rules() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut serial = 0;
    let mut kernel = Kernel::default();
    let mut rules: Vec<Rule> = Vec::new();
    let mut maps_seen = 0;
    for step in 0..600 {
        match rng.below(10) {
            0..=3 => {
                let at = rng.below(rules.len() + 1);
                let r = rule(&mut rng, &mut serial);
                rules.insert(at, r);
            }
            4..=5 if !rules.is_empty() => {
                let at = rng.below(rules.len());
                rules.remove(at);
            }
            6 if !rules.is_empty() => {
                let at = rng.below(rules.len());
                rules[at] = rule(&mut rng, &mut serial);
            }
            7 if !rules.is_empty() => {
                let at = rng.below(rules.len());
                rules[at].counters = Counters::default();
            }
            8 if !rules.is_empty() => {
                // A restore may list the same rules in another order.
                let (a, b) = (rng.below(rules.len()), rng.below(rules.len()));
                rules.swap(a, b);
            }
            _ => {
                for _ in 0..rng.below(12) {
                    let r = rule(&mut rng, &mut serial);
                    rules.push(r);
                }
            }
        }
        let changes = plan_update(Some(&kernel.table()), &table(&rules)).unwrap();
        kernel.carry_out(changes.tables.into_iter().flat_map(|t| t.ops).collect());
        let want: Vec<(String, Counters)> = rules
            .iter()
            .map(|r| (r.source.clone().unwrap(), r.counters))
            .collect();
        assert_eq!(kernel.user_rules(), want, "after step {step}");
        assert!(
            kernel.maps.len()
                == kernel
                    .rules
                    .iter()
                    .filter(|r| map_of(&r.1).is_some())
                    .count(),
            "no map is left behind (step {step})"
        );
        maps_seen = maps_seen.max(kernel.maps.len());
    }
    assert!(maps_seen >= 2, "the edits built port maps");
    let again = plan_update(Some(&kernel.table()), &table(&rules)).unwrap();
    assert!(again.is_empty(), "nothing left to do: {again:?}");
}
