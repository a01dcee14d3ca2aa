//! Shared by the netlink driver's kernel tests: pairs of throwaway network
//! namespaces (one written by the netlink driver, one by `nft`), what the
//! kernel holds in each, and a corpus of model rules.
//!
//! Nothing here touches the host's namespace: every socket and every `nft`
//! runs on a thread that has entered a namespace the test created, and the
//! namespaces are deleted on drop.

#![allow(dead_code)]

mod anon_sets;
mod dyn_sets;

use std::os::fd::AsRawFd;

use moat_backend::{Backend, NetlinkDriver, NftCli};
use moat_model::{
    Action, AddrTypes, Chain, Compare, ConnCounter, ConnStates, ConntrackAddr, Counters,
    CtDirection, Family, Hook, Iface, LogFlags, LogLevel, MarkSet, Match, MssValue, NatSide,
    NatTarget, PacketType, Policy, PortRange, Rate, RateUnit, RejectKind, Rule, Stage,
    StatisticMode, Table, TcpFlags, TtlOp,
};
use moat_nft::{ChangeSet, KernelTable};
use moat_testnet::Netns;
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};

/// Two fresh namespaces: `netlink` is written by [`NetlinkDriver`], `nft` by [`NftCli`].
pub struct Pair {
    pub netlink: Netns,
    pub nft: Netns,
}

/// A pair of namespaces, or None (after a message) when not root; with
/// `CI=true` that is a failure.
pub fn pair(role: &str) -> Option<Pair> {
    if !moat_testnet::require_root_or_skip() {
        return None;
    }
    Some(Pair {
        netlink: Netns::new(&format!("{role}-nl")).expect("namespace"),
        nft: Netns::new(&format!("{role}-nft")).expect("namespace"),
    })
}

impl Pair {
    /// Applies `changes` with each driver in its namespace.
    pub fn apply(&self, changes: &ChangeSet) {
        let nl = self.netlink.run(|| NetlinkDriver.apply(changes)).unwrap();
        let nft = self.nft.run(|| NftCli::default().apply(changes)).unwrap();
        nft.unwrap_or_else(|e| panic!("nft refused the change: {e}"));
        nl.unwrap_or_else(|e| panic!("the netlink driver refused the change nft took: {e}"));
    }

    /// Asserts that both namespaces hold the same ruleset: `nft -a list
    /// ruleset` (with handles), every rule's raw netlink attributes, and
    /// every set's raw attributes and elements.
    pub fn assert_same(&self) {
        let text = |ns: &Netns| ns.exec_ok(&["nft", "-a", "list", "ruleset"]).unwrap();
        let (a, b) = (text(&self.netlink), text(&self.nft));
        assert_eq!(
            a, b,
            "nft listings differ (netlink driver first):\n{a}\n--- nft driver:\n{b}"
        );
        for family in [2u8, 10] {
            let (a, b) = (
                raw_rules(&self.netlink, family),
                raw_rules(&self.nft, family),
            );
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x, y, "rule attributes differ in\n{a:#?}\nvs\n{b:#?}");
            }
            let (a, b) = (raw_sets(&self.netlink, family), raw_sets(&self.nft, family));
            assert_eq!(a.len(), b.len(), "set counts differ");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x, y, "sets differ (netlink driver first)");
            }
        }
    }

    /// Reads `family`/`stage` in both namespaces with both readers; asserts
    /// all four agree and returns the table.
    pub fn read(&self, family: Family, stage: Stage) -> Option<KernelTable> {
        let both = |ns: &Netns| {
            ns.run(|| {
                (
                    NetlinkDriver.read(family, stage).unwrap(),
                    NftCli::default().read(family, stage).unwrap(),
                )
            })
            .unwrap()
        };
        let (nl_nl, nl_nft) = both(&self.netlink);
        let (nft_nl, nft_nft) = both(&self.nft);
        assert_eq!(
            nl_nl, nl_nft,
            "the two readers disagree on what the netlink driver wrote"
        );
        assert_eq!(
            nft_nl, nft_nft,
            "the two readers disagree on what nft wrote"
        );
        assert_eq!(nl_nl, nft_nl, "the namespaces differ");
        nl_nl
    }
}

/// One rule as the kernel dumps it: chain, handle, raw expressions, user data.
pub type RawRule = (String, u64, Vec<u8>, Option<Vec<u8>>);

fn attrs(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([data[0], data[1]]));
        let kind = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        if len < 4 || len > data.len() {
            break;
        }
        out.push((kind, &data[4..len]));
        data = &data[((len + 3) & !3).min(data.len())..];
    }
    out
}

/// The payloads (after the nfgenmsg header) of the messages a netlink dump
/// of `msg` (NFT_MSG_*) in `family` answers with; `attrs` go with the request.
/// Call on a thread in the namespace.
fn dump(family: u8, msg: u16, request_attrs: &[(u16, &[u8])]) -> Vec<Vec<u8>> {
    let mut sock = Socket::new(NETLINK_NETFILTER).unwrap();
    sock.bind_auto().unwrap();
    let mut body = Vec::new();
    for (kind, value) in request_attrs {
        let len = 4 + value.len();
        body.extend_from_slice(&u16::try_from(len).unwrap().to_ne_bytes());
        body.extend_from_slice(&kind.to_ne_bytes());
        body.extend_from_slice(value);
        body.resize((body.len() + 3) & !3, 0);
    }
    let mut req = Vec::new();
    req.extend_from_slice(&u32::try_from(20 + body.len()).unwrap().to_ne_bytes());
    req.extend_from_slice(&((10u16 << 8) | msg).to_ne_bytes());
    req.extend_from_slice(&(0x1u16 | 0x300).to_ne_bytes()); // REQUEST | DUMP
    req.extend_from_slice(&1u32.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&[family, 0, 0, 0]);
    req.extend_from_slice(&body);
    sock.send(&req, 0).unwrap();
    let _ = sock.as_raw_fd();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = sock.recv(&mut &mut buf[..], 0).unwrap();
        let mut data = &buf[..n];
        while data.len() >= 16 {
            let len = u32::from_ne_bytes(data[0..4].try_into().unwrap()) as usize;
            let ty = u16::from_ne_bytes([data[4], data[5]]);
            if ty == 3 || ty == 2 {
                return out;
            }
            out.push(data[20..len].to_vec());
            data = &data[((len + 3) & !3).min(data.len())..];
        }
    }
}

/// Every rule of `family` (NFPROTO_*) in the namespace, raw, by a netlink dump.
pub fn raw_rules(ns: &Netns, family: u8) -> Vec<RawRule> {
    ns.run(|| {
        dump(family, 7, &[]) // NFT_MSG_GETRULE
            .iter()
            .map(|msg| {
                let mut rule: RawRule = (String::new(), 0, Vec::new(), None);
                for (kind, value) in attrs(msg) {
                    match kind {
                        2 => {
                            rule.0 = String::from_utf8_lossy(value)
                                .trim_end_matches('\0')
                                .to_string()
                        }
                        3 => rule.1 = u64::from_be_bytes(value.try_into().unwrap()),
                        4 => rule.2 = value.to_vec(),
                        7 => rule.3 = Some(value.to_vec()),
                        _ => {}
                    }
                }
                rule
            })
            .collect()
    })
    .unwrap()
}

