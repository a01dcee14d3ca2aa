//! Rules in words a person reads, for `moat diff` and `moat status`.

use moat_model::{Action, ConnStates, Match, PortRange, Rule, StatisticMode};

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

fn match_text(m: &Match) -> Option<String> {
    Some(match m {
        Match::Protocol { proto, negate } => format!("{}{}", not(*negate), proto_name(*proto)),
        Match::SourceNet { net, negate } => format!("{}from {net}", not(*negate)),
        Match::DestNet { net, negate } => format!("{}to {net}", not(*negate)),
        Match::SourceRange { from, to, negate } => format!("{}from {from}-{to}", not(*negate)),
        Match::DestRange { from, to, negate } => format!("{}to {from}-{to}", not(*negate)),
        Match::InInterface { iface, negate } => {
            format!(
                "{}arriving on {}{}",
                not(*negate),
                iface.name,
                if iface.wildcard { "*" } else { "" }
            )
        }
        Match::OutInterface { iface, negate } => {
            format!(
                "{}leaving through {}{}",
                not(*negate),
                iface.name,
                if iface.wildcard { "*" } else { "" }
            )
        }
        Match::DestPort { ports, negate, .. } => {
            format!("{}to {}", not(*negate), ports_text(ports))
        }
        Match::SourcePort { ports, negate, .. } => {
            format!("{}from {}", not(*negate), ports_text(ports))
        }
        Match::AnyPort { ports, negate, .. } => format!("{}on {}", not(*negate), ports_text(ports)),
        Match::ConnState { states, negate } => format!("{}{}", not(*negate), states_text(*states)),
        Match::Icmp { kind: 8, .. } | Match::Icmpv6 { kind: 128, .. } => "ping requests".into(),
        Match::Icmp { kind, .. } | Match::Icmpv6 { kind, .. } => format!("ICMP type {kind}"),
        Match::Limit { rate, burst, .. } => {
            format!("at most {}/{:?} (bursts of {burst})", rate.count, rate.unit).to_lowercase()
        }
        Match::HashLimit { rate, over, .. } => {
            let r = format!("{}/{:?}", rate.count, rate.unit).to_lowercase();
            if *over {
                format!("when a source opens more than {r}")
            } else {
                format!("while a source stays under {r}")
            }
        }
        Match::ConnLimit { count, above, .. } => {
            if *above {
                format!("when a source already has more than {count} connections")
            } else {
                format!("while a source has at most {count} connections")
            }
        }
        Match::Statistic { mode, .. } => match mode {
            StatisticMode::Random { probability } => format!("with probability {probability:.3}"),
            StatisticMode::Nth { every, .. } => format!("every {every}th connection reaching it"),
        },
        Match::AddrType { dst: Some(_), .. } => "to one of this host's addresses".into(),
        Match::Comment { .. } => return None,
        other => format!("{other:?}")
            .split_whitespace()
            .next()
            .unwrap_or("match")
            .trim_matches('{')
            .to_lowercase(),
    })
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
        other => format!("{other:?}").to_lowercase(),
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
