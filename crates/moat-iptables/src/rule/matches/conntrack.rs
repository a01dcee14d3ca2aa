//! The state match and the conntrack match.

use moat_model::{ConnStates, ConntrackAddr, CtDirection, Match, PortRange};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::names::parse_protocol_as_written;
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{
    family_bits, mask_prefix, name_list, parse_name_list, parse_net_unmasked,
    parse_port_range_reversible, prefix_mask, push_opt, u32_value, AddrSyntax, Net,
};
use crate::rule::Warning;

/// Connection states in the order iptables prints them.
const STATES: &[(&str, u8)] = &[
    ("INVALID", ConnStates::INVALID),
    ("NEW", ConnStates::NEW),
    ("RELATED", ConnStates::RELATED),
    ("ESTABLISHED", ConnStates::ESTABLISHED),
    ("UNTRACKED", ConnStates::UNTRACKED),
    ("SNAT", ConnStates::SNAT),
    ("DNAT", ConnStates::DNAT),
];

/// The states the state match knows (conntrack adds SNAT and DNAT).
const PLAIN_STATES: &[(&str, u8)] = &[
    ("INVALID", ConnStates::INVALID),
    ("NEW", ConnStates::NEW),
    ("RELATED", ConnStates::RELATED),
    ("ESTABLISHED", ConnStates::ESTABLISHED),
    ("UNTRACKED", ConnStates::UNTRACKED),
];

/// Connection status bits in the order iptables prints them.
const STATUSES: &[(&str, u32)] = &[
    // No bit: a connection with none of the others.
    ("NONE", 0),
    ("EXPECTED", 1),
    ("SEEN_REPLY", 2),
    ("ASSURED", 4),
    ("CONFIRMED", 8),
];

/// `-m state --state ...`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct StateMatch {
    states: Option<(u8, bool)>,
}

impl StateMatch {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((bits, negate)) = self.states {
            out.push(Match::ConnState {
                states: ConnStates(bits),
                negate,
            });
        }
    }
}

impl Extension for StateMatch {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--state", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.states, "--state")?;
        self.states = Some((
            parse_name_list(o.value(), "--state", PLAIN_STATES, 0)?,
            o.invert,
        ));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.states.is_none() {
            return fail("the state match needs --state (for example --state ESTABLISHED,RELATED)");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((bits, inv)) = self.states {
            push_opt(out, inv, "--state", Some(&name_list(bits, STATES, 0)));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((bits, inv)) = self.states {
            out.push_str(&format!(
                "{} state {}",
                if inv { " !" } else { "" },
                name_list(bits, STATES, 0)
            ));
        }
    }
}

const CONNTRACK_OPTIONS: &[OptDef] = &[
    opt("--ctstate", 1, true),
    opt("--ctproto", 1, true),
    opt("--ctorigsrc", 1, true),
    opt("--ctorigdst", 1, true),
    opt("--ctreplsrc", 1, true),
    opt("--ctrepldst", 1, true),
    opt("--ctorigsrcport", 1, true),
    opt("--ctorigdstport", 1, true),
    opt("--ctreplsrcport", 1, true),
    opt("--ctrepldstport", 1, true),
    opt("--ctstatus", 1, true),
    opt("--ctexpire", 1, true),
    opt("--ctdir", 1, false),
];

/// The four tuple parts, in the order iptables prints them.
const TUPLE: [(ConntrackAddr, &str); 4] = [
    (ConntrackAddr::OrigSource, "ctorigsrc"),
    (ConntrackAddr::OrigDest, "ctorigdst"),
    (ConntrackAddr::ReplySource, "ctreplsrc"),
    (ConntrackAddr::ReplyDest, "ctrepldst"),
];

/// `-m conntrack`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Conntrack {
    state: Option<(u8, bool)>,
    proto: Option<(u8, bool)>,
    addrs: [Option<(Net, bool)>; 4],
    ports: [Option<(PortRange, bool)>; 4],
    status: Option<(u32, bool)>,
    expire: Option<(u32, u32, bool)>,
    dir: Option<CtDirection>,
}

fn tuple_index(name: &str, suffix: &str) -> Option<usize> {
    TUPLE
        .iter()
        .position(|(_, n)| format!("--{n}{suffix}") == name)
}

fn range_text(a: u32, b: u32) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}:{b}")
    }
}

impl Conntrack {
    fn parse_expire(s: &str) -> Res<(u32, u32)> {
        let (a, b) = match s.split_once(':') {
            // iptables reads a missing end as the smallest or largest value.
            Some((a, b)) => (
                if a.is_empty() {
                    0
                } else {
                    u32_value(a, "--ctexpire")?
                },
                if b.is_empty() {
                    u32::MAX
                } else {
                    u32_value(b, "--ctexpire")?
                },
            ),
            None => {
                let a = u32_value(s, "--ctexpire")?;
                (a, a)
            }
        };
        Ok((a, b))
    }

