//! The multiport match: up to 15 ports or port ranges.

use moat_model::{Match, PortRange};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{alias, opt, OptDef};
use crate::rule::values::{parse_port, port_display, port_range_text, push_opt};

const OPTIONS: &[OptDef] = &[
    alias("--source-ports", "--sports", 1, true),
    opt("--sports", 1, true),
    alias("--destination-ports", "--dports", 1, true),
    opt("--dports", 1, true),
    opt("--ports", 1, true),
];

/// Which ports multiport tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Dest,
    Either,
}

impl Side {
    fn word(self) -> &'static str {
        match self {
            Side::Source => "sports",
            Side::Dest => "dports",
            Side::Either => "ports",
        }
    }
}

/// The transports multiport works with, by protocol number and service table name.
const TRANSPORTS: &[(u8, &str)] = &[
    (6, "tcp"),
    (17, "udp"),
    (136, "udplite"),
    (132, "sctp"),
    (33, "dccp"),
];

/// `-m multiport`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Multiport {
    ports: Option<(Side, Vec<PortRange>, bool)>,
    proto: u8,
}

fn service_proto(proto: u8) -> &'static str {
    TRANSPORTS
        .iter()
        .find(|(n, _)| *n == proto)
        .map(|&(_, s)| s)
        .unwrap_or("tcp")
}

impl Multiport {
    /// The model condition.
    pub(crate) fn lower(&self, cx: &Cx, out: &mut Vec<Match>) -> Res<()> {
        if let Some((side, ports, negate)) = &self.ports {
            let (proto, ports, negate) = (cx.proto.0, ports.clone(), *negate);
            out.push(match side {
                Side::Source => Match::SourcePort {
                    proto,
                    ports,
                    negate,
                },
                Side::Dest => Match::DestPort {
                    proto,
                    ports,
                    negate,
                },
                Side::Either => Match::AnyPort {
                    proto,
                    ports,
                    negate,
                },
            });
        }
        Ok(())
    }
}

impl Extension for Multiport {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if let Some((side, ..)) = &self.ports {
            return fail(format!(
                "multiport takes one of --sports, --dports and --ports, and it already has --{}",
                side.word()
            ));
        }
        let side = match o.name {
            "--sports" => Side::Source,
            "--dports" => Side::Dest,
            _ => Side::Either,
        };
        // iptables checks the protocol as it reads the ports: `-p` must come first.
        if o.proto.1 || !TRANSPORTS.iter().any(|(n, _)| *n == o.proto.0) {
            return fail(format!(
                "{}: multiport needs -p tcp, -p udp, -p udplite, -p sctp or -p dccp before it",
                o.name
            ));
        }
        let proto = service_proto(o.proto.0);
        let mut ports = Vec::new();
        let mut slots = 0;
        for part in o.value().split(',') {
            let range = match part.split_once(':') {
                Some((a, b)) => PortRange {
                    first: parse_port(a, proto, o.name)?,
                    last: parse_port(b, proto, o.name)?,
                },
                None => {
                    let p = parse_port(part, proto, o.name)?;
                    PortRange { first: p, last: p }
                }
            };
            // iptables takes a range only when it holds two ports or more.
            if part.contains(':') && range.first >= range.last {
                return fail(format!(
                    "{}: port range {part} must run from a lower port to a higher one",
                    o.name
                ));
            }
            slots += if range.first == range.last { 1 } else { 2 };
            ports.push(range);
        }
        if slots > 15 {
            return fail(format!(
                "{}: multiport takes at most 15 ports (a range counts as two)",
                o.name
            ));
        }
        self.proto = o.proto.0;
        self.ports = Some((side, ports, o.invert));
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if self.ports.is_none() {
            return fail("the multiport match needs --sports, --dports or --ports");
        }
        if cx.proto.1 || !TRANSPORTS.iter().any(|(n, _)| *n == cx.proto.0) {
            return fail("multiport needs -p tcp, -p udp, -p udplite, -p sctp or -p dccp");
        }
        self.proto = cx.proto.0;
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((side, ports, inv)) = &self.ports {
            let list: Vec<String> = ports.iter().map(|&r| port_range_text(r)).collect();
            push_opt(
                out,
                *inv,
                &format!("--{}", side.word()),
                Some(&list.join(",")),
            );
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        if let Some((side, ports, inv)) = &self.ports {
            let proto = service_proto(self.proto);
            let list: Vec<String> = ports
                .iter()
                .map(|r| {
                    let first = port_display(r.first, proto, numeric);
                    if r.first == r.last {
                        first
                    } else {
                        format!("{first}:{}", port_display(r.last, proto, numeric))
                    }
                })
                .collect();
            out.push_str(&format!(
                " multiport {} {}{}",
                side.word(),
                if *inv { " !" } else { "" },
                list.join(",")
            ));
        }
    }
}
