//! Rules in words a person reads, for `moat diff` and `moat status`.

use moat_model::matches::{
    AddrTypes, ConntrackAddr, CtDirection, Iface, LimitKey, PacketType, Rate, RateUnit,
    RecentAction, SetSide,
};
use moat_model::{
    Action, Compare, ConnCounter, ConnStates, Match, MssValue, NatSide, PortRange, Rule,
    SecMarkCopy, StatisticMode, TtlOp,
};

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        n => format!("protocol {n}"),
    }
}

fn ports_text(ports: &[PortRange]) -> String {
    let list: Vec<String> = ports.iter().map(PortRange::to_string).collect();
    let word = if list.len() == 1 && ports[0].first == ports[0].last {
        "port"
    } else {
        "ports"
    };
    format!("{word} {}", list.join(", "))
}

fn not(negate: bool) -> &'static str {
    if negate {
        "not "
    } else {
        ""
    }
}

fn states_text(s: ConnStates) -> String {
    let mut parts = Vec::new();
    for (bit, name) in [
        (ConnStates::NEW, "new connections"),
        (ConnStates::ESTABLISHED, "established connections"),
        (ConnStates::RELATED, "related connections"),
        (ConnStates::INVALID, "invalid packets"),
        (ConnStates::UNTRACKED, "untracked packets"),
        (
            ConnStates::DNAT,
            "forwarded (destination-translated) connections",
        ),
        (ConnStates::SNAT, "source-translated connections"),
    ] {
        if s.contains(bit) {
            parts.push(name);
        }
    }
    parts.join(" and ")
}

fn iface_text(iface: &Iface) -> String {
    format!("{}{}", iface.name, if iface.wildcard { "*" } else { "" })
}

fn icmp_text(kind: u8, code: Option<u8>, ping: u8) -> String {
    match (kind, code) {
        (255, _) => "any ICMP type".into(),
        (k, None) if k == ping => "ping requests".into(),
        (k, None) => format!("ICMP type {k}"),
        (k, Some(c)) => format!("ICMP type {k} code {c}"),
    }
}

fn unit_name(unit: RateUnit) -> &'static str {
    match unit {
        RateUnit::Second => "second",
        RateUnit::Minute => "minute",
        RateUnit::Hour => "hour",
        RateUnit::Day => "day",
    }
}

fn rate_text(rate: &Rate) -> String {
    format!("{}/{}", rate.count, unit_name(rate.unit))
}

fn side_text(side: SetSide) -> &'static str {
    match side {
        SetSide::Source => "source",
        SetSide::Destination => "destination",
    }
}

fn sides_text(sides: &[SetSide]) -> String {
    let names: Vec<&str> = sides.iter().map(|s| side_text(*s)).collect();
    names.join(" and ")
}

fn conn_addr_text(which: ConntrackAddr) -> &'static str {
    match which {
        ConntrackAddr::OrigSource => "original source",
        ConntrackAddr::OrigDest => "original destination",
        ConntrackAddr::ReplySource => "reply source",
        ConntrackAddr::ReplyDest => "reply destination",
    }
}

fn status_text(status: u32) -> String {
    let names: Vec<&str> = [
        (1, "expected"),
        (2, "seen-reply"),
        (4, "assured"),
        (8, "confirmed"),
    ]
    .iter()
    .filter(|(bit, _)| status & bit != 0)
    .map(|(_, name)| *name)
    .collect();
    names.join(" or ")
}

