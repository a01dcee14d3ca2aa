//! Short iptables-style text for rules, verdicts and policies.

use std::fmt::Write;

use crate::action::{Action, MssValue, NatTarget, TtlOp};
use crate::matches::{
    Compare, ConnCounter, CtDirection, Match, PortRange, Rate, RateUnit, StatisticMode,
};
use crate::ruleset::{Policy, Rule};

/// A kept rule source as iptables prints it, with `-A CHAIN` in front.
pub fn source_text(chain: &str, source: &str) -> String {
    if source.starts_with("-A ") {
        source.to_string()
    } else if source.is_empty() {
        format!("-A {chain}")
    } else {
        format!("-A {chain} {source}")
    }
}

/// The rule's iptables text: its kept source (with `-A CHAIN` in front), or
/// a description built from the model.
pub fn rule_text(chain: &str, rule: &Rule) -> String {
    match &rule.source {
        Some(s) => source_text(chain, s),
        None => {
            let mut out = format!("-A {chain}");
            for m in &rule.matches {
                out.push(' ');
                out.push_str(&match_text(m));
            }
            let target = target_text(&rule.action);
            if !target.is_empty() {
                out.push(' ');
                out.push_str(&target);
            }
            out
        }
    }
}

/// `-P CHAIN POLICY`.
pub fn policy_text(chain: &str, policy: Policy) -> String {
    format!("-P {chain} {}", policy_name(policy))
}

/// `ACCEPT` or `DROP`.
pub fn policy_name(policy: Policy) -> &'static str {
    match policy {
        Policy::Accept => "ACCEPT",
        Policy::Drop => "DROP",
    }
}

/// What a rule does to the packets it takes, in a few words.
pub fn verdict(action: &Action) -> String {
    match action {
        Action::Accept => "ACCEPT".into(),
        Action::Drop => "DROP".into(),
        Action::Return => "RETURN".into(),
        Action::Reject(_) => "REJECT".into(),
        Action::Jump(c) => format!("jump to {c}"),
        Action::Goto(c) => format!("goto {c}"),
        Action::Dnat(t) => format!("DNAT to {}", nat_text(t)),
        Action::Snat(t) => format!("SNAT to {}", nat_text(t)),
        Action::Masquerade { .. } => "MASQUERADE".into(),
        Action::Redirect { .. } => "REDIRECT".into(),
        Action::Netmap { to, .. } => format!("NETMAP to {to}"),
        Action::Queue { .. } => "NFQUEUE (a userspace program decides)".into(),
        other => target_text(other).trim_start_matches("-j ").to_string(),
    }
}

fn ports_text(ports: &[PortRange]) -> String {
    ports
        .iter()
        .map(|p| p.to_string().replace('-', ":"))
        .collect::<Vec<_>>()
        .join(",")
}

fn bang(negate: bool) -> &'static str {
    if negate {
        "! "
    } else {
        ""
    }
}

/// A protocol's iptables name (`tcp`, `udp`, `icmp`, ...) or its number.
pub fn proto_name(proto: u8) -> String {
    match proto {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "ipv6-icmp".into(),
        p => p.to_string(),
    }
}