    /// Each option as (name, value text, negated), in `-S` order.
    /// Each test's option name, value and negation; `named` gives
    /// addresses as plain `-L` does (a zero address is `anywhere`, others
    /// by their name in /etc/hosts or /etc/networks).
    fn parts(&self, named: bool) -> Vec<(String, String, bool)> {
        let mut v = Vec::new();
        if let Some((bits, inv)) = self.state {
            v.push(("ctstate".into(), name_list(bits, STATES, 0), inv));
        }
        if let Some((p, inv)) = self.proto {
            v.push(("ctproto".into(), p.to_string(), inv));
        }
        for (i, (_, name)) in TUPLE.iter().enumerate() {
            if let Some((net, inv)) = self.addrs[i] {
                let text = match named {
                    true if net.addr.is_unspecified() => "anywhere".to_string(),
                    true => net.display_named(),
                    false => net.display(),
                };
                v.push(((*name).into(), text, inv));
            }
        }
        for (i, (_, name)) in TUPLE.iter().enumerate() {
            if let Some((r, inv)) = self.ports[i] {
                v.push((
                    format!("{name}port"),
                    range_text(r.first.into(), r.last.into()),
                    inv,
                ));
            }
        }
        if let Some((s, inv)) = self.status {
            let text = if s == 0 {
                "NONE".to_string()
            } else {
                name_list(s, STATUSES, 0)
            };
            v.push(("ctstatus".into(), text, inv));
        }
        if let Some((a, b, inv)) = self.expire {
            v.push(("ctexpire".into(), range_text(a, b), inv));
        }
        if let Some(d) = self.dir {
            let text = match d {
                CtDirection::Original => "ORIGINAL",
                CtDirection::Reply => "REPLY",
            };
            v.push(("ctdir".into(), text.into(), false));
        }
        v
    }

    /// The model conditions.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) -> Res<()> {
        if let Some((bits, negate)) = self.state {
            out.push(Match::ConnState {
                states: ConnStates(bits),
                negate,
            });
        }
        if let Some((proto, negate)) = self.proto {
            out.push(Match::ConnProto { proto, negate });
        }
        for (i, (which, name)) in TUPLE.iter().enumerate() {
            if let Some((net, negate)) = self.addrs[i] {
                let net = crate::rule::lower::ipnet(net, &format!("--{name}"))?;
                out.push(Match::ConnAddr {
                    which: *which,
                    net,
                    negate,
                });
            }
        }
        for (i, (which, _)) in TUPLE.iter().enumerate() {
            if let Some((range, negate)) = self.ports[i] {
                out.push(Match::ConnPort {
                    which: *which,
                    range,
                    negate,
                });
            }
        }
        if let Some((status, negate)) = self.status {
            out.push(Match::ConnStatus { status, negate });
        }
        if let Some((min, max, negate)) = self.expire {
            out.push(Match::ConnExpire { min, max, negate });
        }
        if let Some(dir) = self.dir {
            out.push(Match::ConnDirection { dir });
        }
        Ok(())
    }
}

impl Extension for Conntrack {
    fn options(&self) -> &'static [OptDef] {
        CONNTRACK_OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let (v, inv) = (o.value(), o.invert);
        match o.name {
            "--ctstate" => {
                once(&self.state, o.name)?;
                self.state = Some((parse_name_list(v, o.name, STATES, 0)?, inv));
            }
            "--ctproto" => {
                once(&self.proto, o.name)?;
                // iptables takes all (0), which no connection has.
                let p = parse_protocol_as_written(v, o.name)?;
                self.proto = Some((p, inv));
            }
            "--ctstatus" => {
                once(&self.status, o.name)?;
                self.status = Some((parse_name_list(v, o.name, STATUSES, 0)?, inv));
            }
            "--ctexpire" => {
                once(&self.expire, o.name)?;
                let (a, b) = Self::parse_expire(v)?;
                if a > b {
                    o.warn_reversed();
                }
                self.expire = Some((a, b, inv));
            }
            "--ctdir" => {
                once(&self.dir, o.name)?;
                self.dir = Some(if v.eq_ignore_ascii_case("ORIGINAL") {
                    CtDirection::Original
                } else if v.eq_ignore_ascii_case("REPLY") {
                    CtDirection::Reply
                } else {
                    return fail(format!("--ctdir takes ORIGINAL or REPLY, not \"{v}\""));
                });
            }
            name => {
                if let Some(i) = tuple_index(name, "port") {
                    once(&self.ports[i], name)?;
                    self.ports[i] = Some((parse_port_range_reversible(o, "tcp")?, inv));
                } else if let Some(i) = tuple_index(name, "") {
                    once(&self.addrs[i], name)?;
                    let mut net = parse_net_unmasked(v, o.family, name, AddrSyntax::Resolver)?;
                    if mask_prefix(net.mask).is_none() {
                        net.mask = prefix_mask(family_bits(o.family), o.family);
                        o.warnings.push(Warning::advice(format!(
                            "{name} {v}: iptables keeps only the address of a mask that is not a \
                             prefix, as moat does; the rule matches {} exactly",
                            net.addr
                        )));
                    }
                    self.addrs[i] = Some((net, inv));
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.parts(false).is_empty() {
            return fail("the conntrack match needs at least one option, such as --ctstate");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        for (name, value, inv) in self.parts(false) {
            push_opt(out, inv, &format!("--{name}"), Some(&value));
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        for (name, value, inv) in self.parts(!numeric) {
            out.push_str(&format!("{} {name} {value}", if inv { " !" } else { "" }));
        }
    }
}
