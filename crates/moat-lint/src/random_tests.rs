//! Random rulesets: planted shadowed rules must be found, and a brute-force
//! walk of random packets must never reach a rule reported as never matching
//! (nor change verdicts when a rule reported redundant is removed).

use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};
use moat_model::{
    Action, Chain, ConnStates, Counters, Family, Hook, Iface, Match, Policy, PortRange, Rate,
    RateUnit, RejectKind, Rule, Stage, Table,
};

use crate::{lint, FindingKind};

/// A small deterministic generator (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const NETS: [&str; 9] = [
    "10.0.0.0/8",
    "10.0.0.0/9",
    "10.128.0.0/9",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.2.3/32",
    "10.200.0.0/16",
    "192.168.1.0/24",
    "0.0.0.0/1",
];
const PORTS: [(u16, u16); 6] = [
    (22, 22),
    (80, 80),
    (443, 443),
    (20, 25),
    (1000, 2000),
    (0, 1023),
];
const IFACES: [(&str, bool); 5] = [
    ("eth0", false),
    ("eth1", false),
    ("eth", true),
    ("wlan0", false),
    ("ppp", true),
];
const PROTOS: [u8; 3] = [6, 17, 1];

fn net(text: &str) -> IpNet {
    text.parse().unwrap_or(IpNet::V4(Ipv4Net::default()))
}

fn random_match(rng: &mut Rng, proto: Option<u8>) -> Match {
    let negate = rng.chance(20);
    match rng.below(8) {
        0 => Match::SourceNet {
            net: net(rng.pick(&NETS)),
            negate,
        },
        1 => Match::DestNet {
            net: net(rng.pick(&NETS)),
            negate,
        },
        2 => {
            let (name, wildcard) = rng.pick(&IFACES);
            Match::InInterface {
                iface: Iface {
                    name: name.into(),
                    wildcard,
                },
                negate,
            }
        }
        3 => Match::ConnState {
            states: ConnStates((rng.next() % 31 + 1) as u8),
            negate,
        },
        4 => Match::Limit {
            rate: Rate {
                count: 5,
                unit: RateUnit::Minute,
            },
            burst: 5,
            over: false,
        },
        5 => match rng.below(4) {
            0 => Match::Fragment { negate },
            1 => Match::Mark {
                value: rng.pick(&[0u32, 1, 2, 0x100]),
                mask: rng.pick(&[u32::MAX, 0xff, 0xffff_ff00]),
                negate,
            },
            2 => Match::Length {
                min: rng.pick(&[0u16, 60, 100]),
                max: rng.pick(&[80u16, 1500]),
                negate,
            },
            _ => Match::Comment { text: "x".into() },
        },
        _ => match proto {
            Some(p @ (6 | 17)) => {
                let ports = (0..1 + rng.below(2))
                    .map(|_| {
                        let (first, last) = rng.pick(&PORTS);
                        PortRange { first, last }
                    })
                    .collect();
                match rng.below(5) {
                    0 => Match::SourcePort {
                        proto: p,
                        ports,
                        negate,
                    },
                    1 => Match::AnyPort {
                        proto: p,
                        ports,
                        negate,
                    },
                    2 if p == 6 => Match::TcpFlags {
                        flags: moat_model::TcpFlags {
                            mask: rng.pick(&[0x17u8, 0x12, 0x3f]),
                            set: rng.pick(&[0x02u8, 0x10, 0x12]),
                        },
                        negate,
                    },
                    _ => Match::DestPort {
                        proto: p,
                        ports,
                        negate,
                    },
                }
            }
            Some(1) => Match::Icmp {
                kind: rng.pick(&[8u8, 0, 3, 255]),
                code: rng.pick(&[None, Some(0), Some(1)]),
                negate,
            },
            _ => Match::Comment { text: "x".into() },
        },
    }
}

