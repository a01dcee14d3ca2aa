//! Timing of large rulesets (run with `cargo test --release -p moat-lint
//! -- --ignored --nocapture`); prints the time, asserts nothing about it.

use std::time::Instant;

use moat_model::{
    Action, Chain, ConnStates, Counters, Family, Hook, Iface, Match, NatTarget, Policy, PortRange,
    Rule, Stage, StatisticMode, Table,
};

use crate::lint;

fn chain(name: &str, base: Option<(Hook, Policy)>, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        base,
        policy_counters: Counters::default(),
        rules,
    }
}

fn rule(matches: Vec<Match>, action: Action) -> Rule {
    Rule {
        matches,
        ..Rule::new(action)
    }
}

fn src(a: u8, b: u8, c: u8, len: u8) -> Match {
    Match::SourceNet {
        net: ipnet::IpNet::V4(
            ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, a, b, c), len).unwrap_or_default(),
        ),
        negate: false,
    }
}

fn tcp(port: u16) -> Vec<Match> {
    vec![
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
    ]
}

/// About 6,000 rules: 300 zones jumped to from INPUT by source net, each
/// with 18 rules, a FORWARD chain and a NAT table with balanced services.
fn zoned() -> Vec<Table> {
    let zones = 300u16;
    let mut input = vec![rule(
        vec![Match::ConnState {
            states: ConnStates(ConnStates::ESTABLISHED | ConnStates::RELATED),
            negate: false,
        }],
        Action::Accept,
    )];
    let mut chains = Vec::new();
    for z in 0..zones {
        let (a, b) = ((z / 200) as u8, (z % 200) as u8);
        let name = format!("zone{z}");
        input.push(rule(vec![src(a, b, 0, 24)], Action::Jump(name.clone())));
        let mut rules = Vec::new();
        for k in 0..16u16 {
            let mut m = tcp(1000 + (z * 7 + k * 13) % 500);
            m.push(src(a, b, (k * 3) as u8, 32));
            if k % 4 == 0 {
                m.push(Match::InInterface {
                    iface: Iface {
                        name: format!("eth{}", k % 3),
                        wildcard: false,
                    },
                    negate: false,
                });
            }
            rules.push(rule(
                m,
                if k % 5 == 0 {
                    Action::Drop
                } else {
                    Action::Accept
                },
            ));
        }
        rules.push(rule(tcp(22), Action::Accept));
        rules.push(rule(vec![], Action::Drop));
        chains.push(chain(&name, None, rules));
    }
    let mut filter = vec![
        chain("INPUT", Some((Hook::Input, Policy::Drop)), input),
        chain(
            "FORWARD",
            Some((Hook::Forward, Policy::Drop)),
            (0..200u16)
                .map(|i| {
                    let mut m = tcp(2000 + i);
                    m.push(Match::OutInterface {
                        iface: Iface {
                            name: "eth".into(),
                            wildcard: true,
                        },
                        negate: false,
                    });
                    rule(m, Action::Accept)
                })
                .collect(),
        ),
        chain("OUTPUT", Some((Hook::Output, Policy::Accept)), vec![]),
    ];
    filter.extend(chains);
    let nat_rules: Vec<Rule> = (0..100u16)
        .flat_map(|s| {
            (0..3u8).map(move |k| {
                let mut m = tcp(3000 + s);
                if k < 2 {
                    m.push(Match::Statistic {
                        mode: StatisticMode::Random {
                            probability: 1.0 / f64::from(3 - k),
                        },
                        negate: false,
                    });
                }
                rule(
                    m,
                    Action::Dnat(NatTarget {
                        addrs: Some((
                            std::net::Ipv4Addr::new(192, 168, 1, k + 1).into(),
                            std::net::Ipv4Addr::new(192, 168, 1, k + 1).into(),
                        )),
                        ports: None,
                        random: false,
                        port_base: None,
                        fully_random: false,
                        persistent: false,
                    }),
                )
            })
        })
        .collect();
    vec![
        Table {
            family: Family::Ipv4,
            stage: Stage::Filter,
            chains: filter,
        },
        Table {
            family: Family::Ipv4,
            stage: Stage::Nat,
            chains: vec![chain(
                "PREROUTING",
                Some((Hook::Prerouting, Policy::Accept)),
                nat_rules,
            )],
        },
    ]
}

/// 6,000 disjoint rules in one chain, the worst case for pairwise checks.
fn flat() -> Vec<Table> {
    let rules = (0..6000u32)
        .map(|i| {
            let mut m = tcp(1 + (i % 1000) as u16);
            m.push(src((i / 1000) as u8, (i % 256) as u8, 1, 32));
            rule(m, Action::Accept)
        })
        .collect();
    vec![Table {
        family: Family::Ipv4,
        stage: Stage::Filter,
        chains: vec![chain("INPUT", Some((Hook::Input, Policy::Drop)), rules)],
    }]
}

/// 6,000 random overlapping rules (negations, prefixes, states) in one chain.
fn random_flat() -> Vec<Table> {
    let mut rng = crate::random_tests::Rng(7);
    let rules = (0..6000)
        .map(|_| crate::random_tests::random_rule(&mut rng))
        .collect();
    vec![Table {
        family: Family::Ipv4,
        stage: Stage::Filter,
        chains: vec![chain("INPUT", Some((Hook::Input, Policy::Drop)), rules)],
    }]
}

fn time(name: &str, tables: &[Table]) {
    let rules: usize = tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| c.rules.len())
        .sum();
    let chains: usize = tables.iter().map(|t| t.chains.len()).sum();
    let start = Instant::now();
    let findings = lint(tables);
    let elapsed = start.elapsed();
    let mut kinds: Vec<(crate::FindingKind, usize)> = Vec::new();
    for f in &findings {
        match kinds.iter_mut().find(|(k, _)| *k == f.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((f.kind, 1)),
        }
    }
    println!("{name}: {rules} rules in {chains} chains linted in {elapsed:?}; findings: {kinds:?}");
}

#[test]
#[ignore]
fn six_thousand_rules() {
    time("zoned", &zoned());
    time("flat", &flat());
    time("random", &random_flat());
}
