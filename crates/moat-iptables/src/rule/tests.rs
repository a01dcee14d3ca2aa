//! Tests of the rule API as a whole: parsing, warnings, lowering, listing, option arity.

use moat_model::{
    Action, ConnCounter, ConnStates, CtDirection, Family, Iface, LogLevel, MarkSet, Match,
    NatTarget, PortRange, Rate, RateUnit, RejectKind, StatisticMode, TcpFlags,
};

use super::*;

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn spec(s: &str) -> RuleSpec {
    RuleSpec::parse(&words(s), Family::Ipv4)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .0
}

fn spec6(s: &str) -> RuleSpec {
    RuleSpec::parse(&words(s), Family::Ipv6)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .0
}

fn model(s: &str) -> moat_model::Rule {
    spec(s)
        .to_model(Family::Ipv4)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn error(s: &str) -> String {
    match RuleSpec::parse(&words(s), Family::Ipv4) {
        Ok((r, _)) => panic!("{s} was accepted as {}", r.to_args()),
        Err(e) => e.message,
    }
}

#[test]
fn canonical_words_follow_iptables() {
    assert_eq!(
        spec("-p tcp --dport 22 -j ACCEPT").to_args(),
        "-p tcp -m tcp --dport 22 -j ACCEPT"
    );
    assert_eq!(
        spec("-d 192.168.1.100 -i eth0 -o eth1 -p tcp --dport 6881 -m conntrack --ctstate NEW -j ACCEPT").to_args(),
        "-d 192.168.1.100/32 -i eth0 -o eth1 -p tcp -m tcp --dport 6881 -m conntrack --ctstate NEW -j ACCEPT"
    );
    assert_eq!(
        spec("-j REJECT").to_args(),
        "-j REJECT --reject-with icmp-port-unreachable"
    );
    assert_eq!(
        spec6("-j REJECT").to_args(),
        "-j REJECT --reject-with icmp6-port-unreachable"
    );
    assert_eq!(
        spec("-p tcp --syn").to_args(),
        "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"
    );
    assert_eq!(
        spec("-m state --state ESTABLISHED,RELATED").to_args(),
        "-m state --state RELATED,ESTABLISHED"
    );
    assert_eq!(
        spec("-p tcp --dport 6881 -j DNAT --to 192.168.1.100:6881").to_args(),
        "-p tcp -m tcp --dport 6881 -j DNAT --to-destination 192.168.1.100:6881"
    );
    assert_eq!(
        spec("-m limit --limit 50/second").to_args(),
        "-m limit --limit 50/sec"
    );
    let (log, _) = RuleSpec::parse(
        &[
            "-j".to_string(),
            "LOG".to_string(),
            "--log-prefix=New incomming: ".to_string(),
        ],
        Family::Ipv4,
    )
    .unwrap();
    assert_eq!(log.to_args(), "-j LOG --log-prefix \"New incomming: \"");
    assert_eq!(spec("").to_args(), "");
    assert_eq!(
        spec("-s 10.1.2.3/255.255.0.0 -f -p 6 -d 1.2.3.4 -i lo").to_args(),
        "-s 10.1.0.0/16 -d 1.2.3.4/32 -i lo -p tcp -f"
    );
}

#[test]
fn different_spellings_of_one_rule_are_equal() {
    let a = spec("-p tcp -m tcp --dport 22 -j ACCEPT");
    assert_eq!(
        a,
        spec("--protocol tcp --destination-port 22 --jump ACCEPT")
    );
    assert_eq!(a, spec("-p 6 --dpo ssh -j ACCEPT"));
    assert_eq!(
        spec("-p tcp --syn"),
        spec("-p tcp --tcp-flags FIN,SYN,RST,ACK SYN")
    );
    assert_eq!(spec("-s 10.1.2.3/8"), spec("-s 10.0.0.0/255.0.0.0"));
    assert_ne!(a, spec("-p tcp --dport 23 -j ACCEPT"));
}

#[test]
fn old_negation_syntax_is_accepted_with_a_warning() {
    for (old, new, warning) in [
        (
            "-i ! eth0 -j ACCEPT",
            "! -i eth0 -j ACCEPT",
            "`-i ! eth0` is the old negation syntax; write `! -i eth0`",
        ),
        (
            "-o ! eth0",
            "! -o eth0",
            "`-o ! eth0` is the old negation syntax; write `! -o eth0`",
        ),
        (
            "-s ! 1.2.3.4",
            "! -s 1.2.3.4/32",
            "`-s ! 1.2.3.4` is the old negation syntax; write `! -s 1.2.3.4`",
        ),
        (
            "-p ! tcp",
            "! -p tcp",
            "`-p ! tcp` is the old negation syntax; write `! -p tcp`",
        ),
    ] {
        let (s, w) = RuleSpec::parse(&words(old), Family::Ipv4).unwrap();
        assert_eq!(s.to_args(), new);
        assert_eq!(w, vec![Warning::advice(warning)]);
    }
    let (_, w) = RuleSpec::parse(&words("! -i eth0"), Family::Ipv4).unwrap();
    assert!(w.is_empty());
}

#[test]
fn conntrack_masks_that_are_not_a_prefix_keep_only_the_address() {
    let (s, w) = RuleSpec::parse(
        &words("-m conntrack --ctorigsrc 10.1.2.3/255.0.255.0 -j ACCEPT"),
        Family::Ipv4,
    )
    .unwrap();
    assert_eq!(s.to_args(), "-m conntrack --ctorigsrc 10.1.2.3 -j ACCEPT");
    assert_eq!(w.len(), 1);
    assert!(w[0].text.contains("matches 10.1.2.3 exactly"), "{w:?}");
    assert_eq!(
        model("-m conntrack --ctorigsrc 10.1.2.3/255.0.255.0").matches,
        vec![Match::ConnAddr {
            which: moat_model::ConntrackAddr::OrigSource,
            net: "10.1.2.3/32".parse().unwrap(),
            negate: false,
        }]
    );
}

/// The fields of `struct xt_hashlimit_mtinfo3` as Debian's iptables-nft
/// 1.8.9 sends them for the same rule (read from its netlink batch).
#[test]
fn hashlimit_rate_matches_fill_the_kernel_structure_as_iptables_does() {
    let rule = model(
        "-m hashlimit --hashlimit-above 3/hour --hashlimit-burst 7 --hashlimit-name zz3 \
         --hashlimit-rate-match --hashlimit-rate-interval 4 --hashlimit-mode srcip,dstport",
    );
    let [Match::Xt(ext)] = rule.matches.as_slice() else {
        panic!("{:?}", rule.matches)
    };
    assert_eq!((ext.name.as_str(), ext.revision), ("hashlimit", 3));
    let info = &ext.info;
    assert_eq!(info.len(), 312);
    assert_eq!(&info[..4], b"zz3\0");
    let u64_at = |at: usize| u64::from_ne_bytes(info[at..at + 8].try_into().unwrap());
    let u32_at = |at: usize| u32::from_ne_bytes(info[at..at + 4].try_into().unwrap());
    assert_eq!((u64_at(256), u64_at(264)), (333_333, 7), "avg, burst");
    assert_eq!(
        u32_at(272),
        0x56,
        "mode: srcip, dstport, invert, rate match"
    );
    assert_eq!(
        [
            u32_at(276),
            u32_at(280),
            u32_at(284),
            u32_at(288),
            u32_at(292)
        ],
        [0, 0, 1000, 3_600_000, 4],
        "size, max, gc interval, expire, interval"
    );
    assert_eq!((info[296], info[297]), (32, 32), "masks");
}

#[test]
fn long_log_prefixes_are_truncated_with_a_warning() {
    let (s, w) = RuleSpec::parse(
        &words("-j LOG --log-prefix abcdefghijklmnopqrstuvwxyz0123456789"),
        Family::Ipv4,
    )
    .unwrap();
    assert_eq!(
        s.to_args(),
        "-j LOG --log-prefix abcdefghijklmnopqrstuvwxyz012"
    );
    assert!(w[0].text.contains("longer than 29 characters"), "{w:?}");
}

#[test]
fn errors_name_the_problem() {
    assert!(error("-p tcp 8080").contains("did you mean `--dport 8080`?"));
    assert!(error("-m conntract --ctstate NEW")
        .contains("unknown match \"conntract\"; did you mean \"conntrack\"?"));
    assert!(error("-p tcp -p udp").contains("-p given twice"));
    assert!(error("-s 300.1.1.1").contains("300.1.1.1 is not a valid IPv4 address"));
    assert!(error("-p tcp --dport 70000").contains("port 70000 is out of range 0-65535"));
    assert!(error("-m limit --limit 1/fortnight").contains("expected second, minute, hour or day"));
    assert!(error("--dport 22").contains("--dport needs -p tcp, -p udp"));
}

#[test]
fn every_prefix_of_hostile_input_parses_or_fails_cleanly() {
    let input = words(
        "! -s 1.2.3.4/24 -p tcp -m tcp ! --dport 1:2 -m multiport --sports 5,6:7 -m conntrack --ctstate NEW \
         -m limit --limit 3/min -m hashlimit --hashlimit-upto 1/s --hashlimit-name x -m recent --set \
         -m statistic --mode nth --every 2 --packet 1 -j DNAT --to-destination 1.2.3.4:5-6 --random",
    );
    for n in 0..=input.len() {
        for family in [Family::Ipv4, Family::Ipv6] {
            if let Ok((s, _)) = RuleSpec::parse(&input[..n], family) {
                let _ = s.to_model(family);
                let _ = s.listing(false);
            }
        }
    }
    for junk in [
        "",
        "!",
        "-",
        "--",
        "--=",
        "-m",
        "-j",
        "--dport=",
        "-p tcp --dport :",
        "-m set --match-set x",
    ] {
        let _ = RuleSpec::parse(&words(junk), Family::Ipv4);
    }
}

#[test]
fn lowering_uses_model_numbers_and_defaults() {
    let r = model("-p tcp --syn --dport 80 -m state --state ESTABLISHED,RELATED -j REJECT");
    assert_eq!(
        r.matches,
        vec![
            Match::Protocol {
                proto: 6,
                negate: false
            },
            Match::DestPort {
                proto: 6,
                ports: vec![PortRange {
                    first: 80,
                    last: 80
                }],
                negate: false
            },
            Match::TcpFlags {
                flags: TcpFlags {
                    mask: 0x17,
                    set: 0x02
                },
                negate: false
            },
            Match::ConnState {
                states: ConnStates(ConnStates::ESTABLISHED | ConnStates::RELATED),
                negate: false
            },
        ]
    );
    assert_eq!(r.action, Action::Reject(RejectKind::Icmp(3)));
    assert_eq!(r.source.as_deref(), Some("-p tcp -m tcp --dport 80 --tcp-flags FIN,SYN,RST,ACK SYN -m state --state RELATED,ESTABLISHED -j REJECT --reject-with icmp-port-unreachable"));
    let r6 = spec6("-j REJECT").to_model(Family::Ipv6).unwrap();
    assert_eq!(r6.action, Action::Reject(RejectKind::Icmpv6(4)));
    let ct = model("-m conntrack ! --ctstate NEW");
    assert_eq!(
        ct.matches,
        vec![Match::ConnState {
            states: ConnStates(ConnStates::NEW),
            negate: true
        }]
    );
    assert_eq!(model("-p tcp").action, Action::Continue);
}

#[test]
fn lowering_of_targets() {
    let log = model("-j LOG");
    assert!(matches!(
        log.action,
        Action::Log {
            level: LogLevel(4),
            prefix: None,
            ..
        }
    ));
    assert_eq!(
        model("-j MARK --set-mark 5").action,
        Action::SetMark(MarkSet {
            value: 5,
            mask: u32::MAX
        })
    );
    assert_eq!(
        model("-j MARK --set-mark 0x100/0xff").action,
        Action::SetMark(MarkSet {
            value: 0x100,
            mask: 0x1ff
        })
    );
    assert_eq!(
        model("-j MARK --and-mark 0xf").action,
        Action::SetMark(MarkSet {
            value: 0,
            mask: 0xffff_fff0
        })
    );
    assert_eq!(
        model("-j MARK --or-mark 0xf").action,
        Action::SetMark(MarkSet {
            value: 0xf,
            mask: 0xf
        })
    );
    assert_eq!(
        model("-j MARK --xor-mark 0xf").action,
        Action::SetMark(MarkSet {
            value: 0xf,
            mask: 0
        })
    );
    assert_eq!(
        model("-j CONNMARK --restore-mark --nfmask 0xf0 --ctmask 0xf").action,
        Action::RestoreMark {
            nfmask: 0xf0,
            ctmask: 0xf
        }
    );
    assert_eq!(model("-j NOTRACK").action, Action::NoTrack);
    assert_eq!(model("-j CT --notrack").action, Action::NoTrack);
    assert_eq!(
        model("-p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.3:80-81 --persistent").action,
        Action::Dnat(NatTarget {
            addrs: Some(("10.0.0.1".parse().unwrap(), "10.0.0.3".parse().unwrap())),
            ports: Some(PortRange {
                first: 80,
                last: 81
            }),
            port_base: None,
            random: false,
            fully_random: false,
            persistent: true,
        })
    );
    assert_eq!(
        model("-j MASQUERADE").action,
        Action::Masquerade {
            ports: None,
            random: false,
            fully_random: false,
        }
    );
    assert_eq!(model("-g FOO").action, Action::Goto("FOO".into()));
    assert_eq!(model("-j FOO").action, Action::Jump("FOO".into()));
}

#[test]
fn lowering_of_limits_and_statistics() {
    let l = model("-m limit");
    assert_eq!(
        l.matches,
        vec![Match::Limit {
            rate: Rate {
                count: 3,
                unit: RateUnit::Hour
            },
            burst: 5,
            over: false
        }]
    );
    let l = model("-m limit --limit 50/second --limit-burst 150");
    assert_eq!(
        l.matches,
        vec![Match::Limit {
            rate: Rate {
                count: 50,
                unit: RateUnit::Second
            },
            burst: 150,
            over: false
        }]
    );
    let s = model("-m statistic --mode random --probability 0.5");
    assert_eq!(
        s.matches,
        vec![Match::Statistic {
            mode: StatisticMode::Random { probability: 0.5 },
            negate: false
        }]
    );
    let s = model("-m statistic --mode nth --every 3 --packet 1");
    assert_eq!(
        s.matches,
        vec![Match::Statistic {
            mode: StatisticMode::Nth {
                every: 3,
                packet: 1
            },
            negate: false
        }]
    );
    let i = model("-i eth+ ! -o lo");
    assert_eq!(
        i.matches,
        vec![
            Match::InInterface {
                iface: Iface {
                    name: "eth".into(),
                    wildcard: true
                },
                negate: false
            },
            Match::OutInterface {
                iface: Iface {
                    name: "lo".into(),
                    wildcard: false
                },
                negate: true
            },
        ]
    );
}

#[test]
fn what_the_model_cannot_hold_is_refused_at_lowering_and_masks_are_held() {
    // -s/-d take any mask: the masked address is compared.
    assert_eq!(
        model("-s 10.1.2.3/255.0.255.0").matches,
        vec![Match::AddrMask {
            side: moat_model::SetSide::Source,
            addr: "10.0.2.0".parse().unwrap(),
            mask: "255.0.255.0".parse().unwrap(),
            negate: false,
        }]
    );
    // --tcp-option is held as the kernel's xt_tcp.
    let option = model("-p tcp --tcp-option 5").matches;
    assert!(
        matches!(&option[..], [Match::Protocol { .. }, Match::Xt(ext)] if ext.name == "tcp"),
        "{option:?}"
    );
    assert!(spec("-j ACCEPT").to_model(Family::Ipv6).is_err());
}

/// iptables lists recent's `--seconds` as a signed number (`%d`).
#[test]
fn recent_seconds_list_signed() {
    let extra = |text: &str| spec(text).listing(true).extra;
    assert_eq!(
        extra("-m recent --rcheck --seconds 4294967295"),
        " recent: CHECK seconds: -1 name: DEFAULT side: source mask: 255.255.255.255"
    );
    assert_eq!(
        extra("-m recent --rcheck --seconds 60"),
        " recent: CHECK seconds: 60 name: DEFAULT side: source mask: 255.255.255.255"
    );
}

#[test]
fn listing_columns() {
    let rule = spec(
        "-d 192.168.1.100 -i eth0 -o eth1 -p tcp --dport 6881 -m conntrack --ctstate NEW -j ACCEPT",
    );
    assert_eq!(
        rule.listing(true),
        ListingRow {
            target: "ACCEPT".into(),
            prot: "6".into(),
            opt: "--".into(),
            iface_in: "eth0".into(),
            iface_out: "eth1".into(),
            source: "0.0.0.0/0".into(),
            destination: "192.168.1.100".into(),
            extra: " tcp dpt:6881 ctstate NEW".into(),
        }
    );
    let named = spec("-p tcp --dport 22");
    let named = named.listing(false);
    assert_eq!(
        (&*named.prot, &*named.source, named.extra.as_str()),
        ("tcp", "anywhere", " tcp dpt:ssh")
    );
    let neg = spec("! -p tcp ! -s 1.2.3.0/24 ! -f ! -i eth+");
    let neg = neg.listing(true);
    assert_eq!(
        (&*neg.prot, &*neg.opt, &*neg.source, &*neg.iface_in),
        ("!6", "!f", "!1.2.3.0/24", "!eth+")
    );
    // An interface named `any` is shown as named; no interface is `*`,
    // or `any` without -n, as iptables' print_ifaces writes them.
    let any = spec("-i any ! -o any");
    assert_eq!(
        (&*any.listing(true).iface_in, &*any.listing(false).iface_out),
        ("any", "!any")
    );
    let none = spec("-j ACCEPT");
    assert_eq!(
        (
            &*none.listing(true).iface_in,
            &*none.listing(false).iface_out
        ),
        ("*", "any")
    );
    assert_eq!(
        spec("-p tcp -g FOO --dport 22").listing(false).extra,
        "[goto]  tcp dpt:ssh"
    );
    assert_eq!(spec6("-j ACCEPT").listing(true).source, "::/0");
    assert_eq!(
        spec("-m limit --limit 50/second --limit-burst 150")
            .listing(true)
            .extra,
        " limit: avg 50/sec burst 150"
    );
    assert_eq!(
        spec("-j LOG --log-prefix x").listing(true).extra,
        " LOG flags 0 level 4 prefix \"x\""
    );
    assert_eq!(spec("-j NOTRACK").listing(true).target, "CT");
}

#[test]
fn jump_targets_can_be_found_and_renamed() {
    let mut r = spec("-p tcp -j SSH");
    assert_eq!(r.jump_target(), Some("SSH"));
    r.rename_target("OTHER", "X");
    assert_eq!(r.jump_target(), Some("SSH"));
    r.rename_target("SSH", "SSH_IN");
    assert_eq!(r.to_args(), "-p tcp -j SSH_IN");
    let mut g = spec("-g FOO");
    g.rename_target("FOO", "BAR");
    assert_eq!(g.to_args(), "-g BAR");
    assert_eq!(spec("-j ACCEPT").jump_target(), None);
    assert_eq!(spec("-j ACCEPT").target_name(), Some("ACCEPT"));
    assert_eq!(spec("").jump_target(), None);
}

#[test]
fn option_arity_covers_every_rule_option() {
    for (opt, arity) in [
        ("-p", Some(1)),
        ("-f", Some(0)),
        ("-j", Some(1)),
        ("--dport", Some(1)),
        ("--destination-port", Some(1)),
        ("--tcp-flags", Some(2)),
        ("--syn", Some(0)),
        ("--match-set", Some(2)),
        ("--to", Some(1)),
        ("--log-prefix", Some(1)),
        ("--log-uid", Some(0)),
        ("--ctstate", Some(1)),
        ("--state", Some(1)),
        ("--set", Some(0)),
        ("--rsource", Some(0)),
        ("--icmpv6-type", Some(1)),
        ("--limit-iface-in", Some(0)),
        ("--notrack", Some(0)),
        ("--bogus", None),
        ("-A", None),
        ("!", None),
    ] {
        assert_eq!(option_arity(opt), arity, "{opt}");
    }
}

#[test]
fn split_args_reads_back_what_to_args_writes() {
    let r = RuleSpec::parse(
        &[
            "-m",
            "comment",
            "--comment",
            "it's \"quoted\" \\ text",
            "-j",
            "ACCEPT",
        ]
        .map(String::from),
        Family::Ipv4,
    )
    .unwrap()
    .0;
    let words = split_args(&r.to_args()).unwrap();
    assert_eq!(RuleSpec::parse(&words, Family::Ipv4).unwrap().0, r);
}

/// iptables saves a chain name bare, quotes and all (`-j a"b`, `-j "x`):
/// moat's stored text reads it back as that name, while a restore file's
/// quote inside a word still opens a quoted part, as iptables-restore reads it.
#[test]
fn chain_names_with_quotes_read_back_from_stored_text() {
    for name in ["a\"b", "a\"b\"c", "x\\y", "it's", "\"x", "\"y\""] {
        let r = RuleSpec::parse(
            &["-s", "10.0.0.1", "-j", name].map(String::from),
            Family::Ipv4,
        )
        .unwrap()
        .0;
        let text = r.to_args();
        assert_eq!(text, format!("-s 10.0.0.1/32 -j {name}"));
        let words = split_args(&text).unwrap();
        assert_eq!(
            RuleSpec::parse(&words, Family::Ipv4).unwrap().0,
            r,
            "{name}"
        );
    }
    assert_eq!(
        crate::rule::values::SavedWords::all("-j a\"b c\"").map(|w| w.len()),
        Some(2)
    );
}

/// iptables saves interface and recent list names bare, a leading quote
/// too (`-i "ab"`),
/// and an empty month-day list as nothing (`--monthdays  --datestop`):
/// moat's stored text reads each back as the rule it was.
#[test]
fn bare_values_read_back_from_stored_text() {
    let rules: [&[&str]; 5] = [
        &["-i", "\"ab\"", "-j", "ACCEPT"],
        &["-m", "recent", "--rcheck", "--name", "\"x"],
        &["!", "-o", "\""],
        &[
            "-m",
            "physdev",
            "--physdev-in",
            "\"",
            "--physdev-out",
            "\"b\"",
        ],
        &["-m", "time", "--monthdays", "0"],
    ];
    for words in rules {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let r = RuleSpec::parse(&words, Family::Ipv4).unwrap().0;
        let back = split_args(&r.to_args()).unwrap();
        assert_eq!(
            RuleSpec::parse(&back, Family::Ipv4).unwrap().0,
            r,
            "{words:?}"
        );
    }
}

/// A small deterministic fuzzer: random sentences from a vocabulary of options and awkward
/// values must never panic, and whatever parses must round-trip through its canonical form.
#[test]
fn random_rules_never_panic_and_round_trip() {
    const VOCAB: &[&str] = &[
        "!",
        "-p",
        "tcp",
        "udp",
        "icmp",
        "icmpv6",
        "sctp",
        "all",
        "0",
        "-s",
        "-d",
        "1.2.3.4",
        "1.2.3.4/24",
        "::1",
        "2001:db8::/32",
        "10.0.0.0/255.0.255.0",
        "-i",
        "-o",
        "eth+",
        "+",
        "-f",
        "-m",
        "-j",
        "-g",
        "--dport",
        "--sport",
        "22",
        "1:2",
        ":5",
        "65535:",
        "--syn",
        "--tcp-flags",
        "SYN,ACK",
        "NONE",
        "ALL",
        "state",
        "--state",
        "NEW,ESTABLISHED",
        "conntrack",
        "--ctstate",
        "--ctorigsrc",
        "--ctexpire",
        "multiport",
        "--dports",
        "22,80:90",
        "limit",
        "--limit",
        "3/min",
        "--limit-burst",
        "hashlimit",
        "--hashlimit-upto",
        "--hashlimit-name",
        "x",
        "--hashlimit-mode",
        "srcip,dstport",
        "recent",
        "--set",
        "--rcheck",
        "--seconds",
        "--name",
        "statistic",
        "--mode",
        "random",
        "nth",
        "--probability",
        "0.5",
        "--every",
        "--packet",
        "comment",
        "--comment",
        "a \"b\"",
        "mark",
        "connmark",
        "--mark",
        "0x1/0xf",
        "ACCEPT",
        "DROP",
        "REJECT",
        "--reject-with",
        "tcp-reset",
        "LOG",
        "--log-prefix",
        "--log-level",
        "debug",
        "MARK",
        "--set-mark",
        "CONNMARK",
        "--save-mark",
        "--mask",
        "DNAT",
        "SNAT",
        "MASQUERADE",
        "REDIRECT",
        "--to",
        "--to-destination",
        "1.2.3.4:80-90",
        "[::1]:80",
        "--to-ports",
        "80-81",
        "--random",
        "NOTRACK",
        "CT",
        "--notrack",
        "FOO",
        "--icmp-type",
        "echo-request",
        "3/3",
        "iprange",
        "--src-range",
        "1.2.3.4-1.2.3.9",
        "mac",
        "--mac-source",
        "00:11:22:33:44:55",
        "addrtype",
        "--src-type",
        "LOCAL",
        "pkttype",
        "--pkt-type",
        "broadcast",
        "length",
        "--length",
        "set",
        "--match-set",
        "src,dst",
        "connlimit",
        "--connlimit-above",
        "--connlimit-mask",
        "--dport=",
        "--d",
        "--s",
        "-",
        "--",
        "é",
        "-pé",
        "NFLOG",
        "--nflog-group",
        "5",
        "icmp6",
        "--icmpv6-type",
        "tcp",
        "udp",
        "--tcp-option",
        "--dst-range",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut parsed = 0;
    for _ in 0..20_000 {
        let len = (next() % 12) as usize;
        let rule: Vec<String> = (0..len)
            .map(|_| VOCAB[(next() % VOCAB.len() as u64) as usize].to_string())
            .collect();
        for family in [Family::Ipv4, Family::Ipv6] {
            if let Ok((s, _)) = RuleSpec::parse(&rule, family) {
                parsed += 1;
                let text = s.to_args();
                let again = RuleSpec::parse(&split_args(&text).unwrap(), family)
                    .unwrap_or_else(|e| panic!("{rule:?} -> {text:?} does not parse: {e}"))
                    .0;
                assert_eq!(again, s, "{rule:?} -> {text:?}");
                let _ = s.listing(false);
                let _ = s.to_model(family);
            }
        }
    }
    assert!(parsed > 100, "only {parsed} random rules parsed");
}

#[test]
fn lowering_of_header_matches() {
    let e = model("-p tcp -m ecn ! --ecn-tcp-ece --ecn-tcp-cwr --ecn-ip-ect 2");
    assert_eq!(
        e.matches[1..],
        [
            Match::TcpFlags {
                flags: TcpFlags {
                    mask: 0xc0,
                    set: 0x80
                },
                negate: false
            },
            Match::DsField {
                value: 2,
                mask: 3,
                negate: false
            }
        ]
    );
    let d = model("-m dscp ! --dscp-class EF");
    assert_eq!(
        d.matches,
        [Match::DsField {
            value: 0xb8,
            mask: 0xfc,
            negate: true
        }]
    );
    let t = model("-m tos --tos Minimize-Delay");
    assert_eq!(
        t.matches,
        [Match::DsField {
            value: 0x10,
            mask: 0x3f,
            negate: false
        }]
    );
    let c =
        model("-m connbytes ! --connbytes 10:100 --connbytes-dir reply --connbytes-mode avgpkt");
    assert_eq!(
        c.matches,
        [Match::ConnBytes {
            counter: ConnCounter::AvgPacket,
            dir: Some(CtDirection::Reply),
            min: 10,
            max: 100,
            negate: true
        }]
    );
    let q = model("-m quota ! --quota 5");
    assert_eq!(
        q.matches,
        [Match::Quota {
            bytes: 5,
            negate: true
        }]
    );
}

#[test]
fn hashlimit_byte_rates_and_table_sizes_reach_the_model() {
    let m = model(
        "-m hashlimit --hashlimit-upto 1000b/s --hashlimit-burst 5000b --hashlimit-mode srcip \
         --hashlimit-name bytes --hashlimit-htable-max 4294967295 --hashlimit-rate-interval 3",
    );
    let Match::HashLimit {
        rate,
        burst,
        bytes,
        max_keys,
        ..
    } = &m.matches[0]
    else {
        panic!("{m:?}")
    };
    // iptables keeps 992 bytes a second and a burst of six whole rates.
    assert_eq!(rate.count, 992);
    assert_eq!(*burst, 992 * 6);
    assert!(*bytes);
    // The kernel cuts tables to 2^20 entries.
    assert_eq!(*max_keys, Some(1 << 20));
    // Without --hashlimit-rate-match the interval does nothing and is not saved.
    assert!(!spec(
        "-m hashlimit --hashlimit-upto 1/s --hashlimit-name x --hashlimit-rate-interval 3"
    )
    .to_args()
    .contains("interval"));
}

#[test]
fn letters_after_a_packet_rate_are_skipped_with_a_warning() {
    let (s, w) = RuleSpec::parse(&words("-m limit --limit 4kb/s"), Family::Ipv4).unwrap();
    assert_eq!(s.to_args(), "-m limit --limit 4/sec");
    assert_eq!(w.len(), 1);
    assert!(w[0].text.contains("skips \"kb\""), "{w:?}");
    let (_, w) = RuleSpec::parse(&words("-m limit --limit 4/s"), Family::Ipv4).unwrap();
    assert!(w.is_empty());
}

#[test]
fn long_comments_are_cut_like_iptables_with_a_warning() {
    let long = "y".repeat(300);
    let (s, w) = RuleSpec::parse(
        &words(&format!("-m comment --comment {long}")),
        Family::Ipv4,
    )
    .unwrap();
    assert_eq!(
        s.to_args(),
        format!("-m comment --comment {}", "y".repeat(255))
    );
    assert!(w[0].text.contains("300 bytes long"), "{w:?}");
    // A character is never cut in two.
    let accents = "é".repeat(200);
    let (s, _) = RuleSpec::parse(
        &words(&format!("-m comment --comment {accents}")),
        Family::Ipv4,
    )
    .unwrap();
    assert_eq!(
        s.to_args(),
        format!("-m comment --comment \"{}\"", "é".repeat(127))
    );
}

#[test]
fn an_ipv6_extension_header_as_protocol_is_warned_about() {
    let (_, w) = RuleSpec::parse(&words("-p 44 -j DROP"), Family::Ipv6).unwrap();
    assert_eq!(
        w,
        vec![Warning::as_iptables(
            "Warning: never matched protocol: 44. use extension match instead."
        )]
    );
    let (_, w) = RuleSpec::parse(&words("! -p ah"), Family::Ipv6).unwrap();
    assert!(w.is_empty(), "{w:?}");
    let (_, w) = RuleSpec::parse(&words("-p ah"), Family::Ipv4).unwrap();
    assert!(w.is_empty(), "{w:?}");
}