/// One set as the kernel dumps it: its attributes but the handle, and its
/// elements' raw attributes, sorted (a hash set dumps them in an order of
/// its own random seed).
pub type RawSet = (Vec<(u16, Vec<u8>)>, Vec<Vec<u8>>);

/// Every set of `family` (NFPROTO_*) in the namespace with its elements, raw.
pub fn raw_sets(ns: &Netns, family: u8) -> Vec<RawSet> {
    ns.run(|| {
        dump(family, 10, &[]) // NFT_MSG_GETSET
            .iter()
            .map(|msg| {
                let set: Vec<(u16, Vec<u8>)> = attrs(msg)
                    .into_iter()
                    .filter(|(kind, _)| *kind != 16) // NFTA_SET_HANDLE
                    .map(|(kind, value)| (kind, value.to_vec()))
                    .collect();
                let named = |kind| set.iter().find(|(k, _)| *k == kind).unwrap().1.clone();
                let (table, name) = (named(1), named(2));
                let mut elements: Vec<Vec<u8>> = dump(family, 13, &[(1, &table), (2, &name)]) // NFT_MSG_GETSETELEM
                    .iter()
                    .flat_map(|msg| attrs(msg))
                    .filter(|(kind, _)| *kind == 3) // NFTA_SET_ELEM_LIST_ELEMENTS
                    .flat_map(|(_, list)| attrs(list))
                    .map(|(_, element)| element.to_vec())
                    .collect();
                elements.sort();
                (set, elements)
            })
            .collect()
    })
    .unwrap()
}

// ------------------------------------------------------------------ corpus

pub fn rule(matches: Vec<Match>, action: Action, source: &str) -> Rule {
    Rule {
        matches,
        action,
        counters: Counters::default(),
        source: Some(source.to_string()),
    }
}

pub fn proto(p: u8) -> Match {
    Match::Protocol {
        proto: p,
        negate: false,
    }
}

pub fn port(first: u16, last: u16) -> Vec<PortRange> {
    vec![PortRange { first, last }]
}

pub fn iface(name: &str, wildcard: bool) -> Iface {
    Iface {
        name: name.into(),
        wildcard,
    }
}

fn log(prefix: Option<&str>, level: u8, flags: LogFlags) -> Action {
    Action::Log {
        prefix: prefix.map(String::from),
        level: LogLevel(level),
        flags,
    }
}

