//! Loads compiled rules into the kernel, inside a throw-away network
//! namespace, and checks what nft lists back.
//!
//! `every_variant_loads_and_lists_natively` covers every match and action
//! variant (and their options, in both families) in a suitable hook.
//! `packets_match_like_iptables` sends packets through rules compiled by
//! moat and through the same rules in legacy iptables, and compares which
//! packets matched.
//!
//! Both need root, `ip` and `nft` (and `iptables-legacy` for the second);
//! they print why and pass when those are missing, unless `CI=true`, where
//! they fail. nft never runs outside the namespace.

use std::collections::HashSet;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use moat_model::{
    Action, AddrTypes, Compare, ConnCounter, ConnStates, ConntrackAddr, CtDirection, Family, Hook,
    Iface, LimitKey, LogFlags, LogLevel, MarkSet, Match, MssValue, NatSide, NatTarget, PacketType,
    PortRange, Rate, RateUnit, RejectKind, Rule, SetSide, Stage, StatisticMode, TcpFlags, TtlOp,
};
use moat_nft::layout::{chain_type, nf_family, nf_hook};
use moat_nft::rule::{compile_rule, finish_json, merge_sets, RuleContext};
use nftables::schema::{self, NfCmd, NfListObject, NfObject, SetFlag, SetType, SetTypeValue};

// ---------------------------------------------------------------- namespace

/// A network namespace that is deleted when dropped.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "moatc{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add");
        assert!(status.success(), "ip netns add {name} failed");
        let ns = Netns { name };
        ns.run(&["ip", "link", "set", "lo", "up"], None);
        ns
    }

    /// Runs `args` inside the namespace, feeding `stdin`.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ip netns exec");
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin.unwrap_or("").as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("wait for ip netns exec")
    }

    /// Runs `args`, failing the test on an error.
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn works(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the test can run here; prints why not, or fails under CI.
fn can_run(tools: &[(&str, &[&str])]) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut missing: Vec<String> = tools
        .iter()
        .filter(|(cmd, args)| !works(cmd, args))
        .map(|(cmd, _)| cmd.to_string())
        .collect();
    if !root {
        missing.push("root".into());
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("needs {}", missing.join(", "));
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("kernel test {why}");
    }
    eprintln!("skipping kernel test: {why}");
    false
}

// ---------------------------------------------------------------- batches

const TABLE: &str = "moat_t";
const CHAIN: &str = "c";

fn chain(family: Family, name: &str, base: Option<(Stage, Hook)>) -> schema::Chain<'static> {
    let (ty, hook, prio) = match base {
        Some((stage, hook)) => (
            Some(chain_type(stage, hook)),
            Some(nf_hook(hook)),
            Some(stage.priority(hook)),
        ),
        None => (None, None, None),
    };
    schema::Chain {
        family: nf_family(family),
        table: TABLE.into(),
        name: name.to_string().into(),
        newname: None,
        handle: None,
        _type: ty,
        hook,
        prio,
        dev: None,
        policy: None,
    }
}

/// The block-list copies a test table offers to `-m set` lookups.
fn lookup_sets(family: Family) -> Vec<schema::Set<'static>> {
    let addr = match family {
        Family::Ipv4 => SetType::Ipv4Addr,
        Family::Ipv6 => SetType::Ipv6Addr,
    };
    let set = |name: &str, set_type| schema::Set {
        family: nf_family(family),
        table: TABLE.into(),
        name: name.to_string().into(),
        handle: None,
        set_type,
        policy: None,
        flags: Some(HashSet::from([SetFlag::Interval])),
        elem: None,
        timeout: None,
        gc_interval: None,
        size: None,
        comment: None,
    };
    vec![set("blocklist.allowed", SetTypeValue::Single(addr))]
}

/// The nft JSON that creates the test table with `rules` in chain `c` at
/// `stage`/`hook` (plus a user chain `target`), or the compile error.
fn batch(family: Family, stage: Stage, hook: Hook, rules: &[Rule]) -> Result<String, String> {
    let ctx = RuleContext {
        family,
        stage,
        table: TABLE.to_string(),
    };
    let mut sets = lookup_sets(family);
    let mut rule_objects = Vec::new();
    for rule in rules {
        let compiled = compile_rule(rule, "INPUT", &ctx).map_err(|e| e.to_string())?;
        for set in compiled.sets {
            merge_sets(&mut sets, set).map_err(|e| e.to_string())?;
        }
        rule_objects.push(schema::Rule {
            family: nf_family(family),
            table: TABLE.into(),
            chain: CHAIN.into(),
            expr: compiled.stmts.into(),
            handle: None,
            index: None,
            comment: None,
        });
    }
    let mut objects = vec![NfListObject::Table(schema::Table {
        family: nf_family(family),
        name: TABLE.into(),
        handle: None,
    })];
    objects.extend(sets.into_iter().map(|s| NfListObject::Set(Box::new(s))));
    objects.push(NfListObject::Chain(chain(family, "target", None)));
    objects.push(NfListObject::Chain(chain(
        family,
        CHAIN,
        Some((stage, hook)),
    )));
    objects.extend(rule_objects.into_iter().map(NfListObject::Rule));
    let objects: Vec<_> = objects
        .into_iter()
        .map(|o| NfObject::CmdObject(NfCmd::Add(o)))
        .collect();
    let mut doc = serde_json::to_value(schema::Nftables {
        objects: objects.into(),
    })
    .map_err(|e| e.to_string())?;
    finish_json(&mut doc).map_err(|e| e.to_string())?;
    Ok(doc.to_string())
}

// ---------------------------------------------------------------- cases

/// One rule, where it goes, and text `nft list ruleset` must show for it.
struct Case {
    family: Family,
    stage: Stage,
    hook: Hook,
    rule: Rule,
    expect: Vec<&'static str>,
}

fn rule(matches: Vec<Match>, action: Action) -> Rule {
    Rule {
        matches,
        ..Rule::new(action)
    }
}

fn tcp() -> Match {
    Match::Protocol {
        proto: 6,
        negate: false,
    }
}

fn ports(list: &[(u16, u16)]) -> Vec<PortRange> {
    list.iter()
        .map(|&(first, last)| PortRange { first, last })
        .collect()
}