/// Address routing types by name, comma-separated (`LOCAL,BROADCAST`).
pub fn addr_type_names(bits: u16) -> String {
    const NAMES: [&str; 12] = [
        "UNSPEC",
        "UNICAST",
        "LOCAL",
        "BROADCAST",
        "ANYCAST",
        "MULTICAST",
        "BLACKHOLE",
        "UNREACHABLE",
        "PROHIBIT",
        "THROW",
        "NAT",
        "XRESOLVE",
    ];
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

fn rate_text(rate: Rate) -> String {
    let unit = match rate.unit {
        RateUnit::Second => "sec",
        RateUnit::Minute => "min",
        RateUnit::Hour => "hour",
        RateUnit::Day => "day",
    };
    format!("{}/{unit}", rate.count)
}

/// The address (and port) a NAT rule sends connections to.
pub fn nat_text(t: &NatTarget) -> String {
    let mut out = String::new();
    if let Some((a, b)) = t.addrs {
        if a == b {
            let _ = write!(out, "{a}");
        } else {
            let _ = write!(out, "{a}-{b}");
        }
    }
    if let Some(p) = t.ports {
        let _ = write!(out, ":{p}");
    }
    out
}

/// A match in iptables spelling (`-s 10.0.0.0/8`, `! --dport 22`, ...).
pub fn match_text(m: &Match) -> String {
    match m {
        Match::Protocol { proto, negate } => format!("{}-p {}", bang(*negate), proto_name(*proto)),
        Match::SourceNet { net, negate } => format!("{}-s {net}", bang(*negate)),
        Match::DestNet { net, negate } => format!("{}-d {net}", bang(*negate)),
        Match::AddrMask {
            side,
            addr,
            mask,
            negate,
        } => {
            let opt = side.pick("-s", "-d");
            format!("{}{opt} {addr}/{mask}", bang(*negate))
        }
        Match::SourceRange { from, to, negate } => {
            format!("-m iprange {}--src-range {from}-{to}", bang(*negate))
        }
        Match::DestRange { from, to, negate } => {
            format!("-m iprange {}--dst-range {from}-{to}", bang(*negate))
        }
        Match::InInterface { iface, negate } => format!(
            "{}-i {}{}",
            bang(*negate),
            iface.name,
            if iface.wildcard { "+" } else { "" }
        ),
        Match::OutInterface { iface, negate } => format!(
            "{}-o {}{}",
            bang(*negate),
            iface.name,
            if iface.wildcard { "+" } else { "" }
        ),
        Match::Fragment { negate } => format!("{}-f", bang(*negate)),
        Match::SourcePort { ports, negate, .. } => {
            format!("{}--sport {}", bang(*negate), ports_text(ports))
        }
        Match::DestPort { ports, negate, .. } => {
            format!("{}--dport {}", bang(*negate), ports_text(ports))
        }
        Match::AnyPort { ports, negate, .. } => {
            format!(
                "-m multiport {}--ports {}",
                bang(*negate),
                ports_text(ports)
            )
        }
        Match::TcpFlags { flags, negate } => format!(
            "{}--tcp-flags {:#04x} {:#04x}",
            bang(*negate),
            flags.mask,
            flags.set
        ),
        Match::Icmp { kind, code, negate } | Match::Icmpv6 { kind, code, negate } => {
            let code = code.map(|c| format!("/{c}")).unwrap_or_default();
            format!("{}--icmp-type {kind}{code}", bang(*negate))
        }
        Match::ConnState { states, negate } => {
            let names = [
                "INVALID",
                "NEW",
                "ESTABLISHED",
                "RELATED",
                "UNTRACKED",
                "SNAT",
                "DNAT",
            ];
            let set: Vec<&str> = names
                .iter()
                .enumerate()
                .filter(|(i, _)| states.0 & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect();
            format!("-m conntrack {}--ctstate {}", bang(*negate), set.join(","))
        }
        Match::Mark {
            value,
            mask,
            negate,
        } => format!("-m mark {}--mark {value:#x}/{mask:#x}", bang(*negate)),
        Match::ConnMark {
            value,
            mask,
            negate,
        } => format!("-m connmark {}--mark {value:#x}/{mask:#x}", bang(*negate)),
        Match::Length { min, max, negate } => {
            format!("-m length {}--length {min}:{max}", bang(*negate))
        }
        Match::Statistic { mode, negate } => match mode {
            StatisticMode::Random { probability } => format!(
                "-m statistic --mode random {}--probability {probability}",
                bang(*negate)
            ),
            StatisticMode::Nth { every, packet } => format!(
                "-m statistic --mode nth {}--every {every} --packet {packet}",
                bang(*negate)
            ),
        },
        Match::Comment { text } => format!("-m comment --comment {text:?}"),
        Match::Xt(ext) => ext.text.clone(),
        Match::SocketUid { min, max, negate } => {
            format!(
                "-m owner {}--uid-owner {}",
                bang(*negate),
                id_range(*min, *max)
            )
        }
        Match::SocketGid { min, max, negate } => {
            format!(
                "-m owner {}--gid-owner {}",
                bang(*negate),
                id_range(*min, *max)
            )
        }
        Match::HopLimit { cmp, value } => {
            let (bang, option) = match cmp {
                Compare::Equal => ("", "eq"),
                Compare::NotEqual => ("! ", "eq"),
                Compare::Less => ("", "lt"),
                Compare::Greater => ("", "gt"),
            };
            // As for ICMPv6 types, IPv6 rules are spelt with IPv4's option.
            format!("-m ttl {bang}--ttl-{option} {value}")
        }
        Match::DsField {
            value,
            mask,
            negate,
        } => format!("-m tos {}--tos {value:#04x}/{mask:#04x}", bang(*negate)),
        Match::Quota { bytes, negate } => format!("-m quota {}--quota {bytes}", bang(*negate)),
        Match::Cpu { cpu, negate } => format!("-m cpu {}--cpu {cpu}", bang(*negate)),
        Match::Realm {
            value,
            mask,
            negate,
        } => format!("-m realm {}--realm {value:#x}/{mask:#x}", bang(*negate)),
        Match::RpFilter {
            loose,
            valid_mark,
            accept_local,
            negate,
        } => {
            let mut text = String::from("-m rpfilter");
            for (on, option) in [
                (*loose, " --loose"),
                (*valid_mark, " --validmark"),
                (*accept_local, " --accept-local"),
                (*negate, " --invert"),
            ] {
                if on {
                    text.push_str(option);
                }
            }
            text
        }
        Match::DeviceGroup {
            output,
            value,
            mask,
            negate,
        } => format!(
            "-m devgroup {}--{}-group {value:#x}/{mask:#x}",
            bang(*negate),
            if *output { "dst" } else { "src" }
        ),
        Match::ConnBytes {
            counter,
            dir,
            min,
            max,
            negate,
        } => {
            let mode = match counter {
                ConnCounter::Packets => "packets",
                ConnCounter::Bytes => "bytes",
                ConnCounter::AvgPacket => "avgpkt",
            };
            let dir = match dir {
                Some(CtDirection::Original) => "original",
                Some(CtDirection::Reply) => "reply",
                None => "both",
            };
            format!(
                "-m connbytes {}--connbytes {min}:{max} --connbytes-mode {mode} --connbytes-dir {dir}",
                bang(*negate)
            )
        }
        Match::InSet {
            name,
            sides,
            negate,
            options,
        } => {
            let dirs: Vec<&str> = sides.iter().map(|s| s.pick("src", "dst")).collect();
            format!(
                "-m set {}--match-set {name} {}{}",
                bang(*negate),
                dirs.join(","),
                options.text(false)
            )
        }
        Match::AddrType {
            src,
            dst,
            limit_iface_in,
            limit_iface_out,
        } => {
            let mut out = "-m addrtype".to_string();
            for (flag, side) in [("--src-type", src), ("--dst-type", dst)] {
                if let Some((types, negate)) = side {
                    let _ = write!(out, " {}{flag} {}", bang(*negate), addr_type_names(types.0));
                }
            }
            if *limit_iface_in {
                out.push_str(" --limit-iface-in");
            }
            if *limit_iface_out {
                out.push_str(" --limit-iface-out");
            }
            out
        }
        Match::Limit { rate, burst, over } => {
            let bang = if *over { "! " } else { "" };
            format!(
                "-m limit {bang}--limit {} --limit-burst {burst}",
                rate_text(*rate)
            )
        }
        Match::HashLimit {
            name,
            rate,
            over,
            bytes,
            ..
        } => {
            let kind = if *over { "above" } else { "upto" };
            let rate = if *bytes {
                format!("{}b/s", rate.count)
            } else {
                rate_text(*rate)
            };
            format!("-m hashlimit --hashlimit-{kind} {rate} --hashlimit-name {name}")
        }
        Match::ConnLimit { count, above, .. } => {
            let kind = if *above { "above" } else { "upto" };
            format!("-m connlimit --connlimit-{kind} {count}")
        }
        Match::Recent { name, negate, .. } => {
            format!("-m recent {}--name {name}", bang(*negate))
        }
        other => {
            let name = format!("{other:?}");
            let kind = name.split([' ', '{', '(']).next().unwrap_or("match");
            format!("-m {}", kind.to_lowercase())
        }
    }
}

/// `--ttl-set N` (or `-dec`, `-inc`; `hl` for HL).
fn ttl_text(prefix: &str, op: TtlOp) -> String {
    match op {
        TtlOp::Set(n) => format!("--{prefix}-set {n}"),
        TtlOp::Dec(n) => format!("--{prefix}-dec {n}"),
        TtlOp::Inc(n) => format!("--{prefix}-inc {n}"),
    }
}

/// `5`, or `1000-2000` for a range of user or group ids.
fn id_range(min: u32, max: u32) -> String {
    if min == max {
        min.to_string()
    } else {
        format!("{min}-{max}")
    }
}

fn target_text(action: &Action) -> String {
    match action {
        Action::Continue => String::new(),
        Action::Accept => "-j ACCEPT".into(),
        Action::Drop => "-j DROP".into(),
        Action::Return => "-j RETURN".into(),
        Action::Jump(c) => format!("-j {c}"),
        Action::Goto(c) => format!("-g {c}"),
        Action::Reject(_) => "-j REJECT".into(),
        Action::Log { .. } => "-j LOG".into(),
        Action::NfLog { .. } => "-j NFLOG".into(),
        Action::SetMark(m) => format!("-j MARK --set-xmark {:#x}/{:#x}", m.value, m.mask),
        Action::SetConnMark(m) => {
            format!("-j CONNMARK --set-xmark {:#x}/{:#x}", m.value, m.mask)
        }
        Action::SaveMark { .. } => "-j CONNMARK --save-mark".into(),
        Action::RestoreMark { .. } => "-j CONNMARK --restore-mark".into(),
        Action::NoTrack => "-j NOTRACK".into(),
        Action::CtZone { id, dir } => match dir {
            None => format!("-j CT --zone {id}"),
            Some(CtDirection::Original) => format!("-j CT --zone-orig {id}"),
            Some(CtDirection::Reply) => format!("-j CT --zone-reply {id}"),
        },
        Action::CtZoneFromMark { dir } => match dir {
            None => "-j CT --zone mark".into(),
            Some(CtDirection::Original) => "-j CT --zone-orig mark".into(),
            Some(CtDirection::Reply) => "-j CT --zone-reply mark".into(),
        },
        Action::CtHelper { helper, .. } => format!("-j CT --helper {helper}"),
        Action::CtTimeout { policy, .. } => format!("-j CT --timeout {policy}"),
        Action::CtEvents { mask } => {
            format!("-j CT --ctevents {}", crate::action::ct_event_names(*mask))
        }
        Action::CtSeveral(parts) => {
            let options: Vec<String> = parts
                .iter()
                .map(|part| target_text(part).replacen("-j CT ", "", 1))
                .collect();
            format!("-j CT {}", options.join(" "))
        }
        Action::Dnat(t) => format!("-j DNAT --to-destination {}", nat_text(t)),
        Action::Snat(t) => format!("-j SNAT --to-source {}", nat_text(t)),
        Action::Masquerade { .. } => "-j MASQUERADE".into(),
        Action::Redirect { ports, .. } => match ports {
            Some(p) => format!("-j REDIRECT --to-ports {p}"),
            None => "-j REDIRECT".into(),
        },
        Action::TcpMss(MssValue::Fixed(n)) => format!("-j TCPMSS --set-mss {n}"),
        Action::TcpMss(MssValue::PathMtu) => "-j TCPMSS --clamp-mss-to-pmtu".into(),
        Action::TcpOptStrip(kinds) => {
            let kinds: Vec<String> = kinds.iter().map(u8::to_string).collect();
            format!("-j TCPOPTSTRIP --strip-options {}", kinds.join(","))
        }
        Action::Ecn(change) => {
            let mut text = String::from("-j ECN");
            if let Some(ece) = change.ece {
                text.push_str(&format!(" --ecn-tcp-ece {}", u8::from(ece)));
            }
            if let Some(cwr) = change.cwr {
                text.push_str(&format!(" --ecn-tcp-cwr {}", u8::from(cwr)));
            }
            if let Some(ect) = change.ip_ect {
                text.push_str(&format!(" --ecn-ip-ect {ect}"));
            }
            text
        }
        Action::Trace => "-j TRACE".into(),
        Action::ChecksumFill => "-j CHECKSUM --checksum-fill".into(),
        Action::ConnSecMark(copy) => format!("-j CONNSECMARK --{}", copy.word()),
        Action::IpSetUpdate(update) => format!("-j SET{}", update.text(false)),
        Action::Xt(ext) => ext.text.clone(),
        Action::SynProxy(o) => {
            let mut text = String::from("-j SYNPROXY");
            if o.sack_perm {
                text.push_str(" --sack-perm");
            }
            if o.timestamp {
                text.push_str(" --timestamp");
            }
            if let Some(w) = o.wscale {
                text.push_str(&format!(" --wscale {w}"));
            }
            if let Some(m) = o.mss {
                text.push_str(&format!(" --mss {m}"));
            }
            text
        }
        Action::Tproxy(t) => format!(
            "-j TPROXY --on-port {} --on-ip {} --tproxy-mark {:#x}/{:#x}",
            t.port, t.addr, t.mark, t.mask
        ),
        Action::Netmap { to, .. } => format!("-j NETMAP --to {to}"),
        Action::Dscp(n) => format!("-j DSCP --set-dscp {n:#04x}"),
        Action::Tos { value, mask } => format!("-j TOS --set-tos {value:#04x}/{mask:#04x}"),
        Action::Ttl(op) => format!("-j TTL {}", ttl_text("ttl", *op)),
        Action::HopLimit(op) => format!("-j HL {}", ttl_text("hl", *op)),
        Action::Classify(class) => format!(
            "-j CLASSIFY --set-class {:04x}:{:04x}",
            class >> 16,
            class & 0xffff
        ),
        Action::Queue {
            first,
            last,
            bypass,
            fanout,
        } => {
            let mut text = if first == last {
                format!("-j NFQUEUE --queue-num {first}")
            } else {
                format!("-j NFQUEUE --queue-balance {first}:{last}")
            };
            if *bypass {
                text.push_str(" --queue-bypass");
            }
            if *fanout {
                text.push_str(" --queue-cpu-fanout");
            }
            text
        }
    }
}