/// Matches and actions of both families, one rule each.
fn common_rules() -> Vec<Rule> {
    let st = |bits| Match::ConnState {
        states: ConnStates(bits),
        negate: false,
    };
    let mut rules = vec![
        rule(
            vec![
                proto(6),
                Match::DestPort {
                    proto: 6,
                    ports: port(22, 22),
                    negate: false,
                },
            ],
            Action::Accept,
            "-p tcp -m tcp --dport 22 -j ACCEPT",
        ),
        rule(
            vec![Match::Protocol {
                proto: 17,
                negate: true,
            }],
            Action::Drop,
            "! -p udp -j DROP",
        ),
        rule(vec![proto(0)], Action::Return, "-p all -j RETURN"),
        rule(
            vec![Match::InInterface {
                iface: iface("eth", true),
                negate: false,
            }],
            Action::Continue,
            "-i eth+",
        ),
        rule(
            vec![
                Match::InInterface {
                    iface: iface("veth", true),
                    negate: true,
                },
                Match::InInterface {
                    iface: iface("lo", false),
                    negate: false,
                },
            ],
            Action::Accept,
            "-i lo",
        ),
        rule(
            vec![Match::OutInterface {
                iface: iface("wan0", false),
                negate: true,
            }],
            Action::Accept,
            "! -o wan0",
        ),
        rule(
            vec![Match::OutInterface {
                iface: iface("e*", false),
                negate: false,
            }],
            Action::Accept,
            "-o e*",
        ),
        rule(
            vec![
                proto(17),
                Match::SourcePort {
                    proto: 17,
                    ports: port(1000, 2000),
                    negate: false,
                },
                Match::DestPort {
                    proto: 17,
                    ports: port(53, 53),
                    negate: true,
                },
            ],
            Action::Accept,
            "udp ranges",
        ),
        rule(
            vec![
                proto(6),
                Match::SourcePort {
                    proto: 6,
                    ports: port(1000, 2000),
                    negate: true,
                },
            ],
            Action::Drop,
            "tcp ! sport range",
        ),
        rule(
            vec![
                proto(6),
                Match::SourcePort {
                    proto: 6,
                    ports: port(22, 22),
                    negate: false,
                },
                Match::DestPort {
                    proto: 6,
                    ports: port(23, 23),
                    negate: false,
                },
            ],
            Action::Accept,
            "merged ports",
        ),
        rule(
            vec![
                proto(6),
                Match::SourcePort {
                    proto: 6,
                    ports: port(22, 22),
                    negate: true,
                },
                Match::DestPort {
                    proto: 6,
                    ports: port(23, 23),
                    negate: true,
                },
            ],
            Action::Accept,
            "merged negated ports",
        ),
        rule(
            vec![Match::DestPort {
                proto: 132,
                ports: port(9, 9),
                negate: false,
            }],
            Action::Accept,
            "sctp port alone",
        ),
        rule(
            vec![
                proto(6),
                Match::DestPort {
                    proto: 6,
                    ports: vec![
                        PortRange {
                            first: 80,
                            last: 80,
                        },
                        PortRange {
                            first: 81,
                            last: 90,
                        },
                    ],
                    negate: false,
                },
            ],
            Action::Accept,
            "joined list",
        ),
        rule(
            vec![
                proto(6),
                Match::TcpFlags {
                    flags: TcpFlags {
                        mask: 0x17,
                        set: 0x02,
                    },
                    negate: false,
                },
            ],
            Action::Accept,
            "--syn",
        ),
        rule(
            vec![
                proto(6),
                Match::TcpFlags {
                    flags: TcpFlags {
                        mask: 0x3f,
                        set: 0x00,
                    },
                    negate: true,
                },
            ],
            Action::Drop,
            "! flags",
        ),
        rule(
            vec![st(ConnStates::ESTABLISHED | ConnStates::RELATED)],
            Action::Accept,
            "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        ),
        rule(
            vec![Match::ConnState {
                states: ConnStates(ConnStates::NEW),
                negate: true,
            }],
            Action::Drop,
            "! --ctstate NEW",
        ),
        rule(
            vec![st(ConnStates::INVALID | ConnStates::UNTRACKED)],
            Action::Drop,
            "invalid,untracked",
        ),
        rule(
            vec![st(ConnStates::SNAT | ConnStates::DNAT)],
            Action::Accept,
            "snat,dnat",
        ),
        rule(vec![st(0)], Action::Accept, "no state"),
        rule(
            vec![
                Match::ConnStatus {
                    status: 6,
                    negate: false,
                },
                Match::ConnStatus {
                    status: 0,
                    negate: true,
                },
            ],
            Action::Accept,
            "ctstatus",
        ),
        rule(
            vec![
                Match::ConnDirection {
                    dir: CtDirection::Reply,
                },
                Match::ConnProto {
                    proto: 6,
                    negate: true,
                },
            ],
            Action::Accept,
            "ctdir",
        ),
        rule(
            vec![
                Match::ConnMark {
                    value: 1,
                    mask: 0xff,
                    negate: true,
                },
                Match::ConnMark {
                    value: 7,
                    mask: u32::MAX,
                    negate: false,
                },
            ],
            Action::Accept,
            "connmark",
        ),
        rule(
            vec![Match::Limit {
                rate: Rate {
                    count: 3,
                    unit: RateUnit::Minute,
                },
                burst: 5,
                over: false,
            }],
            Action::Accept,
            "limit",
        ),
        rule(
            vec![Match::Limit {
                rate: Rate {
                    count: 10,
                    unit: RateUnit::Second,
                },
                burst: 1,
                over: true,
            }],
            Action::Drop,
            "limit over",
        ),
        rule(
            vec![
                Match::Limit {
                    rate: Rate {
                        count: 1,
                        unit: RateUnit::Hour,
                    },
                    burst: 2,
                    over: false,
                },
                Match::Limit {
                    rate: Rate {
                        count: 2,
                        unit: RateUnit::Day,
                    },
                    burst: 3,
                    over: false,
                },
            ],
            Action::Accept,
            "limits",
        ),
        rule(
            vec![Match::Comment {
                text: "hello".into(),
            }],
            Action::Accept,
            "-m comment --comment hello",
        ),
        rule(
            vec![
                Match::Mark {
                    value: 1,
                    mask: 0xff,
                    negate: false,
                },
                Match::Mark {
                    value: 5,
                    mask: u32::MAX,
                    negate: true,
                },
            ],
            Action::Accept,
            "marks",
        ),
        rule(
            vec![
                Match::PacketType {
                    kind: PacketType::Broadcast,
                    negate: false,
                },
                Match::PacketType {
                    kind: PacketType::Unicast,
                    negate: true,
                },
            ],
            Action::Drop,
            "pkttype",
        ),
        rule(
            vec![
                Match::Length {
                    min: 100,
                    max: 200,
                    negate: false,
                },
                Match::Length {
                    min: 60,
                    max: 60,
                    negate: true,
                },
            ],
            Action::Drop,
            "length",
        ),
        rule(
            vec![],
            log(Some("drop: "), 4, LogFlags::default()),
            "-j LOG --log-prefix \"drop: \"",
        ),
        rule(
            vec![],
            log(
                None,
                7,
                LogFlags {
                    tcp_sequence: true,
                    tcp_options: true,
                    ip_options: true,
                    uid: true,
                    macdecode: true,
                },
            ),
            "log all",
        ),
        rule(
            vec![],
            log(
                Some("é \"quoted\" 100%"),
                0,
                LogFlags {
                    uid: true,
                    ..LogFlags::default()
                },
            ),
            "log unicode",
        ),
        rule(
            vec![],
            Action::NfLog {
                group: 5,
                prefix: Some("nf".into()),
                snaplen: Some(128),
                threshold: None,
            },
            "nflog",
        ),
        rule(vec![], Action::Jump("USER".into()), "-j USER"),
        rule(
            vec![proto(6)],
            Action::Goto("USER".into()),
            "-p tcp -g USER",
        ),
        rule(
            vec![proto(6)],
            Action::Reject(RejectKind::TcpReset),
            "-p tcp -j REJECT --reject-with tcp-reset",
        ),
        Rule {
            counters: Counters {
                packets: 5,
                bytes: 500,
            },
            ..rule(vec![], Action::Accept, "with counters")
        },
        Rule {
            counters: Counters {
                packets: 7,
                bytes: 0,
            },
            source: None,
            ..rule(vec![], Action::Drop, "")
        },
        rule(
            vec![],
            Action::Accept,
            &format!("a long comment {}", "x".repeat(230)),
        ),
    ];
    rules.push(rule(
        vec![],
        Action::Accept,
        "unicode comment é ✓ \"x\" 'y' \\",
    ));
    rules
}

fn v4_rules() -> Vec<Rule> {
    let realm = rule(
        vec![Match::Realm {
            value: 0x10,
            mask: 0xff,
            negate: true,
        }],
        Action::Drop,
        "-m realm ! --realm 0x10/0xff -j DROP",
    );
    let net = |s: &str| s.parse().unwrap();
    let mut rules = vec![
        rule(
            vec![
                Match::SourceNet {
                    net: net("10.0.0.0/8"),
                    negate: false,
                },
                Match::DestNet {
                    net: net("1.2.3.4/32"),
                    negate: true,
                },
            ],
            Action::Accept,
            "-s 10.0.0.0/8 ! -d 1.2.3.4",
        ),
        rule(
            vec![
                Match::SourceNet {
                    net: net("10.0.0.0/7"),
                    negate: false,
                },
                Match::DestNet {
                    net: net("192.168.1.0/24"),
                    negate: true,
                },
            ],
            Action::Drop,
            "odd prefix",
        ),
        rule(
            vec![
                Match::SourceNet {
                    net: net("172.16.5.0/20"),
                    negate: true,
                },
                Match::DestNet {
                    net: net("0.0.0.0/0"),
                    negate: false,
                },
            ],
            Action::Drop,
            "/20",
        ),
        rule(
            vec![Match::SourceNet {
                net: net("0.0.0.0/0"),
                negate: true,
            }],
            Action::Drop,
            "never",
        ),
        rule(
            vec![
                Match::SourceRange {
                    from: "1.2.3.4".parse().unwrap(),
                    to: "1.2.3.9".parse().unwrap(),
                    negate: false,
                },
                Match::DestRange {
                    from: "5.5.5.5".parse().unwrap(),
                    to: "5.5.5.5".parse().unwrap(),
                    negate: true,
                },
            ],
            Action::Accept,
            "iprange",
        ),
        rule(
            vec![Match::SourceRange {
                from: "1.2.3.4".parse().unwrap(),
                to: "1.2.3.9".parse().unwrap(),
                negate: true,
            }],
            Action::Accept,
            "! iprange",
        ),
        rule(vec![Match::Fragment { negate: false }], Action::Drop, "-f"),
        rule(
            vec![Match::Fragment { negate: true }],
            Action::Accept,
            "! -f",
        ),
        rule(
            vec![
                proto(1),
                Match::Icmp {
                    kind: 8,
                    code: None,
                    negate: false,
                },
            ],
            Action::Accept,
            "ping",
        ),
        rule(
            vec![Match::Icmp {
                kind: 3,
                code: Some(1),
                negate: false,
            }],
            Action::Accept,
            "icmp 3/1",
        ),
        rule(
            vec![
                proto(1),
                Match::Icmp {
                    kind: 255,
                    code: None,
                    negate: false,
                },
            ],
            Action::Accept,
            "icmp any",
        ),
        rule(
            vec![
                proto(1),
                Match::Icmp {
                    kind: 8,
                    code: None,
                    negate: true,
                },
            ],
            Action::Drop,
            "! ping",
        ),
        rule(
            vec![
                proto(1),
                Match::Icmp {
                    kind: 3,
                    code: Some(4),
                    negate: true,
                },
            ],
            Action::Drop,
            "! --icmp-type 3/4",
        ),
    ];
    for code in [0, 1, 2, 3, 9, 10, 13] {
        rules.push(rule(
            vec![],
            Action::Reject(RejectKind::Icmp(code)),
            &format!("-j REJECT icmp {code}"),
        ));
    }
    rules.push(realm);
    rules
}

fn v6_rules() -> Vec<Rule> {
    let net = |s: &str| s.parse().unwrap();
    let mut rules = vec![
        rule(
            vec![
                Match::SourceNet {
                    net: net("2001:db8::/32"),
                    negate: false,
                },
                Match::DestNet {
                    net: net("::1/128"),
                    negate: true,
                },
            ],
            Action::Accept,
            "v6 nets",
        ),
        rule(
            vec![
                Match::SourceNet {
                    net: net("2001:db8:1::/33"),
                    negate: true,
                },
                Match::DestNet {
                    net: net("fe80::/10"),
                    negate: false,
                },
            ],
            Action::Drop,
            "v6 odd prefixes",
        ),
        rule(
            vec![Match::SourceNet {
                net: net("::/0"),
                negate: true,
            }],
            Action::Drop,
            "v6 never",
        ),
        rule(
            vec![Match::SourceRange {
                from: "2001:db8::1".parse().unwrap(),
                to: "2001:db8::ff".parse().unwrap(),
                negate: false,
            }],
            Action::Accept,
            "v6 range",
        ),
        rule(
            vec![
                proto(58),
                Match::Icmpv6 {
                    kind: 128,
                    code: None,
                    negate: false,
                },
            ],
            Action::Accept,
            "ping6",
        ),
        rule(
            vec![Match::Icmpv6 {
                kind: 1,
                code: Some(4),
                negate: false,
            }],
            Action::Accept,
            "icmpv6 1/4",
        ),
        // A negated ICMPv6 type runs in ip6t_icmp6, which nft cannot write.
    ];
    for code in [0, 1, 3, 4] {
        rules.push(rule(
            vec![],
            Action::Reject(RejectKind::Icmpv6(code)),
            &format!("-j REJECT icmpv6 {code}"),
        ));
    }
    rules
}

fn user_chain(name: &str, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        base: None,
        policy_counters: Counters::default(),
        rules,
    }
}