fn random_action(rng: &mut Rng) -> Action {
    match rng.below(8) {
        0 | 1 => Action::Accept,
        2 | 3 => Action::Drop,
        4 => Action::Reject(RejectKind::Icmp(3)),
        5 => Action::Return,
        6 => Action::Log {
            prefix: None,
            level: moat_model::LogLevel(4),
            flags: Default::default(),
        },
        _ => Action::Continue,
    }
}

/// A rule of a few random matches (nets, ports, interfaces, states, limits) and a random action.
pub fn random_rule(rng: &mut Rng) -> Rule {
    let proto = rng.chance(60).then(|| rng.pick(&PROTOS));
    let mut matches = Vec::new();
    if let Some(p) = proto {
        matches.push(Match::Protocol {
            proto: p,
            negate: false,
        });
    }
    for _ in 0..1 + rng.below(3) {
        matches.push(random_match(rng, proto));
    }
    Rule {
        matches,
        ..Rule::new(random_action(rng))
    }
}

fn terminal(a: &Action) -> bool {
    matches!(
        a,
        Action::Accept | Action::Drop | Action::Reject(_) | Action::Return
    )
}

/// Whether the linter decides `m` (marks only with masks of high bits).
fn decidable(m: &Match) -> bool {
    match m {
        Match::Limit { .. } => false,
        Match::Mark { mask, .. } => mask.leading_ones() + mask.trailing_zeros() == 32,
        _ => true,
    }
}

/// A chain with planted rules; returns it and the planted rules' indexes.
fn planted_chain(rng: &mut Rng) -> (Vec<Rule>, Vec<usize>) {
    let mut rules: Vec<Rule> = (0..5 + rng.below(25)).map(|_| random_rule(rng)).collect();
    let mut planted = Vec::new();
    for _ in 0..3 {
        let takers: Vec<usize> = (0..rules.len())
            .filter(|&i| terminal(&rules[i].action) && rules[i].matches.iter().all(decidable))
            .collect();
        if takers.is_empty() {
            break;
        }
        let e = rng.pick(&takers);
        let mut narrow = rules[e].clone();
        let proto = narrow.matches.iter().find_map(|m| match m {
            Match::Protocol { proto, .. } => Some(*proto),
            _ => None,
        });
        narrow.matches.push(random_match(rng, proto));
        narrow.action = random_action(rng);
        let at = e + 1 + rng.below(rules.len() - e);
        for p in &mut planted {
            if *p >= at {
                *p += 1;
            }
        }
        rules.insert(at, narrow);
        planted.push(at);
    }
    let halves = [
        ("10.0.0.0/9", "10.128.0.0/9"),
        ("192.168.0.0/17", "192.168.128.0/17"),
    ];
    let (a, b) = rng.pick(&halves);
    let half = |n: &str| Rule {
        matches: vec![Match::SourceNet {
            net: net(n),
            negate: false,
        }],
        ..Rule::new(Action::Drop)
    };
    let p1 = rng.below(rules.len() + 1);
    rules.insert(p1, half(a));
    let p2 = p1 + 1 + rng.below(rules.len() - p1);
    rules.insert(p2, half(b));
    for p in &mut planted {
        if *p >= p1 {
            *p += 1;
        }
        if *p >= p2 {
            *p += 1;
        }
    }
    let mut inside = random_rule(rng);
    inside.matches.push(Match::SourceNet {
        net: net(if a.starts_with("10.") {
            "10.1.2.0/24"
        } else {
            "192.168.1.0/24"
        }),
        negate: false,
    });
    let at = p2 + 1 + rng.below(rules.len() - p2);
    for p in &mut planted {
        if *p >= at {
            *p += 1;
        }
    }
    rules.insert(at, inside);
    planted.push(at);
    (rules, planted)
}