/// `list` and ports 100, 102, ..., 130: longer than xt_multiport's 15
/// slots, so the compiler keeps the native anonymous set these tests load
/// with nft (a shorter list is the kernel's xt_multiport, which nft cannot
/// write).
fn long_ports(list: &[(u16, u16)]) -> Vec<PortRange> {
    let padding: Vec<(u16, u16)> = (0..16).map(|i| (100 + 2 * i, 100 + 2 * i)).collect();
    ports(&[list, &padding].concat())
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn iface(name: &str, wildcard: bool) -> Iface {
    Iface {
        name: name.into(),
        wildcard,
    }
}

fn per_second(count: u32) -> Rate {
    Rate {
        count,
        unit: RateUnit::Second,
    }
}

/// Cases of one match in the filter table's INPUT chain, in `family`.
fn input(family: Family, m: Match, expect: &[&'static str]) -> Case {
    at(
        family,
        Stage::Filter,
        Hook::Input,
        rule(vec![m], Action::Continue),
        expect,
    )
}

fn output(family: Family, m: Match, expect: &[&'static str]) -> Case {
    at(
        family,
        Stage::Filter,
        Hook::Output,
        rule(vec![m], Action::Continue),
        expect,
    )
}

fn at(family: Family, stage: Stage, hook: Hook, rule: Rule, expect: &[&'static str]) -> Case {
    Case {
        family,
        stage,
        hook,
        rule,
        expect: expect.to_vec(),
    }
}

fn match_cases() -> Vec<Case> {
    use Family::{Ipv4 as V4, Ipv6 as V6};
    let est_rel = ConnStates::ESTABLISHED | ConnStates::RELATED;
    vec![
        input(V4, tcp(), &["meta l4proto tcp"]),
        input(V6, Match::Protocol { proto: 17, negate: true }, &["meta l4proto != udp"]),
        input(V4, Match::SourceNet { net: "10.0.0.0/8".parse().unwrap(), negate: false }, &["ip saddr 10.0.0.0/8"]),
        input(V6, Match::SourceNet { net: "2001:db8::/32".parse().unwrap(), negate: true }, &["ip6 saddr != 2001:db8::/32"]),
        input(V4, Match::DestNet { net: "1.2.3.4/32".parse().unwrap(), negate: true }, &["ip daddr != 1.2.3.4"]),
        input(V4, Match::DestNet { net: "0.0.0.0/0".parse().unwrap(), negate: true }, &["ip version != 4"]),
        input(V6, Match::DestNet { net: "::/0".parse().unwrap(), negate: true }, &["ip6 version != 6"]),
        input(V4, Match::SourceRange { from: ip("1.2.3.4"), to: ip("1.2.3.9"), negate: false }, &["ip saddr 1.2.3.4-1.2.3.9"]),
        input(V6, Match::DestRange { from: ip("2001:db8::1"), to: ip("2001:db8::9"), negate: true }, &["ip6 daddr != 2001:db8::1-2001:db8::9"]),
        input(V4, Match::InInterface { iface: iface("eth", true), negate: false }, &["iifname \"eth*\""]),
        at(V6, Stage::Filter, Hook::Forward, rule(vec![Match::OutInterface { iface: iface("lo", false), negate: true }], Action::Continue), &["oifname != \"lo\""]),
        input(V4, Match::Fragment { negate: false }, &["ip frag-off & 8191 != 0"]),
        input(V4, Match::Fragment { negate: true }, &["ip frag-off & 8191 == 0"]),
        input(V4, Match::DestPort { proto: 6, ports: ports(&[(22, 22)]), negate: false }, &["tcp dport 22"]),
        input(V6, Match::SourcePort { proto: 17, ports: ports(&[(1000, 2000)]), negate: true }, &["udp sport != 1000-2000"]),
        input(V4, Match::DestPort { proto: 132, ports: long_ports(&[(80, 80), (20, 30), (25, 40)]), negate: false }, &["sctp dport { 20-40, 80, 100, 102,"]),
        input(V4, Match::DestPort { proto: 33, ports: long_ports(&[(5, 5), (7, 7)]), negate: true }, &["dccp dport != { 5, 7, 100, 102,"]),
        input(V6, Match::SourcePort { proto: 136, ports: ports(&[(9, 9)]), negate: false }, &["udplite sport 9"]),
        input(V4, Match::AnyPort { proto: 6, ports: long_ports(&[(22, 22), (80, 90)]), negate: false },
            &["tcp sport . tcp dport { 22 . 0-65535, 0-65535 . 22, 80-90 . 0-65535, 0-65535 . 80-90, 100 . 0-65535,"]),
        input(V6, Match::AnyPort { proto: 17, ports: ports(&[(53, 53)]), negate: true },
            &["udp sport . udp dport != { 53 . 0-65535, 0-65535 . 53 }"]),
        input(V4, Match::TcpFlags { flags: TcpFlags { mask: 0x17, set: 0x02 }, negate: false }, &["tcp flags syn / fin,syn,rst,ack"]),
        input(V6, Match::TcpFlags { flags: TcpFlags { mask: 0x12, set: 0x12 }, negate: true }, &["tcp flags != syn,ack / syn,ack"]),
        input(V4, Match::Icmp { kind: 8, code: None, negate: false }, &["icmp type echo-request"]),
        input(V4, Match::Icmp { kind: 3, code: Some(1), negate: false }, &["icmp type destination-unreachable icmp code host-unreachable"]),
        input(V4, Match::Icmp { kind: 3, code: Some(1), negate: true }, &["icmp type . icmp code != { destination-unreachable . host-unreachable }"]),
        input(V4, Match::Icmp { kind: 255, code: None, negate: false }, &["icmp type 0-255"]),
        input(V6, Match::Icmpv6 { kind: 1, code: Some(4), negate: false }, &["icmpv6 type destination-unreachable icmpv6 code port-unreachable"]),
        input(V4, Match::ConnState { states: ConnStates(est_rel), negate: false }, &["ct state established,related"]),
        input(V6, Match::ConnState { states: ConnStates(ConnStates::NEW | ConnStates::INVALID), negate: true }, &["ct state ! invalid,new"]),
        at(V4, Stage::Raw, Hook::Prerouting, rule(vec![Match::ConnState { states: ConnStates(ConnStates::UNTRACKED), negate: false }], Action::Continue), &["ct state == untracked"]),
        input(V4, Match::ConnState { states: ConnStates(ConnStates::SNAT | ConnStates::DNAT), negate: false }, &["ct status snat,dnat"]),
        input(V4, Match::ConnStatus { status: 4, negate: true }, &["ct status ! assured"]),
        input(V6, Match::ConnStatus { status: 1 | 2, negate: false }, &["ct status expected,seen-reply"]),
        input(V4, Match::ConnStatus { status: 0, negate: true }, &["ct state ! invalid,untracked"]),
        input(V4, Match::ConnProto { proto: 6, negate: false }, &["ct protocol tcp"]),
        input(V4, Match::ConnAddr { which: ConntrackAddr::OrigSource, net: "10.0.0.0/8".parse().unwrap(), negate: false }, &["ct original ip saddr 10.0.0.0/8"]),
        input(V6, Match::ConnAddr { which: ConntrackAddr::ReplyDest, net: "2001:db8::/32".parse().unwrap(), negate: true }, &["ct reply ip6 daddr != 2001:db8::/32"]),
        at(V4, Stage::Filter, Hook::Input, rule(vec![
            Match::ConnProto { proto: 6, negate: false },
            Match::ConnPort { which: ConntrackAddr::OrigDest, range: PortRange { first: 22, last: 22 }, negate: false },
        ], Action::Continue), &["ct original proto-dst 22"]),
        at(V6, Stage::Filter, Hook::Input, rule(vec![
            Match::Protocol { proto: 17, negate: false },
            Match::ConnPort { which: ConntrackAddr::ReplySource, range: PortRange { first: 1000, last: 2000 }, negate: true },
        ], Action::Continue), &["ct reply proto-src != 1000-2000"]),
        input(V4, Match::ConnExpire { min: 10, max: 60, negate: false }, &["ct expiration 10s-60s"]),
        input(V4, Match::ConnDirection { dir: CtDirection::Reply }, &["ct direction reply"]),
        input(V6, Match::ConnDirection { dir: CtDirection::Original }, &["ct direction original"]),
        input(V4, Match::SourceMac { mac: [0, 0x11, 0x22, 0xaa, 0xbb, 0xcc], negate: false }, &["ether saddr 00:11:22:aa:bb:cc"]),
        input(V6, Match::SourceMac { mac: [2, 0, 0, 0, 0, 1], negate: true }, &["ether saddr != 02:00:00:00:00:01"]),
        input(V4, Match::Mark { value: 1, mask: 0xff, negate: false }, &["meta mark & 0x000000ff == 0x00000001"]),
        input(V6, Match::Mark { value: 5, mask: u32::MAX, negate: true }, &["meta mark != 0x00000005"]),
        input(V4, Match::ConnMark { value: 1, mask: 0xff, negate: true }, &["ct mark & 0x000000ff != 0x00000001"]),
        input(V4, Match::AddrType { src: Some((AddrTypes(4), false)), dst: Some((AddrTypes(4 | 8), true)), limit_iface_in: true, limit_iface_out: false },
            &["fib saddr . iif type local", "fib daddr . iif type != { local, broadcast }"]),
        at(V4, Stage::Filter, Hook::Output, rule(vec![Match::AddrType { src: None, dst: Some((AddrTypes(2), true)), limit_iface_in: false, limit_iface_out: true }], Action::Continue),
            &["fib daddr . oif type != unicast"]),
        input(V6, Match::AddrType { src: None, dst: Some((AddrTypes(32 | 4), false)), limit_iface_in: false, limit_iface_out: false },
            &["ip6 daddr ff00::/8 fib daddr type local"]),
        input(V6, Match::AddrType { src: Some((AddrTypes(2), true)), dst: Some((AddrTypes(128), false)), limit_iface_in: false, limit_iface_out: false },
            &["ip6 saddr { ::, ::ffff:0.0.0.0/96, ff00::/8 }", "fib daddr type { blackhole, unreachable, prohibit, 9 }"]),
        input(V4, Match::PacketType { kind: PacketType::Unicast, negate: false }, &["meta pkttype host"]),
        input(V6, Match::PacketType { kind: PacketType::Multicast, negate: true }, &["meta pkttype != multicast"]),
        input(V4, Match::Length { min: 100, max: 200, negate: false }, &["ip length 100-200"]),
        input(V6, Match::Length { min: 100, max: 200, negate: true }, &["ip6 length != 60-160"]),
        input(V4, Match::Limit { rate: Rate { count: 3, unit: RateUnit::Minute }, burst: 7, over: false }, &["limit rate 3/minute burst 7 packets"]),
        input(V6, Match::Limit { rate: Rate { count: 10, unit: RateUnit::Hour }, burst: 1, over: true }, &["limit rate over 10/hour burst 1 packets"]),
        input(V4, Match::Limit { rate: Rate { count: 2, unit: RateUnit::Day }, burst: 5, over: false }, &["limit rate 2/day"]),
        at(V4, Stage::Filter, Hook::Input, rule(vec![tcp(), Match::HashLimit {
            name: "ssh".into(), rate: per_second(10), burst: 2, over: true,
            key: LimitKey { src_prefix: Some(24), dst_prefix: None, src_port: false, dst_port: true }, expire_ms: 10_000,
            bytes: false, max_keys: None,
        }], Action::Drop), &[
            "set hashlimit_ssh",
            "type ipv4_addr . inet_service",
            "timeout 10s",
            "update @hashlimit_ssh/src-dport { ip saddr & 255.255.255.0 . tcp dport limit rate over 10/second burst 2 packets } counter packets 0 bytes 0 drop",
        ]),
        input(V6, Match::HashLimit {
            name: "v6".into(), rate: per_second(5), burst: 5, over: false,
            key: LimitKey { src_prefix: Some(128), dst_prefix: Some(64), src_port: false, dst_port: false }, expire_ms: 1_500,
            bytes: false, max_keys: None,
        }, &["timeout 2s", "update @hashlimit_v6/src-dst { ip6 saddr . ip6 daddr & ffff:ffff:ffff:ffff:: limit rate 5/second }"]),
        input(V4, Match::HashLimit {
            name: "all".into(), rate: per_second(5), burst: 3, over: false,
            key: LimitKey { src_prefix: None, dst_prefix: None, src_port: false, dst_port: false }, expire_ms: 1_000,
            bytes: false, max_keys: None,
        }, &["limit rate 5/second burst 3 packets"]),
        input(V4, Match::HashLimit {
            name: "bytes".into(), rate: per_second(400), burst: 800, over: true,
            key: LimitKey { src_prefix: Some(32), dst_prefix: None, src_port: false, dst_port: false }, expire_ms: 1_000,
            bytes: true, max_keys: Some(64),
        }, &["size 64", "update @hashlimit_bytes { ip saddr limit rate over 400 bytes/second burst 800 bytes }"]),
        input(V4, Match::ConnLimit { count: 3, above: true, prefix: 24, by_source: true }, &["add @connlimit_", "{ ip saddr & 255.255.255.0 ct count over 3 }"]),
        input(V6, Match::ConnLimit { count: 8, above: false, prefix: 128, by_source: false }, &["{ ip6 daddr ct count 8 }"]),
        input(V4, Match::InSet { name: "allowed".into(), sides: vec![SetSide::Source], negate: false, options: Default::default() }, &["ip saddr @blocklist.allowed"]),
        input(V6, Match::InSet { name: "allowed".into(), sides: vec![SetSide::Destination], negate: true, options: Default::default() }, &["ip6 daddr != @blocklist.allowed"]),
        input(V4, Match::Statistic { mode: StatisticMode::Random { probability: 0.25 }, negate: false }, &["meta random < 1073741824"]),
        input(V6, Match::Statistic { mode: StatisticMode::Random { probability: 0.1 }, negate: true }, &["meta random >= 429496730"]),
        input(V4, Match::Statistic { mode: StatisticMode::Nth { every: 3, packet: 1 }, negate: false }, &["numgen inc mod 3 1"]),
        input(V4, Match::Statistic { mode: StatisticMode::Nth { every: 4, packet: 3 }, negate: true }, &["numgen inc mod 4 != 3"]),
        input(V4, Match::Comment { text: "hello".into() }, &["counter packets 0 bytes 0"]),
        output(V4, Match::SocketUid { min: 0, max: 0, negate: false }, &["meta skuid 0"]),
        output(V6, Match::SocketUid { min: 1000, max: 2000, negate: true }, &["meta skuid != 1000-2000"]),
        at(V4, Stage::Nat, Hook::Postrouting, rule(vec![Match::SocketGid { min: 5, max: 5, negate: true }], Action::Continue), &["meta skgid != 5"]),
        input(V4, Match::HopLimit { cmp: Compare::Equal, value: 64 }, &["ip ttl 64"]),
        input(V4, Match::HopLimit { cmp: Compare::Less, value: 0 }, &["ip ttl < 0"]),
        input(V4, Match::HopLimit { cmp: Compare::Greater, value: 255 }, &["ip ttl > 255"]),
        input(V6, Match::HopLimit { cmp: Compare::NotEqual, value: 1 }, &["ip6 hoplimit != 1"]),
        input(V6, Match::HopLimit { cmp: Compare::Less, value: 5 }, &["ip6 hoplimit < 5"]),
        input(V4, Match::DsField { value: 0x2e << 2, mask: 0xfc, negate: false }, &["ip dscp ef"]),
        input(V6, Match::DsField { value: 0x2e << 2, mask: 0xfc, negate: true }, &["ip6 dscp != ef"]),
        input(V4, Match::DsField { value: 0x08, mask: 0x0c, negate: true }, &["@nh,8,8 & 0xc != 0x8"]),
        input(V4, Match::DsField { value: 0x10, mask: 0xff, negate: false }, &["ip dscp 0x04 ip ecn not-ect"]),
        input(V4, Match::DsField { value: 0x03, mask: 0x01, negate: false }, &["@nh,8,8 & 0x1 == 0x3"]),
        input(V6, Match::DsField { value: 0x20, mask: 0xe0, negate: false }, &["@nh,0,16 & 0xe00 == 0x200"]),
        input(V4, Match::Quota { bytes: 1000, negate: false }, &["quota 1001 bytes"]),
        input(V4, Match::Cpu { cpu: 0, negate: false }, &["meta cpu 0"]),
        input(V4, Match::Realm { value: 0x10, mask: 0xff, negate: true }, &["rtclassid"]),
        output(V4, Match::Realm { value: 1, mask: u32::MAX, negate: false }, &["rtclassid"]),
        input(V4, Match::DeviceGroup { output: false, value: 0x10, mask: 0xf0, negate: true }, &["iifgroup & 240 != 16"]),
        output(V6, Match::DeviceGroup { output: true, value: 2, mask: u32::MAX, negate: false }, &["oifgroup 2"]),
        input(V6, Match::Cpu { cpu: 3, negate: true }, &["meta cpu != 3"]),
        input(V6, Match::Quota { bytes: 10_737_418_240, negate: true }, &["quota over 10737418241 bytes"]),
        input(V4, Match::ConnBytes { counter: ConnCounter::Bytes, dir: None, min: 10_000_000_000, max: u64::MAX, negate: false }, &["ct bytes >= 10000000000"]),
        input(V4, Match::ConnBytes { counter: ConnCounter::Packets, dir: Some(CtDirection::Original), min: 10, max: 100, negate: true }, &["ct original packets != 10-100"]),
        input(V6, Match::ConnBytes { counter: ConnCounter::AvgPacket, dir: Some(CtDirection::Reply), min: 7, max: 7, negate: false }, &["ct reply avgpkt 7"]),
        input(V6, Match::ConnBytes { counter: ConnCounter::Bytes, dir: None, min: 100, max: u64::MAX, negate: true }, &["ct bytes < 100"]),
    ]
}

fn nat_target(
    addrs: Option<(&str, &str)>,
    ports: Option<(u16, u16)>,
    random: bool,
    persistent: bool,
) -> NatTarget {
    NatTarget {
        addrs: addrs.map(|(a, b)| (ip(a), ip(b))),
        ports: ports.map(|(first, last)| PortRange { first, last }),
        random,
        port_base: None,
        fully_random: false,
        persistent,
    }
}

fn action_cases() -> Vec<Case> {
    use Family::{Ipv4 as V4, Ipv6 as V6};
    use Stage::{Filter, Mangle, Nat, Raw};
    let act = |family, stage, hook, matches: Vec<Match>, action, expect: &[&'static str]| {
        at(family, stage, hook, rule(matches, action), expect)
    };
    vec![
        act(
            V4,
            Filter,
            Hook::Input,
            vec![],
            Action::Continue,
            &["counter packets 0 bytes 0\n"],
        ),
        act(
            V4,
            Filter,
            Hook::Input,
            vec![],
            Action::Accept,
            &["counter packets 0 bytes 0 accept"],
        ),
        act(
            V6,
            Filter,
            Hook::Forward,
            vec![],
            Action::Drop,
            &["counter packets 0 bytes 0 drop"],
        ),
        act(
            V4,
            Filter,
            Hook::Output,
            vec![],
            Action::Return,
            &["counter packets 0 bytes 0 return"],
        ),
        act(
            V4,
            Filter,
            Hook::Input,
            vec![],
            Action::Jump("target".into()),
            &["jump target"],
        ),
        act(
            V6,
            Filter,
            Hook::Input,
            vec![],
            Action::Goto("target".into()),
            &["goto target"],
        ),
        act(
            V4,
            Filter,
            Hook::Input,
            vec![tcp()],
            Action::Reject(RejectKind::TcpReset),
            &["reject with tcp reset"],
        ),
        act(
            V6,
            Filter,
            Hook::Input,
            vec![tcp()],
            Action::Reject(RejectKind::TcpReset),
            &["reject with tcp reset"],
        ),
        act(
            V4,
            Filter,
            Hook::Input,
            vec![],
            Action::Reject(RejectKind::Icmp(10)),
            &["reject with icmp host-prohibited"],
        ),
        act(
            V4,
            Filter,
            Hook::Forward,
            vec![],
            Action::Reject(RejectKind::Icmp(3)),
            &["counter packets 0 bytes 0 reject"],
        ),
        act(
            V6,
            Filter,
            Hook::Output,
            vec![],
            Action::Reject(RejectKind::Icmpv6(1)),
            &["reject with icmpv6 admin-prohibited"],
        ),
        act(
            V6,
            Filter,
            Hook::Input,
            vec![],
            Action::Reject(RejectKind::Icmpv6(0)),
            &["reject with icmpv6 no-route"],
        ),
        act(
            V4,
            Filter,
            Hook::Input,
            vec![],
            Action::Log {
                prefix: Some("drop: ".into()),
                level: LogLevel(7),
                flags: LogFlags {
                    tcp_sequence: true,
                    tcp_options: true,
                    ..LogFlags::default()
                },
            },
            &["log prefix \"drop: \" level debug flags tcp sequence,options"],
        ),
        act(
            V6,
            Filter,
            Hook::Input,
            vec![],
            Action::Log {
                prefix: None,
                level: LogLevel(4),
                flags: LogFlags {
                    ip_options: true,
                    uid: true,
                    macdecode: true,
                    ..LogFlags::default()
                },
            },
            &["log flags ip options flags skuid flags ether"],
        ),
        act(
            V4,
            Filter,
            Hook::Input,
            vec![],
            Action::NfLog {
                group: 5,
                prefix: Some("nf".into()),
                snaplen: Some(128),
                threshold: None,
            },
            &["log prefix \"nf\" group 5 snaplen 128 queue-threshold 1"],
        ),
        act(
            V4,
            Mangle,
            Hook::Prerouting,
            vec![],
            Action::SetMark(MarkSet {
                value: 5,
                mask: u32::MAX,
            }),
            &["meta mark set 0x00000005"],
        ),
        act(
            V6,
            Mangle,
            Hook::Output,
            vec![],
            Action::SetMark(MarkSet {
                value: 0x100,
                mask: 0xff00,
            }),
            &["meta mark set meta mark & 0xffff01ff | 0x00000100"],
        ),
        act(
            V4,
            Mangle,
            Hook::Forward,
            vec![],
            Action::SetConnMark(MarkSet { value: 1, mask: 0 }),
            &["ct mark set ct mark ^ 0x00000001"],
        ),
        act(
            V4,
            Mangle,
            Hook::Prerouting,
            vec![],
            Action::SaveMark {
                nfmask: u32::MAX,
                ctmask: u32::MAX,
            },
            &["ct mark set meta mark"],
        ),
        act(
            V6,
            Mangle,
            Hook::Postrouting,
            vec![],
            Action::SaveMark {
                nfmask: 0xff,
                ctmask: u32::MAX,
            },
            &["ct mark set meta mark & 0x000000ff"],
        ),
        act(
            V4,
            Mangle,
            Hook::Prerouting,
            vec![],
            Action::RestoreMark {
                nfmask: u32::MAX,
                ctmask: u32::MAX,
            },
            &["meta mark set ct mark"],
        ),
        act(
            V4,
            Mangle,
            Hook::Input,
            vec![],
            Action::RestoreMark {
                nfmask: u32::MAX,
                ctmask: 0xff00,
            },
            &["meta mark set ct mark & 0x0000ff00"],
        ),
        act(
            V4,
            Raw,
            Hook::Prerouting,
            vec![],
            Action::NoTrack,
            &["notrack"],
        ),
        act(V6, Raw, Hook::Output, vec![], Action::NoTrack, &["notrack"]),
        act(
            V4,
            Raw,
            Hook::Prerouting,
            vec![],
            Action::CtZone { id: 1, dir: None },
            &["ct zone set 1"],
        ),
        act(
            V6,
            Raw,
            Hook::Output,
            vec![],
            Action::CtZone {
                id: 7,
                dir: Some(CtDirection::Original),
            },
            &["ct original zone set 7"],
        ),
        act(
            V4,
            Nat,
            Hook::Prerouting,
            vec![tcp()],
            Action::Dnat(nat_target(
                Some(("10.0.0.1", "10.0.0.9")),
                Some((80, 90)),
                true,
                true,
            )),
            &["dnat to 10.0.0.1-10.0.0.9:80-90 random,persistent"],
        ),
        act(
            V6,
            Nat,
            Hook::Output,
            vec![tcp()],
            Action::Dnat(nat_target(
                Some(("2001:db8::1", "2001:db8::1")),
                Some((80, 80)),
                false,
                false,
            )),
            &["dnat to [2001:db8::1]:80"],
        ),
        act(
            V4,
            Nat,
            Hook::Prerouting,
            vec![],
            Action::Dnat(nat_target(
                Some(("10.0.0.1", "10.0.0.1")),
                None,
                false,
                false,
            )),
            &["dnat to 10.0.0.1"],
        ),
        act(
            V4,
            Nat,
            Hook::Postrouting,
            vec![Match::Protocol {
                proto: 17,
                negate: false,
            }],
            Action::Snat(nat_target(
                Some(("10.0.0.1", "10.0.0.1")),
                Some((1000, 2000)),
                false,
                true,
            )),
            &["snat to 10.0.0.1:1000-2000 persistent"],
        ),
        act(
            V6,
            Nat,
            Hook::Input,
            vec![],
            Action::Snat(nat_target(
                Some(("2001:db8::1", "2001:db8::2")),
                None,
                false,
                false,
            )),
            &["snat to 2001:db8::1-2001:db8::2"],
        ),
        act(
            V4,
            Nat,
            Hook::Postrouting,
            vec![],
            Action::Masquerade {
                ports: None,
                random: false,
                fully_random: false,
            },
            &["counter packets 0 bytes 0 masquerade"],
        ),
        act(
            V6,
            Nat,
            Hook::Postrouting,
            vec![tcp()],
            Action::Masquerade {
                ports: Some(PortRange {
                    first: 1000,
                    last: 2000,
                }),
                random: true,
                fully_random: false,
            },
            &["masquerade to :1000-2000 random"],
        ),
        act(
            V4,
            Nat,
            Hook::Prerouting,
            vec![tcp()],
            Action::Redirect {
                ports: Some(PortRange {
                    first: 8080,
                    last: 8080,
                }),
                random: false,
            },
            &["redirect to :8080"],
        ),
        act(
            V6,
            Nat,
            Hook::Output,
            vec![],
            Action::Redirect {
                ports: None,
                random: false,
            },
            &["counter packets 0 bytes 0 redirect"],
        ),
        act(
            V4,
            Mangle,
            Hook::Forward,
            vec![tcp()],
            Action::TcpMss(MssValue::PathMtu),
            &["tcp option maxseg size set rt mtu"],
        ),
        act(
            V6,
            Mangle,
            Hook::Prerouting,
            vec![tcp()],
            Action::TcpMss(MssValue::Fixed(1400)),
            &["tcp option maxseg size set 1400"],
        ),
        act(
            V4,
            Raw,
            Hook::Prerouting,
            vec![],
            Action::Trace,
            &["meta nftrace set 1"],
        ),
        act(
            V4,
            Mangle,
            Hook::Postrouting,
            vec![],
            Action::Tos {
                value: 0x11,
                mask: 0xff,
            },
            &["ip dscp set 0x04 ip ecn set ect1"],
        ),
        act(
            V6,
            Mangle,
            Hook::Postrouting,
            vec![],
            Action::Tos {
                value: 0x03,
                mask: 0x03,
            },
            &["ip6 ecn set ce"],
        ),
        act(
            V4,
            Mangle,
            Hook::Postrouting,
            vec![],
            Action::Dscp(46),
            &["ip dscp set ef"],
        ),
        act(
            V6,
            Mangle,
            Hook::Output,
            vec![],
            Action::Dscp(10),
            &["ip6 dscp set af11"],
        ),
        act(
            V4,
            Mangle,
            Hook::Prerouting,
            vec![],
            Action::Ttl(TtlOp::Set(64)),
            &["ip ttl set 64"],
        ),
        act(
            V6,
            Mangle,
            Hook::Forward,
            vec![],
            Action::HopLimit(TtlOp::Set(1)),
            &["ip6 hoplimit set 1"],
        ),
        act(
            V4,
            Mangle,
            Hook::Postrouting,
            vec![],
            Action::Classify(0x0001_0002),
            &["meta priority set 1:2"],
        ),
        act(
            V6,
            Filter,
            Hook::Forward,
            vec![],
            Action::Classify(0x0010_ffff),
            &["meta priority set 10:ffff"],
        ),
        act(
            V4,
            Nat,
            Hook::Prerouting,
            vec![],
            Action::Netmap {
                to: "10.2.0.0/24".parse().unwrap(),
                side: NatSide::Destination,
            },
            &["dnat prefix to 10.2.0.0/24"],
        ),
        act(
            V6,
            Nat,
            Hook::Postrouting,
            vec![],
            Action::Netmap {
                to: "2001:db8:1::/64".parse().unwrap(),
                side: NatSide::Source,
            },
            &["snat prefix to 2001:db8:1::/64"],
        ),
        act(
            V6,
            Mangle,
            Hook::Output,
            vec![],
            Action::Trace,
            &["meta nftrace set 1"],
        ),
    ]
}

// ---------------------------------------------------------------- tests

#[test]
fn every_variant_loads_and_lists_natively() {
    if !can_run(&[("ip", &["-V"]), ("nft", &["--version"])]) {
        return;
    }
    let ns = Netns::new();
    let cases: Vec<Case> = match_cases().into_iter().chain(action_cases()).collect();
    let mut failures = Vec::new();
    for case in &cases {
        let label = format!(
            "{:?} {:?}/{:?} {:?} -> {:?}",
            case.family, case.stage, case.hook, case.rule.matches, case.rule.action
        );
        let json = match batch(
            case.family,
            case.stage,
            case.hook,
            std::slice::from_ref(&case.rule),
        ) {
            Ok(json) => json,
            Err(e) => {
                failures.push(format!("{label}\n  does not compile: {e}"));
                continue;
            }
        };
        ns.ok(&["nft", "flush", "ruleset"], None);
        let load = ns.run(&["nft", "-j", "-f", "-"], Some(&json));
        if !load.status.success() {
            failures.push(format!(
                "{label}\n  kernel refused it: {}\n  {json}",
                String::from_utf8_lossy(&load.stderr).trim()
            ));
            continue;
        }
        let listing = ns.ok(&["nft", "list", "ruleset"], None);
        for want in &case.expect {
            if !listing.contains(want) {
                failures.push(format!("{label}\n  listing lacks {want:?}:\n{listing}"));
            }
        }
        if listing.contains("xt ") || listing.contains("# xt_") {
            failures.push(format!(
                "{label}\n  uses the xtables compatibility layer:\n{listing}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    println!("{} rules loaded and listed", cases.len());
}

// ---------------------------------------------------------------- packets

/// Rules compiled by moat and the same rules written for legacy iptables,
/// and the traffic (a bash script) both see in the OUTPUT hook.
struct Differential {
    label: &'static str,
    family: Family,
    rules: Vec<(Rule, String)>,
    traffic: &'static str,
}

fn udp() -> Match {
    Match::Protocol {
        proto: 17,
        negate: false,
    }
}

fn dport(first: u16, last: u16) -> Match {
    Match::DestPort {
        proto: 17,
        ports: ports(&[(first, last)]),
        negate: false,
    }
}

fn set_mark(value: u32) -> Action {
    Action::SetMark(MarkSet {
        value,
        mask: u32::MAX,
    })
}

/// `[udp dport PORT, mark VALUE]`: counts the packets to PORT that got VALUE.
fn observer(port: u16, value: u32) -> (Rule, String) {
    let args = format!("-p udp --dport {port} -m mark --mark {value:#x}");
    let m = Match::Mark {
        value,
        mask: u32::MAX,
        negate: false,
    };
    (
        rule(vec![udp(), dport(port, port), m], Action::Continue),
        args,
    )
}

fn observers(ports: std::ops::RangeInclusive<u16>, value: u32) -> Vec<(Rule, String)> {
    ports.map(|p| observer(p, value)).collect()
}

fn differentials() -> Vec<Differential> {
    let ipt = |rule: Rule, args: &str| (rule, args.to_string());
    use Family::{Ipv4 as V4, Ipv6 as V6};
    let nth = rule(
        vec![
            udp(),
            dport(9001, 9007),
            Match::Statistic {
                mode: StatisticMode::Nth {
                    every: 3,
                    packet: 1,
                },
                negate: false,
            },
        ],
        set_mark(1),
    );
    let limit = rule(
        vec![
            udp(),
            dport(9100, 9100),
            Match::Limit {
                rate: Rate {
                    count: 1,
                    unit: RateUnit::Minute,
                },
                burst: 3,
                over: false,
            },
        ],
        Action::Continue,
    );
    let hashlimit = |over: bool| {
        rule(
            vec![
                udp(),
                dport(9201, 9202),
                Match::HashLimit {
                    name: "h".into(),
                    rate: Rate {
                        count: 1,
                        unit: RateUnit::Minute,
                    },
                    burst: 2,
                    over,
                    key: LimitKey {
                        src_prefix: None,
                        dst_prefix: None,
                        src_port: false,
                        dst_port: true,
                    },
                    expire_ms: 60_000,
                    bytes: false,
                    max_keys: None,
                },
            ],
            set_mark(1),
        )
    };
    let any_port = rule(
        vec![
            udp(),
            Match::AnyPort {
                proto: 17,
                ports: long_ports(&[(9401, 9401), (9403, 9403)]),
                negate: false,
            },
        ],
        set_mark(1),
    );
    let length = |min, max| {
        rule(
            vec![
                udp(),
                dport(9501, 9506),
                Match::Length {
                    min,
                    max,
                    negate: false,
                },
            ],
            set_mark(1),
        )
    };
    let tcp_probe = |m: Match| {
        rule(
            vec![
                tcp(),
                Match::DestPort {
                    proto: 6,
                    ports: ports(&[(9600, 9600)]),
                    negate: false,
                },
                m,
            ],
            Action::Continue,
        )
    };
    let tcp_reply = |m: Match| {
        rule(
            vec![
                tcp(),
                Match::SourcePort {
                    proto: 6,
                    ports: ports(&[(9600, 9600)]),
                    negate: false,
                },
                m,
            ],
            Action::Continue,
        )
    };
    let syn = Match::TcpFlags {
        flags: TcpFlags {
            mask: 0x17,
            set: 0x02,
        },
        negate: false,
    };
    let rst = Match::TcpFlags {
        flags: TcpFlags {
            mask: 0x04,
            set: 0x04,
        },
        negate: false,
    };
    let state = |bits| Match::ConnState {
        states: ConnStates(bits),
        negate: false,
    };
    let marks = vec![
        ipt(
            rule(vec![udp(), dport(9801, 9801)], set_mark(0x1234)),
            "-p udp --dport 9801 -j MARK --set-xmark 0x1234/0xffffffff",
        ),
        ipt(
            rule(
                vec![udp(), dport(9801, 9801)],
                Action::SetMark(MarkSet {
                    value: 0x100,
                    mask: 0xff00,
                }),
            ),
            "-p udp --dport 9801 -j MARK --set-xmark 0x100/0xff00",
        ),
        ipt(
            rule(
                vec![udp(), dport(9801, 9801)],
                Action::SaveMark {
                    nfmask: 0xff,
                    ctmask: u32::MAX,
                },
            ),
            "-p udp --dport 9801 -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xffffffff",
        ),
        ipt(
            rule(
                vec![udp(), dport(9801, 9801)],
                Action::SetConnMark(MarkSet {
                    value: 0x3,
                    mask: 0xf0f,
                }),
            ),
            "-p udp --dport 9801 -j CONNMARK --set-xmark 0x3/0xf0f",
        ),
        ipt(
            rule(
                vec![udp(), dport(9801, 9801)],
                Action::RestoreMark {
                    nfmask: u32::MAX,
                    ctmask: 0xff,
                },
            ),
            "-p udp --dport 9801 -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xff",
        ),
        observer(9801, 0x134),
        observer(9801, 0x33),
        observer(9801, 0x30),
    ];
    vec![
        Differential {
            label: "statistic nth",
            family: V4,
            rules: [vec![ipt(nth, "-p udp --dport 9001:9007 -m statistic --mode nth --every 3 --packet 1 -j MARK --set-xmark 0x1/0xffffffff")], observers(9001..=9007, 1)].concat(),
            traffic: "for p in 9001 9002 9003 9004 9005 9006 9007; do echo x > /dev/udp/127.0.0.1/$p; done",
        },
        Differential {
            label: "limit burst",
            family: V4,
            rules: vec![ipt(limit, "-p udp --dport 9100 -m limit --limit 1/minute --limit-burst 3")],
            traffic: "for i in 1 2 3 4 5 6 7 8; do echo x > /dev/udp/127.0.0.1/9100; done",
        },
        Differential {
            label: "hashlimit upto",
            family: V4,
            rules: [vec![ipt(hashlimit(false), "-p udp --dport 9201:9202 -m hashlimit --hashlimit-upto 1/minute --hashlimit-burst 2 --hashlimit-mode dstport --hashlimit-name h --hashlimit-htable-expire 60000 -j MARK --set-xmark 0x1/0xffffffff")], observers(9201..=9202, 1)].concat(),
            traffic: "for p in 9201 9202 9201 9201 9202 9201 9202; do echo x > /dev/udp/127.0.0.1/$p; done",
        },
        Differential {
            label: "hashlimit above",
            family: V6,
            rules: [vec![ipt(hashlimit(true), "-p udp --dport 9201:9202 -m hashlimit --hashlimit-above 1/minute --hashlimit-burst 2 --hashlimit-mode dstport --hashlimit-name h --hashlimit-htable-expire 60000 -j MARK --set-xmark 0x1/0xffffffff")], observers(9201..=9202, 1)].concat(),
            traffic: "for p in 9201 9202 9201 9201 9202 9201 9202; do echo x > /dev/udp/::1/$p; done",
        },
        Differential {
            label: "multiport source or destination",
            family: V6,
            rules: [vec![ipt(any_port, "-p udp -m multiport --ports 9401,9403 -j MARK --set-xmark 0x1/0xffffffff")], observers(9401..=9404, 1)].concat(),
            traffic: "for p in 9401 9402 9403 9404; do echo x > /dev/udp/::1/$p; done",
        },
        Differential {
            label: "length ipv4",
            family: V4,
            rules: [vec![ipt(length(30, 33), "-p udp --dport 9501:9506 -m length --length 30:33 -j MARK --set-xmark 0x1/0xffffffff")], observers(9501..=9506, 1)].concat(),
            traffic: "for k in 1 2 3 4 5 6; do printf '%*s' $k '' > /dev/udp/127.0.0.1/950$k; done",
        },
        Differential {
            label: "length ipv6",
            family: V6,
            rules: [vec![ipt(length(50, 53), "-p udp --dport 9501:9506 -m length --length 50:53 -j MARK --set-xmark 0x1/0xffffffff")], observers(9501..=9506, 1)].concat(),
            traffic: "for k in 1 2 3 4 5 6; do printf '%*s' $k '' > /dev/udp/::1/950$k; done",
        },
        Differential {
            label: "tcp flags and states",
            family: V4,
            rules: vec![
                ipt(tcp_probe(syn.clone()), "-p tcp --dport 9600 --tcp-flags FIN,SYN,RST,ACK SYN"),
                ipt(tcp_probe(state(ConnStates::NEW)), "-p tcp --dport 9600 -m conntrack --ctstate NEW"),
                ipt(tcp_reply(rst), "-p tcp --sport 9600 --tcp-flags RST RST"),
                ipt(tcp_reply(state(ConnStates::ESTABLISHED)), "-p tcp --sport 9600 -m conntrack --ctstate ESTABLISHED"),
                ipt(tcp_reply(state(ConnStates::INVALID | ConnStates::RELATED)), "-p tcp --sport 9600 -m conntrack --ctstate INVALID,RELATED"),
                ipt(tcp_reply(Match::ConnDirection { dir: CtDirection::Reply }), "-p tcp --sport 9600 -m conntrack --ctdir REPLY"),
            ],
            traffic: "(exec 3<>/dev/tcp/127.0.0.1/9600) 2>/dev/null; true",
        },
        Differential {
            label: "address type",
            family: V4,
            rules: vec![
                ipt(rule(vec![udp(), dport(9700, 9700), Match::AddrType { src: None, dst: Some((AddrTypes(4), false)), limit_iface_in: false, limit_iface_out: false }], Action::Continue),
                    "-p udp --dport 9700 -m addrtype --dst-type LOCAL"),
                ipt(rule(vec![udp(), dport(9700, 9700), Match::AddrType { src: Some((AddrTypes(2), true)), dst: None, limit_iface_in: false, limit_iface_out: true }], Action::Continue),
                    "-p udp --dport 9700 -m addrtype ! --src-type UNICAST --limit-iface-out"),
            ],
            traffic: "echo x > /dev/udp/127.0.0.1/9700",
        },
        Differential {
            label: "marks and connection marks",
            family: V4,
            rules: marks,
            traffic: "echo x > /dev/udp/127.0.0.1/9801",
        },
    ]
}

/// The packet counts of the rules of legacy iptables' OUTPUT chain.
fn iptables_counts(save: &str) -> Vec<u64> {
    save.lines()
        .filter(|l| l.contains("-A OUTPUT"))
        .filter_map(|l| l.strip_prefix('[')?.split(':').next()?.parse().ok())
        .collect()
}

/// The packet counts of the rules of moat's test chain.
fn nft_counts(listing: &str) -> Vec<u64> {
    let doc: serde_json::Value = serde_json::from_str(listing).expect("nft -j output");
    let mut counts = Vec::new();
    for object in doc["nftables"].as_array().into_iter().flatten() {
        let Some(rule) = object.get("rule") else {
            continue;
        };
        if rule["chain"] != CHAIN {
            continue;
        }
        let counter = rule["expr"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|s| s.get("counter")?.get("packets")?.as_u64());
        counts.push(counter.unwrap_or(u64::MAX));
    }
    counts
}

fn run_iptables(case: &Differential) -> Vec<u64> {
    let ns = Netns::new();
    let tool = match case.family {
        Family::Ipv4 => "iptables-legacy",
        Family::Ipv6 => "ip6tables-legacy",
    };
    for (_, args) in &case.rules {
        let mut cmd = vec![tool, "-A", "OUTPUT"];
        cmd.extend(args.split_whitespace());
        ns.ok(&cmd, None);
    }
    ns.ok(&["bash", "-c", case.traffic], None);
    iptables_counts(&ns.ok(&[&format!("{tool}-save"), "-c", "-t", "filter"], None))
}

fn run_nft(case: &Differential) -> Result<Vec<u64>, String> {
    let ns = Netns::new();
    let rules: Vec<Rule> = case.rules.iter().map(|(r, _)| r.clone()).collect();
    let json = batch(case.family, Stage::Filter, Hook::Output, &rules)?;
    let load = ns.run(&["nft", "-j", "-f", "-"], Some(&json));
    if !load.status.success() {
        return Err(String::from_utf8_lossy(&load.stderr).into_owned());
    }
    ns.ok(&["bash", "-c", case.traffic], None);
    Ok(nft_counts(&ns.ok(&["nft", "-j", "list", "ruleset"], None)))
}

#[test]
fn packets_match_like_iptables() {
    let legacy: &[&str] = &["-V"];
    if !can_run(&[
        ("ip", &["-V"]),
        ("nft", &["--version"]),
        ("bash", &["--version"]),
        ("iptables-legacy", legacy),
        ("ip6tables-legacy", legacy),
    ]) {
        return;
    }
    let cases = differentials();
    let mut failures = Vec::new();
    for case in &cases {
        let expected = run_iptables(case);
        match run_nft(case) {
            Ok(got) if got == expected => println!("{}: both counted {got:?}", case.label),
            Ok(got) => failures.push(format!(
                "{}: iptables counted {expected:?}, moat's rules {got:?}",
                case.label
            )),
            Err(e) => failures.push(format!("{}: nft refused the rules: {e}", case.label)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{} scenarios counted alike", cases.len());
}