/// The filter table of `family` with every construct, a user chain, and
/// the INPUT policy drop with policy counters.
pub fn filter_table(family: Family) -> Table {
    let mut table = Table::new(family, Stage::Filter);
    let mut rules = common_rules();
    rules.extend(match family {
        Family::Ipv4 => v4_rules(),
        Family::Ipv6 => v6_rules(),
    });
    rules.extend(statistic_rules());
    rules.extend(hop_limit_rules());
    rules.extend(ds_field_rules());
    rules.extend(quota_rules());
    rules.extend(connbytes_rules());
    rules.extend(conntrack_tuple_rules(family));
    // multiport's `--ports`: the port pair in a concatenated interval set.
    for negate in [false, true] {
        rules.push(rule(
            vec![
                proto(6),
                Match::AnyPort {
                    proto: 6,
                    ports: anon_sets::ranges(&[(22, 22), (1000, 2000)]),
                    negate,
                },
            ],
            Action::Accept,
            "-p tcp -m multiport --ports 22,1000:2000 -j ACCEPT",
        ));
    }
    rules.push(rule(
        vec![Match::Cpu {
            cpu: 1,
            negate: true,
        }],
        Action::Drop,
        "-m cpu ! --cpu 1 -j DROP",
    ));
    rules.push(rule(
        vec![Match::DeviceGroup {
            output: false,
            value: 0x10,
            mask: 0xf0,
            negate: true,
        }],
        Action::Drop,
        "-m devgroup ! --src-group 0x10/0xf0 -j DROP",
    ));
    rules.extend(addrtype_rules(family));
    rules.extend(anon_sets::filter_rules(family));
    rules.extend(dyn_sets::filter_rules(family));
    let input = table.chain_mut("INPUT").unwrap();
    input.base = Some((Hook::Input, Policy::Drop));
    input.policy_counters = Counters {
        packets: 3,
        bytes: 180,
    };
    input.rules = rules;
    table.chain_mut("FORWARD").unwrap().rules =
        vec![rule(vec![], Action::Jump("USER".into()), "-j USER")];
    let mut output = addrtype_output_rules(family);
    output.extend(owner_rules());
    table.chain_mut("OUTPUT").unwrap().rules = output;
    table.chains.push(user_chain(
        "USER",
        vec![
            rule(vec![proto(6)], Action::Return, "-p tcp -j RETURN"),
            rule(vec![], Action::Drop, "-j DROP"),
        ],
    ));
    table.chains.push(user_chain("EMPTY", Vec::new()));
    table
}