/// A packet as the kernel sees it at a filter hook.
#[derive(Debug, Clone)]
pub struct Packet {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    /// Source and destination port (TCP/UDP first fragments).
    ports: Option<(u16, u16)>,
    /// TCP flags (TCP first fragments).
    flags: Option<u8>,
    /// ICMP type and code (ICMP first fragments).
    icmp: Option<(u8, u8)>,
    fragment: bool,
    iif: &'static str,
    state: u8,
    /// The packet mark (rules may change it).
    pub mark: u32,
    length: u16,
}

/// A packet drawn from the values the random rules use.
pub fn random_packet(rng: &mut Rng) -> Packet {
    const ADDRS: [[u8; 4]; 8] = [
        [10, 0, 0, 1],
        [10, 1, 2, 3],
        [10, 1, 2, 4],
        [10, 1, 9, 9],
        [10, 128, 0, 5],
        [10, 200, 1, 1],
        [192, 168, 1, 7],
        [172, 16, 0, 1],
    ];
    const PORT_POOL: [u16; 7] = [22, 80, 443, 21, 1500, 8080, 0];
    let proto = rng.pick(&[6u8, 17, 1, 47]);
    let fragment = rng.chance(10);
    let first = !fragment;
    Packet {
        src: Ipv4Addr::from(rng.pick(&ADDRS)),
        dst: Ipv4Addr::from(rng.pick(&ADDRS)),
        proto,
        ports: (first && matches!(proto, 6 | 17))
            .then(|| (rng.pick(&PORT_POOL), rng.pick(&PORT_POOL))),
        flags: (first && proto == 6).then(|| rng.next() as u8),
        icmp: (first && proto == 1).then(|| (rng.pick(&[8u8, 0, 3, 11]), rng.pick(&[0u8, 1, 3]))),
        fragment,
        iif: rng.pick(&["eth0", "eth1", "eth9", "wlan0", "ppp0", "lo"]),
        state: 1 << rng.below(5),
        mark: rng.pick(&[0u32, 1, 2, 0x100, 0x1ff, 0xffff_ff01]),
        length: rng.pick(&[40u16, 60, 80, 90, 1500, 9000]),
    }
}

fn in_ports(ports: &[PortRange], p: u16) -> bool {
    ports.iter().any(|r| r.first <= p && p <= r.last)
}

/// Whether `m` holds for `p` as the kernel decides it; `unknown` is the
/// answer for matches the linter cannot decide.
pub fn holds(m: &Match, p: &Packet, unknown: bool) -> bool {
    let on = |proto: u8| proto == p.proto;
    match m {
        Match::Protocol { proto, negate } => on(*proto) != *negate,
        Match::SourceNet { net, negate } => net.contains(&std::net::IpAddr::V4(p.src)) != *negate,
        Match::DestNet { net, negate } => net.contains(&std::net::IpAddr::V4(p.dst)) != *negate,
        Match::SourcePort {
            proto,
            ports,
            negate,
        } => on(*proto) && p.ports.is_some_and(|(s, _)| in_ports(ports, s) != *negate),
        Match::DestPort {
            proto,
            ports,
            negate,
        } => on(*proto) && p.ports.is_some_and(|(_, d)| in_ports(ports, d) != *negate),
        Match::AnyPort {
            proto,
            ports,
            negate,
        } => {
            on(*proto)
                && p.ports
                    .is_some_and(|(s, d)| (in_ports(ports, s) || in_ports(ports, d)) != *negate)
        }
        Match::TcpFlags { flags, negate } => {
            on(6)
                && p.flags
                    .is_some_and(|f| (f & flags.mask == flags.set) != *negate)
        }
        Match::Icmp { kind, code, negate } => {
            on(1)
                && p.icmp.is_some_and(|(t, c)| {
                    let m = *kind == 255 || (t == *kind && code.is_none_or(|k| k == c));
                    m != *negate
                })
        }
        Match::Fragment { negate } => p.fragment != *negate,
        Match::Mark {
            value,
            mask,
            negate,
        } => (p.mark & mask == *value) != *negate,
        Match::Length { min, max, negate } => (*min <= p.length && p.length <= *max) != *negate,
        Match::InInterface { iface, negate } => {
            let m = if iface.wildcard {
                p.iif.starts_with(&iface.name)
            } else {
                p.iif == iface.name
            };
            m != *negate
        }
        Match::ConnState { states, negate } => (states.0 & p.state != 0) != *negate,
        Match::Comment { .. } => true,
        _ => unknown,
    }
}