fn addr_types_text(types: AddrTypes) -> String {
    const NAMES: [&str; 12] = [
        "unspec",
        "unicast",
        "local",
        "broadcast",
        "anycast",
        "multicast",
        "blackhole",
        "unreachable",
        "prohibit",
        "throw",
        "nat",
        "xresolve",
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| types.0 & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    names.join(" or ")
}

fn addr_type_text(src: &Option<(AddrTypes, bool)>, dst: &Option<(AddrTypes, bool)>) -> String {
    let mut parts = Vec::new();
    for (side, test) in [("from", src), ("to", dst)] {
        if let Some((types, negate)) = test {
            parts.push(format!(
                "{}{side} a {} address",
                not(*negate),
                addr_types_text(*types)
            ));
        }
    }
    parts.join(" ")
}

fn recent_text(
    name: &str,
    action: RecentAction,
    seconds: Option<u32>,
    hits: Option<u32>,
) -> String {
    let verb = match action {
        RecentAction::Set => return format!("adding the address to recent list {name}"),
        RecentAction::Check => "in",
        RecentAction::Update => "in (and refreshed in)",
        RecentAction::Remove => "in (and removed from)",
    };
    let within = seconds
        .map(|s| format!(" within the last {s} seconds"))
        .unwrap_or_default();
    let hits = hits
        .map(|h| format!(" at least {h} times"))
        .unwrap_or_default();
    format!("{verb} recent list {name}{hits}{within}")
}

fn statistic_text(mode: &StatisticMode) -> String {
    match mode {
        StatisticMode::Random { probability } => format!("with probability {probability:.3}"),
        StatisticMode::Nth { every, .. } => format!("every {every}th connection reaching it"),
    }
}

fn limit_text(rate: &Rate, burst: u32, over: bool) -> String {
    let r = rate_text(rate);
    if over {
        format!("above {r} (bursts of {burst})")
    } else {
        format!("at most {r} (bursts of {burst})")
    }
}

fn key_text(key: &LimitKey) -> String {
    let parts: Vec<&str> = [
        (key.src_prefix.is_some(), "source"),
        (key.dst_prefix.is_some(), "destination"),
        (key.src_port, "source port"),
        (key.dst_port, "destination port"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    if parts.is_empty() {
        "all packets together".into()
    } else {
        format!("a {}", parts.join(" and "))
    }
}

fn hashlimit_text(name: &str, rate: &Rate, bytes: bool, over: bool, key: &LimitKey) -> String {
    let who = key_text(key);
    let r = if bytes {
        format!("{} bytes/{}", rate.count, unit_name(rate.unit))
    } else {
        rate_text(rate)
    };
    if over {
        format!("when {who} goes over {r} (limit {name})")
    } else {
        format!("while {who} stays under {r} (limit {name})")
    }
}

fn connlimit_text(count: u32, above: bool) -> String {
    if above {
        format!("when a source already has more than {count} connections")
    } else {
        format!("while a source has at most {count} connections")
    }
}

fn mac_text(mac: &[u8; 6]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

/// Address, interface and port conditions; `None` for other kinds.
fn where_text(m: &Match) -> Option<String> {
    Some(match m {
        Match::Protocol { proto, negate } => format!("{}{}", not(*negate), proto_name(*proto)),
        Match::SourceNet { net, negate } => format!("{}from {net}", not(*negate)),
        Match::DestNet { net, negate } => format!("{}to {net}", not(*negate)),
        Match::SourceRange { from, to, negate } => format!("{}from {from}-{to}", not(*negate)),
        Match::DestRange { from, to, negate } => format!("{}to {from}-{to}", not(*negate)),
        Match::AddrMask {
            side,
            addr,
            mask,
            negate,
        } => {
            let word = side.pick("from", "to");
            format!("{}{word} {addr} under mask {mask}", not(*negate))
        }
        Match::InInterface { iface, negate } => {
            format!("{}arriving on {}", not(*negate), iface_text(iface))
        }
        Match::OutInterface { iface, negate } => {
            format!("{}leaving through {}", not(*negate), iface_text(iface))
        }
        Match::Fragment { negate } => format!("{}a later fragment", not(*negate)),
        Match::DestPort { ports, negate, .. } => {
            format!("{}to {}", not(*negate), ports_text(ports))
        }
        Match::SourcePort { ports, negate, .. } => {
            format!("{}from {}", not(*negate), ports_text(ports))
        }
        Match::AnyPort { ports, negate, .. } => format!("{}on {}", not(*negate), ports_text(ports)),
        Match::SourceMac { mac, negate } => format!("{}from MAC {}", not(*negate), mac_text(mac)),
        _ => return None,
    })
}

/// Conditions on the packet's header fields and its connection; `None` for other kinds.
fn packet_text(m: &Match) -> Option<String> {
    Some(match m {
        Match::TcpFlags { flags, negate } => format!(
            "{}with TCP flags {:#04x} of {:#04x}",
            not(*negate),
            flags.set,
            flags.mask
        ),
        Match::Icmp { kind, code, negate } => {
            format!("{}{}", not(*negate), icmp_text(*kind, *code, 8))
        }
        Match::Icmpv6 { kind, code, negate } => {
            format!("{}{}", not(*negate), icmp_text(*kind, *code, 128))
        }
        Match::ConnState { states, negate } => format!("{}{}", not(*negate), states_text(*states)),
        Match::ConnStatus { status, negate } => {
            format!("{}of {} connections", not(*negate), status_text(*status))
        }
        Match::ConnProto { proto, negate } => {
            format!("{}of {} connections", not(*negate), proto_name(*proto))
        }
        Match::ConnAddr { which, net, negate } => {
            format!("{}with {} {net}", not(*negate), conn_addr_text(*which))
        }
        Match::ConnPort {
            which,
            range,
            negate,
        } => {
            format!(
                "{}with {} port {range}",
                not(*negate),
                conn_addr_text(*which)
            )
        }
        Match::ConnExpire { min, max, negate } => {
            format!("{}expiring in {min}-{max} seconds", not(*negate))
        }
        Match::ConnDirection { dir } => match dir {
            CtDirection::Original => "in the connection's original direction".into(),
            CtDirection::Reply => "in the connection's reply direction".into(),
        },
        Match::Mark {
            value,
            mask,
            negate,
        } => {
            format!("{}with mark {value:#x}/{mask:#x}", not(*negate))
        }
        Match::ConnMark {
            value,
            mask,
            negate,
        } => {
            format!("{}with connection mark {value:#x}/{mask:#x}", not(*negate))
        }
        Match::AddrType { src, dst, .. } => addr_type_text(src, dst),
        Match::PacketType { kind, negate } => {
            format!("{}{}", not(*negate), packet_type_text(*kind))
        }
        Match::Length { min, max, negate } => format!("{}{min}-{max} bytes long", not(*negate)),
        Match::Xt(ext) => format!("matching `{}`", ext.text),
        Match::SocketUid { min, max, negate } => {
            format!("{}sent by user {}", not(*negate), id_text(*min, *max))
        }
        Match::SocketGid { min, max, negate } => {
            format!("{}sent by group {}", not(*negate), id_text(*min, *max))
        }
        Match::Cpu { cpu, negate } => format!("{}handled by CPU {cpu}", not(*negate)),
        Match::Realm {
            value,
            mask,
            negate,
        } => format!("{}routed in realm {value:#x}/{mask:#x}", not(*negate)),
        Match::RpFilter {
            loose,
            accept_local,
            negate,
            ..
        } => {
            let back = if *loose {
                "by any interface"
            } else {
                "by the interface it came in by"
            };
            let own = if *accept_local {
                " or is this host's own"
            } else {
                ""
            };
            format!("{}from a source that routes back {back}{own}", not(*negate))
        }
        Match::DeviceGroup {
            output,
            value,
            mask,
            negate,
        } => format!(
            "{}{} an interface of group {value:#x}/{mask:#x}",
            not(*negate),
            if *output {
                "leaving through"
            } else {
                "arriving on"
            }
        ),
        Match::HopLimit { cmp, value } => {
            let how = match cmp {
                Compare::Equal => "",
                Compare::NotEqual => "not ",
                Compare::Less => "below ",
                Compare::Greater => "above ",
            };
            format!("with TTL/hop limit {how}{value}")
        }
        Match::DsField {
            value,
            mask,
            negate,
        } => format!("{}with TOS {value:#04x}/{mask:#04x}", not(*negate)),
        _ => return None,
    })
}

/// A user or group id, or a range of them.
fn id_text(min: u32, max: u32) -> String {
    if min == max {
        min.to_string()
    } else {
        format!("{min}-{max}")
    }
}

fn packet_type_text(kind: PacketType) -> &'static str {
    match kind {
        PacketType::Unicast => "unicast",
        PacketType::Broadcast => "broadcast",
        PacketType::Multicast => "multicast",
        PacketType::OtherHost => "otherhost",
    }
}

/// Rate limits, counters, lists and sets.
fn state_text(m: &Match) -> Option<String> {
    Some(match m {
        Match::Limit { rate, burst, over } => limit_text(rate, *burst, *over),
        Match::HashLimit {
            name,
            rate,
            over,
            key,
            bytes,
            ..
        } => hashlimit_text(name, rate, *bytes, *over, key),
        Match::ConnLimit { count, above, .. } => connlimit_text(*count, *above),
        Match::Recent {
            name,
            action,
            seconds,
            hitcount,
            side,
            negate,
            ..
        } => format!(
            "{}{} {}",
            not(*negate),
            side_text(*side),
            recent_text(name, *action, *seconds, *hitcount)
        ),
        Match::InSet {
            name,
            sides,
            negate,
            options,
        } => format!(
            "{}{} in set {name}{}",
            sides_text(sides),
            negated(*negate),
            options.text(true)
        ),
        Match::Statistic { mode, negate } => format!("{}{}", not(*negate), statistic_text(mode)),
        Match::ConnBytes {
            counter,
            dir,
            min,
            max,
            negate,
        } => {
            let what = match counter {
                ConnCounter::Packets => "packets",
                ConnCounter::Bytes => "bytes",
                ConnCounter::AvgPacket => "bytes per packet",
            };
            let side = match dir {
                Some(CtDirection::Original) => " in the original direction",
                Some(CtDirection::Reply) => " in the reply direction",
                None => "",
            };
            let span = if max == &u64::MAX {
                format!("at least {min}")
            } else {
                format!("{min}-{max}")
            };
            format!("{}on a connection with {span} {what}{side}", not(*negate))
        }
        Match::Quota { bytes, negate } => {
            if *negate {
                format!("once more than {bytes} bytes have passed")
            } else {
                format!("until {bytes} bytes have passed")
            }
        }
        _ => return None,
    })
}

fn negated(negate: bool) -> &'static str {
    if negate {
        " not"
    } else {
        ""
    }
}

fn match_text(m: &Match) -> Option<String> {
    if let Match::Comment { .. } = m {
        return None;
    }
    where_text(m)
        .or_else(|| packet_text(m))
        .or_else(|| state_text(m))
        .filter(|text| !text.is_empty())
}

fn action_text(a: &Action) -> String {
    match a {
        Action::Accept => "accept".into(),
        Action::Drop => "drop".into(),
        Action::Reject(_) => "reject".into(),
        Action::Return => "return".into(),
        Action::Continue => "count".into(),
        Action::Jump(c) => format!("check chain {c}"),
        Action::Goto(c) => format!("go to chain {c}"),
        Action::Log { prefix, .. } => {
            format!("log (prefix {:?})", prefix.clone().unwrap_or_default())
        }
        Action::Masquerade { .. } => "masquerade (take the outgoing interface's address)".into(),
        Action::Snat(t) => match t.addrs {
            Some((a, _)) => format!("rewrite the source to {a}"),
            None => "rewrite the source port".into(),
        },
        Action::Dnat(t) => {
            let port = t
                .ports
                .map(|p| format!(" port {}", p.first))
                .unwrap_or_default();
            match t.addrs {
                Some((a, _)) => format!("send to {a}{port}"),
                None => format!("send to{port}"),
            }
        }
        Action::Redirect { ports, .. } => match ports {
            Some(p) => format!("redirect to port {} of this host", p.first),
            None => "redirect to this host".into(),
        },
        Action::TcpMss(MssValue::Fixed(n)) => format!("lower a SYN's TCP MSS to {n}"),
        Action::TcpMss(MssValue::PathMtu) => "lower a SYN's TCP MSS to fit the route's MTU".into(),
        Action::Trace => "trace (nft monitor trace shows its path)".into(),
        Action::Xt(ext) => format!("run `{}`", ext.text),
        Action::SynProxy(_) => "answer the handshake with a SYN cookie (SYNPROXY)".into(),
        Action::Tproxy(t) => format!(
            "hand to a transparent socket on port {} without changing addresses (TPROXY)",
            t.port
        ),
        Action::Dscp(n) => format!("set the DSCP to {n:#04x}"),
        Action::Ecn(_) => "change the ECN bits (ECN)".into(),
        Action::ChecksumFill => "count (CHECKSUM --checksum-fill fills in nothing in moat)".into(),
        Action::IpSetUpdate(update) => format!("update ipsets:{}", update.text(true)),
        Action::ConnSecMark(copy) => match copy {
            SecMarkCopy::Save => "copy the packet's security mark to its connection".into(),
            SecMarkCopy::Restore => "copy the connection's security mark to the packet".into(),
        },
        Action::Tos { value, mask } => format!("set the TOS to {value:#04x}/{mask:#04x}"),
        Action::Ttl(op) | Action::HopLimit(op) => match op {
            TtlOp::Set(n) => format!("set the hop limit (TTL) to {n}"),
            TtlOp::Dec(n) => format!("lower the hop limit (TTL) by {n}"),
            TtlOp::Inc(n) => format!("raise the hop limit (TTL) by {n}"),
        },
        Action::Classify(class) => format!(
            "put in traffic-control class {:x}:{:x}",
            class >> 16,
            class & 0xffff
        ),
        Action::Queue { first, last, .. } if first == last => {
            format!("hand to the program reading queue {first}, which decides")
        }
        Action::Queue { first, last, .. } => {
            format!("hand to the programs reading queues {first}-{last}, which decide")
        }
        Action::Netmap { to, side } => match side {
            NatSide::Destination => format!("map the destination into {to}"),
            NatSide::Source => format!("map the source into {to}"),
        },
        Action::NfLog { group, .. } => format!("log to netlink group {group} (NFLOG)"),
        Action::SetMark(m) => format!("set the packet mark to {:#x}/{:#x}", m.value, m.mask),
        Action::SetConnMark(m) => {
            format!("set the connection mark to {:#x}/{:#x}", m.value, m.mask)
        }
        Action::SaveMark { .. } => "copy the packet mark to its connection".into(),
        Action::RestoreMark { .. } => "copy the connection's mark to the packet".into(),
        Action::NoTrack => "leave untracked by conntrack (NOTRACK)".into(),
        Action::CtZone { id, .. } => format!("track in conntrack zone {id}"),
        Action::CtZoneFromMark { .. } => "track in the conntrack zone its mark names".into(),
        Action::CtHelper { helper, .. } => format!("give the connection the {helper} helper"),
        Action::CtEvents { .. } => "choose which conntrack events are reported".into(),
        Action::CtTimeout { policy, .. } => {
            format!("give the connection the timeout policy {policy}")
        }
        Action::CtSeveral(parts) => {
            let texts: Vec<String> = parts.iter().map(action_text).collect();
            texts.join(" and ")
        }
        Action::TcpOptStrip(kinds) => {
            let kinds: Vec<String> = kinds.iter().map(u8::to_string).collect();
            format!("strip TCP options {}", kinds.join(","))
        }
    }
}

/// The intent a moat.toml rule carries in its comment (`service ssh`), if any.
pub fn intent(rule: &Rule) -> Option<String> {
    rule.matches.iter().find_map(|m| match m {
        Match::Comment { text } => text.strip_prefix(crate::INTENT_PREFIX).map(str::to_string),
        _ => None,
    })
}

/// A rule in words, e.g. `tcp to port 22 arriving on eth0: accept`.
pub fn describe(rule: &Rule) -> String {
    let conditions: Vec<String> = rule.matches.iter().filter_map(match_text).collect();
    let action = action_text(&rule.action);
    if conditions.is_empty() {
        format!("every packet: {action}")
    } else {
        format!("{}: {action}", conditions.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_model::matches::TcpFlags;

    /// Every action reads as words, not as the model's field names.
    #[test]
    fn conntrack_and_mark_actions_read_as_words() {
        for (action, words) in [
            (Action::NoTrack, "leave untracked by conntrack (NOTRACK)"),
            (
                Action::CtHelper {
                    helper: "ftp".into(),
                    proto: 6,
                },
                "give the connection the ftp helper",
            ),
            (
                Action::CtZone { id: 5, dir: None },
                "track in conntrack zone 5",
            ),
            (
                Action::SetMark(moat_model::MarkSet {
                    value: 1,
                    mask: 0xffff_ffff,
                }),
                "set the packet mark to 0x1/0xffffffff",
            ),
            (Action::TcpOptStrip(vec![2, 8]), "strip TCP options 2,8"),
            (
                Action::CtSeveral(vec![
                    Action::CtHelper {
                        helper: "ftp".into(),
                        proto: 6,
                    },
                    Action::CtZone { id: 5, dir: None },
                ]),
                "give the connection the ftp helper and track in conntrack zone 5",
            ),
        ] {
            assert_eq!(action_text(&action), words);
        }
    }

    /// `m` with its negation set; the match has no wildcard arm, so a new
    /// kind of match does not compile until the corpus below covers it.
    fn negate(m: &Match) -> Match {
        let mut m = m.clone();
        match &mut m {
            Match::Protocol { negate, .. }
            | Match::SourceNet { negate, .. }
            | Match::DestNet { negate, .. }
            | Match::SourceRange { negate, .. }
            | Match::DestRange { negate, .. }
            | Match::AddrMask { negate, .. }
            | Match::InInterface { negate, .. }
            | Match::OutInterface { negate, .. }
            | Match::Fragment { negate }
            | Match::SourcePort { negate, .. }
            | Match::DestPort { negate, .. }
            | Match::AnyPort { negate, .. }
            | Match::TcpFlags { negate, .. }
            | Match::Icmp { negate, .. }
            | Match::Icmpv6 { negate, .. }
            | Match::ConnState { negate, .. }
            | Match::ConnStatus { negate, .. }
            | Match::ConnProto { negate, .. }
            | Match::ConnAddr { negate, .. }
            | Match::ConnPort { negate, .. }
            | Match::ConnExpire { negate, .. }
            | Match::SourceMac { negate, .. }
            | Match::Mark { negate, .. }
            | Match::ConnMark { negate, .. }
            | Match::PacketType { negate, .. }
            | Match::Length { negate, .. }
            | Match::Recent { negate, .. }
            | Match::InSet { negate, .. }
            | Match::Statistic { negate, .. }
            | Match::SocketUid { negate, .. }
            | Match::SocketGid { negate, .. }
            | Match::DsField { negate, .. }
            | Match::Quota { negate, .. }
            | Match::ConnBytes { negate, .. }
            | Match::Cpu { negate, .. }
            | Match::DeviceGroup { negate, .. }
            | Match::Realm { negate, .. }
            | Match::RpFilter { negate, .. } => *negate = true,
            Match::AddrType { src, dst, .. } => {
                for (_, negate) in [src, dst].into_iter().flatten() {
                    *negate = true;
                }
            }
            Match::Limit { over, .. } | Match::HashLimit { over, .. } => *over = true,
            Match::ConnLimit { above, .. } => *above = true,
            Match::ConnDirection { dir } => *dir = CtDirection::Reply,
            Match::HopLimit { cmp, .. } => *cmp = Compare::NotEqual,
            // Its arguments carry the inversion.
            Match::Comment { .. } | Match::Xt(_) => {}
        }
        m
    }

    fn port(n: u16) -> Vec<PortRange> {
        vec![PortRange { first: n, last: n }]
    }

    fn iface(name: &str) -> Iface {
        Iface {
            name: name.into(),
            wildcard: false,
        }
    }

    fn rate() -> Rate {
        Rate {
            count: 17,
            unit: RateUnit::Minute,
        }
    }

    /// Every kind of match, each with the text its description must hold.
    fn corpus() -> Vec<(Match, &'static str)> {
        vec![
            (
                Match::Xt(moat_model::XtExtension {
                    name: "string".into(),
                    revision: 1,
                    info: vec![0; 160],
                    text: "-m string --string \"GET\" --algo bm".into(),
                    hooks: Vec::new(),
                    builtin_hooks: Vec::new(),
                    stage: None,
                }),
                "--string \"GET\"",
            ),
            (
                Match::Protocol {
                    proto: 6,
                    negate: false,
                },
                "tcp",
            ),
            (
                Match::SourceNet {
                    net: "10.1.0.0/16".parse().unwrap(),
                    negate: false,
                },
                "10.1.0.0/16",
            ),
            (
                Match::DestNet {
                    net: "10.2.0.0/16".parse().unwrap(),
                    negate: false,
                },
                "10.2.0.0/16",
            ),
            (
                Match::SourceRange {
                    from: "10.0.0.1".parse().unwrap(),
                    to: "10.0.0.9".parse().unwrap(),
                    negate: false,
                },
                "10.0.0.1-10.0.0.9",
            ),
            (
                Match::AddrMask {
                    side: SetSide::Source,
                    addr: "10.0.0.2".parse().unwrap(),
                    mask: "255.0.255.255".parse().unwrap(),
                    negate: false,
                },
                "from 10.0.0.2 under mask 255.0.255.255",
            ),
            (
                Match::DestRange {
                    from: "10.0.1.1".parse().unwrap(),
                    to: "10.0.1.9".parse().unwrap(),
                    negate: false,
                },
                "10.0.1.1-10.0.1.9",
            ),
            (
                Match::InInterface {
                    iface: iface("eth7"),
                    negate: false,
                },
                "eth7",
            ),
            (
                Match::OutInterface {
                    iface: iface("eth8"),
                    negate: false,
                },
                "eth8",
            ),
            (Match::Fragment { negate: false }, "fragment"),
            (
                Match::SourcePort {
                    proto: 6,
                    ports: port(1234),
                    negate: false,
                },
                "1234",
            ),
            (
                Match::DestPort {
                    proto: 6,
                    ports: port(9000),
                    negate: false,
                },
                "9000",
            ),
            (
                Match::AnyPort {
                    proto: 17,
                    ports: port(53),
                    negate: false,
                },
                "53",
            ),
            (
                Match::TcpFlags {
                    flags: TcpFlags {
                        mask: 0x17,
                        set: 0x02,
                    },
                    negate: false,
                },
                "0x02",
            ),
            (
                Match::Icmp {
                    kind: 3,
                    code: Some(4),
                    negate: false,
                },
                "type 3 code 4",
            ),
            (
                Match::Icmpv6 {
                    kind: 1,
                    code: None,
                    negate: false,
                },
                "type 1",
            ),
            (
                Match::ConnState {
                    states: ConnStates(ConnStates::NEW),
                    negate: false,
                },
                "new",
            ),
            (
                Match::ConnStatus {
                    status: 4,
                    negate: false,
                },
                "assured",
            ),
            (
                Match::ConnProto {
                    proto: 17,
                    negate: false,
                },
                "udp",
            ),
            (
                Match::ConnAddr {
                    which: ConntrackAddr::OrigDest,
                    net: "10.3.0.0/16".parse().unwrap(),
                    negate: false,
                },
                "original destination 10.3.0.0/16",
            ),
            (
                Match::ConnPort {
                    which: ConntrackAddr::ReplySource,
                    range: PortRange {
                        first: 80,
                        last: 80,
                    },
                    negate: false,
                },
                "reply source port 80",
            ),
            (
                Match::ConnExpire {
                    min: 10,
                    max: 20,
                    negate: false,
                },
                "10-20",
            ),
            (
                Match::ConnDirection {
                    dir: CtDirection::Original,
                },
                "direction",
            ),
            (
                Match::SourceMac {
                    mac: [0, 0x11, 0x22, 0x33, 0x44, 0x55],
                    negate: false,
                },
                "00:11:22:33:44:55",
            ),
            (
                Match::Mark {
                    value: 0x2a,
                    mask: 0xff,
                    negate: false,
                },
                "0x2a",
            ),
            (
                Match::ConnMark {
                    value: 0x2b,
                    mask: 0xff,
                    negate: false,
                },
                "0x2b",
            ),
            (
                Match::AddrType {
                    src: None,
                    dst: Some((AddrTypes(4), false)),
                    limit_iface_in: false,
                    limit_iface_out: false,
                },
                "local",
            ),
            (
                Match::PacketType {
                    kind: PacketType::Broadcast,
                    negate: false,
                },
                "broadcast",
            ),
            (
                Match::Length {
                    min: 40,
                    max: 60,
                    negate: false,
                },
                "40-60",
            ),
            (
                Match::Limit {
                    rate: rate(),
                    burst: 3,
                    over: false,
                },
                "17/minute",
            ),
            (
                Match::HashLimit {
                    name: "perip".into(),
                    rate: rate(),
                    burst: 3,
                    over: false,
                    key: LimitKey {
                        src_prefix: Some(32),
                        dst_prefix: None,
                        src_port: false,
                        dst_port: false,
                    },
                    expire_ms: 1000,
                    bytes: false,
                    max_keys: None,
                },
                "17/minute",
            ),
            (
                Match::ConnLimit {
                    count: 15,
                    above: false,
                    prefix: 32,
                    by_source: true,
                },
                "15",
            ),
            (
                Match::Recent {
                    name: "scanners".into(),
                    action: RecentAction::Check,
                    seconds: Some(60),
                    hitcount: Some(4),
                    side: SetSide::Source,
                    negate: false,
                    rttl: false,
                    reap: false,
                    mask: None,
                },
                "scanners",
            ),
            (
                Match::InSet {
                    name: "badhosts".into(),
                    sides: vec![SetSide::Source],
                    negate: false,
                    options: Default::default(),
                },
                "badhosts",
            ),
            (
                Match::Statistic {
                    mode: StatisticMode::Nth {
                        every: 3,
                        packet: 0,
                    },
                    negate: false,
                },
                "3",
            ),
            (
                Match::SocketUid {
                    min: 1000,
                    max: 1999,
                    negate: false,
                },
                "user 1000-1999",
            ),
            (
                Match::SocketGid {
                    min: 5,
                    max: 5,
                    negate: false,
                },
                "group 5",
            ),
            (
                Match::HopLimit {
                    cmp: Compare::Equal,
                    value: 64,
                },
                "hop limit",
            ),
            (
                Match::DsField {
                    value: 0xb8,
                    mask: 0xfc,
                    negate: false,
                },
                "0xb8/0xfc",
            ),
            (
                Match::Quota {
                    bytes: 5000,
                    negate: false,
                },
                "5000 bytes",
            ),
            (
                Match::ConnBytes {
                    counter: ConnCounter::Bytes,
                    dir: Some(CtDirection::Reply),
                    min: 1000,
                    max: u64::MAX,
                    negate: false,
                },
                "at least 1000 bytes in the reply direction",
            ),
            (
                Match::Cpu {
                    cpu: 3,
                    negate: false,
                },
                "CPU 3",
            ),
            (
                Match::DeviceGroup {
                    output: true,
                    value: 2,
                    mask: u32::MAX,
                    negate: false,
                },
                "group 0x2",
            ),
            (
                Match::Realm {
                    value: 7,
                    mask: 0xff,
                    negate: false,
                },
                "realm 0x7/0xff",
            ),
            (
                Match::RpFilter {
                    loose: false,
                    valid_mark: true,
                    accept_local: false,
                    negate: false,
                },
                "routes back by the interface",
            ),
        ]
    }

    #[test]
    fn every_match_kind_is_described_with_its_values_and_negation() {
        for (m, names) in corpus() {
            let plain = match_text(&m).unwrap_or_else(|| panic!("{m:?} has no words"));
            assert!(plain.contains(names), "{m:?}: {plain:?} lacks {names:?}");
            assert!(!plain.contains("not"), "{m:?}: {plain:?}");
            if matches!(m, Match::Xt(_)) {
                // Its own arguments carry any inversion, in its text.
                continue;
            }
            let negated = negate(&m);
            let text = match_text(&negated).unwrap();
            assert!(
                text.contains(names),
                "{negated:?}: {text:?} lacks {names:?}"
            );
            assert_ne!(text, plain, "{m:?} reads the same negated");
            let opposite = ["not", "above", "over", "more than", "reply"];
            assert!(
                opposite.iter().any(|w| text.contains(w)),
                "{negated:?}: {text:?} does not say it is the opposite"
            );
        }
    }

    #[test]
    fn set_matches_name_the_set_and_say_not() {
        let rule = |negate| Rule {
            matches: vec![Match::InSet {
                name: "badhosts".into(),
                sides: vec![SetSide::Source],
                negate,
                options: Default::default(),
            }],
            ..Rule::new(Action::Drop)
        };
        assert_eq!(describe(&rule(false)), "source in set badhosts: drop");
        assert_eq!(describe(&rule(true)), "source not in set badhosts: drop");
    }

    #[test]
    fn every_match_kind_is_in_the_corpus() {
        let kinds: std::collections::BTreeSet<String> = corpus()
            .iter()
            .map(|(m, _)| {
                format!("{m:?}")
                    .split([' ', '{', '('])
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        // Comment has no words by design; every other kind is there once.
        assert_eq!(kinds.len(), 45);
    }
}