/// Tables of the other stages with what runs there.
pub fn other_tables(family: Family) -> Vec<Table> {
    let mark = |value, mask| Action::SetMark(MarkSet { value, mask });
    let mut mangle = Table::new(family, Stage::Mangle);
    mangle.chain_mut("PREROUTING").unwrap().rules = vec![
        rule(vec![proto(6)], mark(5, u32::MAX), "--set-mark 5"),
        rule(vec![], mark(0x100, 0xff00), "--set-xmark 0x100/0xff00"),
        rule(vec![], mark(0, 0xff), "--and-mark"),
        rule(vec![], mark(1, 0), "--xor-mark 1"),
        rule(
            vec![],
            Action::SetConnMark(MarkSet {
                value: 7,
                mask: u32::MAX,
            }),
            "connmark set",
        ),
        rule(
            vec![],
            Action::SetConnMark(MarkSet { value: 1, mask: 0 }),
            "connmark xor",
        ),
        rule(
            vec![],
            Action::SaveMark {
                nfmask: 0xff,
                ctmask: u32::MAX,
            },
            "--save-mark",
        ),
        rule(
            vec![],
            Action::RestoreMark {
                nfmask: u32::MAX,
                ctmask: u32::MAX,
            },
            "--restore-mark",
        ),
    ];
    mangle.chain_mut("OUTPUT").unwrap().rules =
        vec![rule(vec![proto(17)], mark(9, u32::MAX), "output mark")];
    mangle.chain_mut("FORWARD").unwrap().rules = target_rules();
    mangle.chain_mut("POSTROUTING").unwrap().rules = vec![
        match family {
            Family::Ipv4 => rule(vec![], Action::Ttl(TtlOp::Set(64)), "--ttl-set 64"),
            Family::Ipv6 => rule(vec![], Action::HopLimit(TtlOp::Set(7)), "--hl-set 7"),
        },
        rule(vec![], Action::Dscp(10), "--set-dscp 10"),
        rule(vec![], Action::Dscp(63), "--set-dscp 63"),
        rule(vec![], Action::Dscp(0), "--set-dscp 0"),
        rule(
            vec![],
            Action::Tos {
                value: 0x11,
                mask: 0xff,
            },
            "--set-tos 0x11",
        ),
        rule(
            vec![],
            Action::Tos {
                value: 0x02,
                mask: 0x03,
            },
            "--set-tos 0x02/0x03",
        ),
        rule(
            vec![],
            Action::Tos {
                value: 0xb8,
                mask: 0xfc,
            },
            "--set-tos 0xb8/0xfc",
        ),
    ];
    let mut raw = Table::new(family, Stage::Raw);
    let reverse_path = |loose, valid_mark, negate| Match::RpFilter {
        loose,
        valid_mark,
        accept_local: false,
        negate,
    };
    let accept_local = |loose, valid_mark, negate| Match::RpFilter {
        loose,
        valid_mark,
        accept_local: true,
        negate,
    };
    raw.chain_mut("PREROUTING").unwrap().rules = vec![
        rule(
            vec![
                proto(17),
                Match::DestPort {
                    proto: 17,
                    ports: port(53, 53),
                    negate: false,
                },
            ],
            Action::NoTrack,
            "-j NOTRACK",
        ),
        rule(
            vec![proto(6)],
            Action::CtZone {
                id: 3,
                dir: Some(CtDirection::Reply),
            },
            "-p tcp -j CT --zone-reply 3",
        ),
        rule(
            vec![reverse_path(false, false, true)],
            Action::Drop,
            "-m rpfilter --invert -j DROP",
        ),
        rule(
            vec![reverse_path(true, true, false)],
            Action::Accept,
            "-m rpfilter --loose --validmark -j ACCEPT",
        ),
        rule(
            vec![accept_local(false, false, false)],
            Action::Accept,
            "-m rpfilter --accept-local -j ACCEPT",
        ),
        rule(
            vec![accept_local(true, true, true)],
            Action::Drop,
            "-m rpfilter --loose --validmark --accept-local --invert -j DROP",
        ),
    ];
    raw.chain_mut("OUTPUT").unwrap().base = Some((Hook::Output, Policy::Drop));
    let mut nat = nat_table(family);
    nat.chain_mut("INPUT").unwrap().rules = netmap_rules(family);
    vec![mangle, raw, nat]
}

/// Rules with the targets that rewrite a packet and go on, for the mangle
/// table's FORWARD.
fn target_rules() -> Vec<Rule> {
    vec![
        rule(
            vec![proto(6)],
            Action::TcpMss(MssValue::Fixed(1400)),
            "--set-mss 1400",
        ),
        rule(
            vec![proto(6)],
            Action::TcpMss(MssValue::PathMtu),
            "--clamp-mss-to-pmtu",
        ),
        rule(vec![], Action::Trace, "-j TRACE"),
        rule(vec![], Action::Classify(0x0001_0002), "--set-class 1:2"),
        rule(vec![], Action::Classify(u32::MAX), "--set-class ffff:ffff"),
    ]
}

/// `--ctorigdst`, `--ctreplsrc` and their ports: a direction's addresses
/// and ports of the tracked connection.
fn conntrack_tuple_rules(family: Family) -> Vec<Rule> {
    let (host, net) = match family {
        Family::Ipv4 => ("198.51.100.7/32", "10.0.0.0/8"),
        Family::Ipv6 => ("2001:db8::7/128", "2001:db8:1::/48"),
    };
    vec![
        rule(
            vec![
                Match::ConnAddr {
                    which: ConntrackAddr::OrigDest,
                    net: host.parse().unwrap(),
                    negate: false,
                },
                Match::ConnAddr {
                    which: ConntrackAddr::ReplySource,
                    net: net.parse().unwrap(),
                    negate: true,
                },
            ],
            Action::Accept,
            "-m conntrack --ctorigdst HOST ! --ctreplsrc NET -j ACCEPT",
        ),
        rule(
            vec![
                Match::ConnProto {
                    proto: 6,
                    negate: false,
                },
                Match::ConnPort {
                    which: ConntrackAddr::OrigSource,
                    range: PortRange {
                        first: 1024,
                        last: 65535,
                    },
                    negate: false,
                },
            ],
            Action::Accept,
            "-m conntrack --ctproto tcp --ctorigsrcport 1024:65535 -j ACCEPT",
        ),
    ]
}

/// NETMAP rules mapping sources, for the nat table's INPUT.
fn netmap_rules(family: Family) -> Vec<Rule> {
    let nets: [&str; 2] = match family {
        Family::Ipv4 => ["10.2.0.0/24", "10.3.0.5/32"],
        Family::Ipv6 => ["2001:db8:1::/64", "2001:db8:2::/127"],
    };
    nets.iter()
        .map(|net| {
            rule(
                vec![],
                Action::Netmap {
                    to: net.parse().unwrap(),
                    side: NatSide::Source,
                },
                "-j NETMAP",
            )
        })
        .collect()
}

/// `-m statistic --mode random --probability p`, negated or not.
pub fn random(probability: f64, negate: bool) -> Match {
    Match::Statistic {
        mode: StatisticMode::Random { probability },
        negate,
    }
}

/// `-m statistic --mode nth --every n --packet p`, negated or not.
pub fn nth(every: u32, packet: u32, negate: bool) -> Match {
    Match::Statistic {
        mode: StatisticMode::Nth { every, packet },
        negate,
    }
}

/// Statistic matches, for the filter table's INPUT.
fn statistic_rules() -> Vec<Rule> {
    vec![
        rule(vec![random(0.25, false)], Action::Accept, "random 0.25"),
        rule(vec![random(0.5, true)], Action::Drop, "! random 0.5"),
        rule(vec![random(1.0, false)], Action::Accept, "random 1"),
        rule(vec![random(0.0, false)], Action::Accept, "random 0"),
        rule(vec![nth(3, 0, false)], Action::Accept, "nth 3/0"),
        rule(vec![nth(3, 2, true)], Action::Drop, "! nth 3/2"),
        rule(
            vec![proto(6), random(0.1, false), nth(2, 1, false)],
            Action::Accept,
            "random and nth",
        ),
    ]
}

/// Address-type bits of the model: `1 << RTN_*`.
pub const UNSPEC: u16 = 1;
pub const UNICAST: u16 = 2;
pub const LOCAL: u16 = 4;
pub const BROADCAST: u16 = 8;
pub const ANYCAST: u16 = 16;
pub const MULTICAST: u16 = 32;
pub const BLACKHOLE: u16 = 64;
pub const UNREACHABLE: u16 = 128;
pub const PROHIBIT: u16 = 256;
pub const THROW: u16 = 512;

/// The interface an address-type match is limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dev {
    Any,
    In,
    Out,
}