/// The rules a packet triggers (non-terminal ones) and the verdict it gets
/// in a base chain with `policy`.
fn walk(
    rules: &[Rule],
    policy: Policy,
    skip: Option<usize>,
    p: &Packet,
    unknown: bool,
) -> (Vec<usize>, Action) {
    let end = match policy {
        Policy::Accept => Action::Accept,
        Policy::Drop => Action::Drop,
    };
    let mut seen = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if Some(i) == skip || !r.matches.iter().all(|m| holds(m, p, unknown)) {
            continue;
        }
        if r.action == Action::Return {
            return (seen, end);
        }
        if terminal(&r.action) {
            return (seen, r.action.clone());
        }
        seen.push(i);
    }
    (seen, end)
}

fn table(rules: Vec<Rule>, policy: Policy) -> Table {
    Table {
        family: Family::Ipv4,
        stage: Stage::Filter,
        chains: vec![Chain {
            name: "INPUT".into(),
            base: Some((Hook::Input, policy)),
            policy_counters: Counters::default(),
            rules,
        }],
    }
}

#[test]
fn planted_shadows_are_found_and_no_report_is_false() {
    let mut rng = Rng(0x5eed);
    let (mut planted_total, mut dead_total, mut redundant_total) = (0, 0, 0);
    for round in 0..300 {
        let (rules, planted) = planted_chain(&mut rng);
        let policy = if rng.chance(50) {
            Policy::Accept
        } else {
            Policy::Drop
        };
        let t = table(rules.clone(), policy);
        let findings = lint(std::slice::from_ref(&t));
        let dead: Vec<usize> = findings
            .iter()
            .filter(|f| {
                matches!(
                    f.kind,
                    FindingKind::Shadowed | FindingKind::Conflicting | FindingKind::Impossible
                )
            })
            .map(|f| f.rule - 1)
            .collect();
        let redundant: Vec<usize> = findings
            .iter()
            .filter(|f| f.kind == FindingKind::Redundant)
            .map(|f| f.rule - 1)
            .collect();
        for p in &planted {
            assert!(
                dead.contains(p),
                "round {round}: planted rule {} not found in {rules:#?}\n{findings:#?}",
                p + 1
            );
        }
        planted_total += planted.len();
        dead_total += dead.len();
        redundant_total += redundant.len();
        for _ in 0..2000 {
            let packet = random_packet(&mut rng);
            for (i, r) in rules.iter().enumerate() {
                if !r.matches.iter().all(|m| holds(m, &packet, true)) {
                    continue;
                }
                assert!(
                    !dead.contains(&i),
                    "round {round}: rule {} reported as never matching, but {packet:?} reaches it\n{rules:#?}",
                    i + 1
                );
                if terminal(&r.action) && r.matches.iter().all(|m| holds(m, &packet, false)) {
                    break;
                }
            }
            for &i in &redundant {
                for unknown in [false, true] {
                    assert_eq!(
                        walk(&rules, policy, None, &packet, unknown),
                        walk(&rules, policy, Some(i), &packet, unknown),
                        "round {round}: rule {} reported redundant, but {packet:?} differs without it\n{rules:#?}",
                        i + 1
                    );
                }
            }
        }
    }
    eprintln!("planted {planted_total}, never matching {dead_total}, redundant {redundant_total}");
    assert!(planted_total >= 300 && dead_total >= planted_total && redundant_total > 0);
}