/// `-m addrtype`, with each side's `(types, negated)`.
pub fn addrtype(src: Option<(u16, bool)>, dst: Option<(u16, bool)>, dev: Dev) -> Match {
    let types = |spec: Option<(u16, bool)>| spec.map(|(t, n)| (AddrTypes(t), n));
    Match::AddrType {
        src: types(src),
        dst: types(dst),
        limit_iface_in: dev == Dev::In,
        limit_iface_out: dev == Dev::Out,
    }
}

/// Address-type matches for the filter table's INPUT. Each side has one
/// route type (several are a set lookup, see [`anon_sets`]); IPv6 tests
/// some classes on the address itself.
fn addrtype_rules(family: Family) -> Vec<Rule> {
    let mut rules = vec![
        rule(
            vec![addrtype(None, Some((LOCAL, false)), Dev::Any)],
            Action::Accept,
            "-m addrtype --dst-type LOCAL -j ACCEPT",
        ),
        rule(
            vec![addrtype(None, Some((LOCAL, true)), Dev::Any)],
            Action::Drop,
            "-m addrtype ! --dst-type LOCAL -j DROP",
        ),
        rule(
            vec![addrtype(
                Some((LOCAL, false)),
                Some((LOCAL, false)),
                Dev::In,
            )],
            Action::Accept,
            "-m addrtype --src-type LOCAL --dst-type LOCAL --limit-iface-in",
        ),
        rule(
            vec![addrtype(Some((ANYCAST, true)), None, Dev::In)],
            Action::Drop,
            "-m addrtype ! --src-type ANYCAST --limit-iface-in",
        ),
        rule(
            vec![
                proto(6),
                Match::DestPort {
                    proto: 6,
                    ports: port(22, 22),
                    negate: false,
                },
                addrtype(None, Some((LOCAL, false)), Dev::Any),
            ],
            Action::Accept,
            "-p tcp -m tcp --dport 22 -m addrtype --dst-type LOCAL -j ACCEPT",
        ),
    ];
    rules.extend(match family {
        Family::Ipv4 => vec![
            rule(
                vec![addrtype(None, Some((BROADCAST, false)), Dev::Any)],
                Action::Drop,
                "-m addrtype --dst-type BROADCAST -j DROP",
            ),
            rule(
                vec![addrtype(
                    Some((MULTICAST, false)),
                    Some((UNICAST, true)),
                    Dev::In,
                )],
                Action::Drop,
                "-m addrtype --src-type MULTICAST ! --dst-type UNICAST --limit-iface-in",
            ),
            rule(
                vec![addrtype(
                    Some((BLACKHOLE, false)),
                    Some((THROW, true)),
                    Dev::Any,
                )],
                Action::Drop,
                "-m addrtype --src-type BLACKHOLE ! --dst-type THROW",
            ),
            rule(
                vec![addrtype(
                    Some((UNSPEC, true)),
                    Some((PROHIBIT, false)),
                    Dev::Any,
                )],
                Action::Drop,
                "-m addrtype ! --src-type UNSPEC --dst-type PROHIBIT",
            ),
        ],
        Family::Ipv6 => vec![
            rule(
                vec![addrtype(None, Some((MULTICAST, false)), Dev::Any)],
                Action::Drop,
                "-m addrtype --dst-type MULTICAST -j DROP",
            ),
            rule(
                vec![addrtype(Some((MULTICAST, true)), None, Dev::In)],
                Action::Accept,
                "-m addrtype ! --src-type MULTICAST --limit-iface-in",
            ),
            rule(
                vec![addrtype(
                    Some((UNSPEC, false)),
                    Some((MULTICAST | LOCAL, false)),
                    Dev::Any,
                )],
                Action::Accept,
                "-m addrtype --src-type UNSPEC --dst-type MULTICAST,LOCAL",
            ),
            rule(
                vec![addrtype(None, Some((ANYCAST, false)), Dev::In)],
                Action::Accept,
                "-m addrtype --dst-type ANYCAST --limit-iface-in",
            ),
        ],
    });
    rules
}

/// Address-type matches limited to the output interface, for OUTPUT.
fn addrtype_output_rules(family: Family) -> Vec<Rule> {
    let (types, shown) = match family {
        Family::Ipv4 => (BROADCAST, "BROADCAST"),
        Family::Ipv6 => (ANYCAST, "ANYCAST"),
    };
    vec![
        rule(
            vec![addrtype(None, Some((types, false)), Dev::Out)],
            Action::Drop,
            &format!("-m addrtype --dst-type {shown} --limit-iface-out -j DROP"),
        ),
        rule(
            vec![addrtype(Some((LOCAL, true)), None, Dev::Out)],
            Action::Drop,
            "-m addrtype ! --src-type LOCAL --limit-iface-out -j DROP",
        ),
    ]
}

/// Socket-owner matches, for OUTPUT (ranges of ids go through nft).
fn owner_rules() -> Vec<Rule> {
    vec![
        rule(
            vec![
                Match::SocketUid {
                    min: 65534,
                    max: 65534,
                    negate: false,
                },
                Match::SocketGid {
                    min: 0,
                    max: 0,
                    negate: true,
                },
            ],
            Action::Drop,
            "-m owner --uid-owner 65534 ! --gid-owner 0 -j DROP",
        ),
        rule(
            vec![
                Match::SocketUid {
                    min: 1000,
                    max: 2000,
                    negate: true,
                },
                Match::SocketGid {
                    min: 5,
                    max: 10,
                    negate: false,
                },
            ],
            Action::Drop,
            "-m owner ! --uid-owner 1000-2000 --gid-owner 5-10 -j DROP",
        ),
    ]
}

/// Connection counters: each counter and direction, values over 32 bits,
/// single values, open and closed ranges, negated or not.
fn connbytes_rules() -> Vec<Rule> {
    let one = |counter, dir, min, max, negate| {
        rule(
            vec![Match::ConnBytes {
                counter,
                dir,
                min,
                max,
                negate,
            }],
            Action::Accept,
            &format!("-m connbytes {counter:?} {dir:?} {min}:{max} {negate}"),
        )
    };
    vec![
        one(ConnCounter::Bytes, None, 10_000_000_000, u64::MAX, false),
        one(
            ConnCounter::Packets,
            Some(CtDirection::Original),
            10,
            100,
            true,
        ),
        one(
            ConnCounter::AvgPacket,
            Some(CtDirection::Reply),
            7,
            7,
            false,
        ),
        one(ConnCounter::Bytes, None, 100, u64::MAX, true),
        one(
            ConnCounter::Packets,
            Some(CtDirection::Reply),
            2,
            5_000_000_000,
            false,
        ),
    ]
}

/// DS-field tests: `-m dscp`, `-m tos` with and without a mask.
fn ds_field_rules() -> Vec<Rule> {
    [(0xb8, 0xfc, false), (0x08, 0x0c, true), (0x10, 0xff, false)]
        .into_iter()
        .map(|(value, mask, negate)| {
            rule(
                vec![Match::DsField {
                    value,
                    mask,
                    negate,
                }],
                Action::Accept,
                &format!("-m tos --tos {value:#x}/{mask:#x}"),
            )
        })
        .collect()
}

/// Byte quotas, below and above 32 bits, plain and inverted.
fn quota_rules() -> Vec<Rule> {
    [(1000, false), (10_737_418_240, true)]
        .into_iter()
        .map(|(bytes, negate)| {
            rule(
                vec![Match::Quota { bytes, negate }],
                Action::Accept,
                &format!("-m quota --quota {bytes}"),
            )
        })
        .collect()
}

/// TTL / hop-limit comparisons, each operator.
fn hop_limit_rules() -> Vec<Rule> {
    [
        (Compare::Equal, 64),
        (Compare::NotEqual, 1),
        (Compare::Less, 5),
        (Compare::Greater, 200),
    ]
    .into_iter()
    .map(|(cmp, value)| {
        rule(
            vec![Match::HopLimit { cmp, value }],
            Action::Drop,
            &format!("-m ttl {cmp:?} {value}"),
        )
    })
    .collect()
}

/// Address-type matches in each chain of the nat table: port forwards as
/// moat.toml writes them, and the usual masquerade and loopback DNAT.
fn nat_addrtype_rules(nat: &mut Table, family: Family) {
    let (a, _, c) = nat_addresses(family);
    let dnat =
        |addr: &str, p| Action::Dnat(nat_target(Some((addr, addr)), Some((p, p)), false, false));
    let local = |dev| addrtype(None, Some((LOCAL, false)), dev);
    let tcp_dport = |p, m| {
        vec![
            proto(6),
            Match::DestPort {
                proto: 6,
                ports: port(p, p),
                negate: false,
            },
            m,
        ]
    };
    nat.chain_mut("PREROUTING").unwrap().rules.extend([
        rule(
            tcp_dport(2222, local(Dev::Any)),
            dnat(a, 22),
            "-p tcp -m tcp --dport 2222 -m addrtype --dst-type LOCAL -j DNAT",
        ),
        rule(
            tcp_dport(8443, local(Dev::In)),
            dnat(c, 443),
            "-p tcp -m tcp --dport 8443 -m addrtype --dst-type LOCAL --limit-iface-in -j DNAT",
        ),
        rule(
            vec![addrtype(
                Some((LOCAL, true)),
                Some((LOCAL, false)),
                Dev::Any,
            )],
            Action::Return,
            "-m addrtype ! --src-type LOCAL --dst-type LOCAL -j RETURN",
        ),
    ]);
    nat.chain_mut("OUTPUT").unwrap().rules.extend([
        rule(
            tcp_dport(2222, local(Dev::Any)),
            dnat(a, 22),
            "OUTPUT -m addrtype --dst-type LOCAL -j DNAT",
        ),
        rule(
            vec![addrtype(None, Some((LOCAL, true)), Dev::Out)],
            Action::Return,
            "OUTPUT -m addrtype ! --dst-type LOCAL --limit-iface-out -j RETURN",
        ),
    ]);
    nat.chain_mut("POSTROUTING").unwrap().rules.extend([
        rule(
            vec![addrtype(Some((LOCAL, true)), None, Dev::Out)],
            Action::Masquerade {
                ports: None,
                random: false,
                fully_random: false,
            },
            "-m addrtype ! --src-type LOCAL --limit-iface-out -j MASQUERADE",
        ),
        rule(
            vec![addrtype(Some((LOCAL, false)), None, Dev::Any)],
            Action::Snat(nat_target(Some((c, c)), None, false, false)),
            "-m addrtype --src-type LOCAL -j SNAT",
        ),
    ]);
}

/// A translation target: addresses `first`-`last` (the same for one),
/// ports `ports`, flags.
pub fn nat_target(
    addrs: Option<(&str, &str)>,
    ports: Option<(u16, u16)>,
    random: bool,
    persistent: bool,
) -> NatTarget {
    NatTarget {
        addrs: addrs.map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap())),
        ports: ports.map(|(first, last)| PortRange { first, last }),
        random,
        port_base: None,
        fully_random: false,
        persistent,
    }
}

/// Two addresses of `family` for translation targets, and a third.
fn nat_addresses(family: Family) -> (&'static str, &'static str, &'static str) {
    match family {
        Family::Ipv4 => ("10.0.0.1", "10.0.0.9", "192.0.2.7"),
        Family::Ipv6 => ("2001:db8::1", "2001:db8::9", "2001:db8:1::7"),
    }
}

/// The nat table of `family`: every kind of translation iptables writes.
pub fn nat_table(family: Family) -> Table {
    let (a, b, c) = nat_addresses(family);
    let tcp_dport = |p| {
        vec![
            proto(6),
            Match::DestPort {
                proto: 6,
                ports: port(p, p),
                negate: false,
            },
        ]
    };
    let dnat = |t| Action::Dnat(t);
    let mut nat = Table::new(family, Stage::Nat);
    nat.chain_mut("PREROUTING").unwrap().rules = vec![
        rule(tcp_dport(80), Action::Return, "nat return"),
        rule(
            tcp_dport(81),
            dnat(nat_target(Some((a, a)), None, false, false)),
            "DNAT to an address",
        ),
        rule(
            tcp_dport(82),
            dnat(nat_target(Some((a, a)), Some((8080, 8080)), false, false)),
            "DNAT to address:port",
        ),
        rule(
            vec![],
            dnat(nat_target(Some((a, b)), None, false, false)),
            "DNAT to an address range",
        ),
        rule(
            vec![proto(17)],
            dnat(nat_target(Some((a, b)), Some((1000, 2000)), true, true)),
            "DNAT to a range of addresses and ports, random, persistent",
        ),
        rule(
            tcp_dport(83),
            dnat(nat_target(Some((c, c)), Some((80, 90)), false, false)),
            "DNAT to a port range",
        ),
        rule(
            vec![proto(1)],
            dnat(nat_target(Some((a, a)), Some((8080, 8080)), false, false)),
            "DNAT of ICMP to address:port (the query id)",
        ),
        rule(
            tcp_dport(84),
            dnat(nat_target(None, Some((8443, 8443)), false, false)),
            "DNAT to a port",
        ),
        rule(
            vec![proto(6), nth(3, 0, false)],
            dnat(nat_target(Some((a, a)), Some((8080, 8080)), false, false)),
            "nth DNAT",
        ),
        rule(
            vec![proto(6), nth(2, 1, true)],
            dnat(nat_target(Some((b, b)), Some((8080, 8080)), false, false)),
            "! nth DNAT",
        ),
        rule(
            vec![proto(6), random(0.333, false)],
            dnat(nat_target(Some((c, c)), None, false, false)),
            "random DNAT",
        ),
        rule(
            vec![proto(6), random(0.75, true)],
            dnat(nat_target(Some((c, c)), None, false, false)),
            "! random DNAT",
        ),
        rule(
            tcp_dport(85),
            Action::Redirect {
                ports: Some(PortRange {
                    first: 3128,
                    last: 3128,
                }),
                random: false,
            },
            "REDIRECT --to-ports 3128",
        ),
        rule(
            vec![proto(17)],
            Action::Redirect {
                ports: Some(PortRange {
                    first: 5000,
                    last: 5010,
                }),
                random: true,
            },
            "REDIRECT --to-ports 5000-5010 --random",
        ),
        rule(
            vec![],
            Action::Redirect {
                ports: None,
                random: false,
            },
            "REDIRECT",
        ),
        rule(
            vec![],
            Action::Redirect {
                ports: None,
                random: true,
            },
            "REDIRECT --random",
        ),
    ];
    nat.chain_mut("OUTPUT").unwrap().rules = vec![rule(
        tcp_dport(80),
        dnat(nat_target(Some((a, a)), Some((8080, 8080)), false, false)),
        "OUTPUT DNAT",
    )];
    let snat = |t| Action::Snat(t);
    let masquerade = |ports: Option<(u16, u16)>, random| Action::Masquerade {
        ports: ports.map(|(first, last)| PortRange { first, last }),
        random,
        fully_random: false,
    };
    nat.chain_mut("POSTROUTING").unwrap().rules = vec![
        rule(
            vec![],
            snat(nat_target(Some((c, c)), None, false, false)),
            "SNAT --to-source",
        ),
        rule(
            vec![],
            snat(nat_target(Some((a, b)), None, false, true)),
            "SNAT to a range, persistent",
        ),
        rule(
            vec![proto(17)],
            snat(nat_target(Some((a, b)), Some((1024, 65535)), true, false)),
            "SNAT to a range with ports, random",
        ),
        rule(
            vec![proto(6)],
            snat(nat_target(Some((c, c)), Some((2000, 2000)), false, false)),
            "SNAT to address:port",
        ),
        rule(
            vec![],
            snat(nat_target(Some((c, c)), None, true, true)),
            "SNAT --random --persistent",
        ),
        rule(
            vec![Match::OutInterface {
                iface: iface("wan0", false),
                negate: false,
            }],
            masquerade(None, false),
            "-o wan0 -j MASQUERADE",
        ),
        rule(
            vec![proto(6)],
            masquerade(Some((1024, 2047)), false),
            "MASQUERADE --to-ports 1024-2047",
        ),
        rule(
            vec![proto(17)],
            masquerade(Some((5000, 5000)), true),
            "MASQUERADE --to-ports 5000 --random",
        ),
        rule(vec![], masquerade(None, true), "MASQUERADE --random"),
        rule(
            vec![random(0.5, false)],
            masquerade(None, false),
            "random MASQUERADE",
        ),
    ];
    nat_addrtype_rules(&mut nat, family);
    let to = dnat(nat_target(Some((b, b)), Some((443, 443)), false, false));
    nat.chain_mut("PREROUTING")
        .unwrap()
        .rules
        .extend(anon_sets::nat_rules(family, to));
    nat
}

/// A nat table with `n` port forwards in PREROUTING, as a restore of
/// `-A PREROUTING -d PUBLIC -p tcp -m tcp --dport P -j DNAT --to-destination A:P`
/// lines writes them. PUBLIC alternates between two addresses, so no two
/// neighbours are alike and the rules stay plain rules (a run of alike
/// forwards would become a port map).
pub fn port_forward_table(family: Family, n: usize) -> Table {
    let mut table = Table::new(family, Stage::Nat);
    table.chain_mut("PREROUTING").unwrap().rules = (0..n)
        .map(|i| {
            let (b, c) = ((i / 256) % 256, i % 256);
            let p = u16::try_from(1024 + i % 60000).unwrap_or(1024);
            let (public, inside) = match family {
                Family::Ipv4 => (format!("203.0.113.{}/32", 1 + i % 2), format!("10.1.{b}.{c}")),
                Family::Ipv6 => (
                    format!("2001:db8:ffff::{}/128", 1 + i % 2),
                    format!("2001:db8:1::{b:x}:{c:x}"),
                ),
            };
            let shown = match family {
                Family::Ipv4 => format!("{inside}:{p}"),
                Family::Ipv6 => format!("[{inside}]:{p}"),
            };
            rule(
                vec![
                    Match::DestNet {
                        net: public.parse().unwrap(),
                        negate: false,
                    },
                    proto(6),
                    Match::DestPort {
                        proto: 6,
                        ports: port(p, p),
                        negate: false,
                    },
                ],
                Action::Dnat(nat_target(
                    Some((&inside, &inside)),
                    Some((p, p)),
                    false,
                    false,
                )),
                &format!(
                    "-A PREROUTING -d {public} -p tcp -m tcp --dport {p} -j DNAT --to-destination {shown}"
                ),
            )
        })
        .collect();
    table
}

/// A filter table with `n` rules in INPUT, shaped like bench/run.sh's.
pub fn bench_table(family: Family, n: usize) -> Table {
    let mut table = Table::new(family, Stage::Filter);
    table.chain_mut("INPUT").unwrap().rules = (0..n).map(|i| bench_rule(family, i)).collect();
    table
}

/// Rule `i` of the benchmark's restore file (four kinds, in turn).
pub fn bench_rule(family: Family, i: usize) -> Rule {
    let (a, b, c) = ((i / 65536) % 256, (i / 256) % 256, i % 256);
    let p = u16::try_from(1024 + i % 60000).unwrap_or(1024);
    let dport = |proto| Match::DestPort {
        proto,
        ports: port(p, p),
        negate: false,
    };
    let host = match family {
        Family::Ipv4 => format!("10.{a}.{b}.{c}/32"),
        Family::Ipv6 => format!("2001:db8::{a:x}:{b:x}:{c:x}/128"),
    };
    let net = match family {
        Family::Ipv4 => format!("172.{}.{b}.0/24", 16 + a % 16),
        Family::Ipv6 => format!("2001:db8:{b:x}::/48"),
    };
    match i % 4 {
        0 => rule(
            vec![Match::SourceNet {
                net: host.parse().unwrap(),
                negate: false,
            }],
            Action::Drop,
            &format!("-A INPUT -s {host} -j DROP"),
        ),
        1 => rule(
            vec![proto(6), dport(6)],
            Action::Accept,
            &format!("-A INPUT -p tcp -m tcp --dport {p} -j ACCEPT"),
        ),
        2 => rule(
            vec![
                Match::SourceNet {
                    net: net.parse().unwrap(),
                    negate: false,
                },
                proto(17),
                dport(17),
            ],
            Action::Accept,
            &format!("-A INPUT -s {net} -p udp -m udp --dport {p} -j ACCEPT"),
        ),
        _ => rule(
            vec![
                proto(6),
                Match::ConnState {
                    states: ConnStates(ConnStates::NEW),
                    negate: false,
                },
                dport(6),
            ],
            Action::Accept,
            &format!("-A INPUT -p tcp -m conntrack --ctstate NEW -m tcp --dport {p} -j ACCEPT"),
        ),
    }
}
