//! Address translation targets: DNAT, SNAT, MASQUERADE, REDIRECT and NETMAP.

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use moat_model::{Match, NatSide, NatTarget, PortRange};
use nftables::expr::{Expression, Map, NamedExpression, Prefix, SetItem};
use nftables::stmt::{NATFlag, Statement, NAT};

use super::addr::check_family;
use super::build::{num, payload, range, text, value_or_range};
use super::ports::port_protocol;
use super::{refuse, CompileError, Cx};

/// `dnat to ADDR[-ADDR][:PORT[-PORT]] [random,persistent]`.
pub(super) fn dnat(target: &NatTarget, cx: &Cx) -> Result<Statement<'static>, CompileError> {
    Ok(Statement::DNAT(Some(translation(
        target,
        NatSide::Destination,
        cx,
    )?)))
}

/// `snat to ADDR[-ADDR][:PORT[-PORT]] [random,persistent]`.
pub(super) fn snat(target: &NatTarget, cx: &Cx) -> Result<Statement<'static>, CompileError> {
    Ok(Statement::SNAT(Some(translation(
        target,
        NatSide::Source,
        cx,
    )?)))
}

/// `masquerade [to :PORTS] [random] [fully-random]`.
pub(super) fn masquerade(
    ports: Option<PortRange>,
    random: bool,
    fully_random: bool,
    cx: &Cx,
) -> Result<Statement<'static>, CompileError> {
    let flags = Flags {
        random,
        fully_random,
        persistent: false,
    };
    Ok(Statement::Masquerade(local(
        ports,
        flags,
        "MASQUERADE",
        cx,
    )?))
}

/// `redirect [to :PORTS] [random]`.
pub(super) fn redirect(
    ports: Option<PortRange>,
    random: bool,
    cx: &Cx,
) -> Result<Statement<'static>, CompileError> {
    let flags = Flags {
        random,
        ..Flags::default()
    };
    Ok(Statement::Redirect(local(ports, flags, "REDIRECT", cx)?))
}

/// NETMAP: `dnat prefix to NET/LEN` (or `snat` for sources), which maps
/// each address into the network keeping its host part. The nftables
/// crate cannot write the prefix flags; a translation to a prefix is
/// always this one, and [`super::finish_json`] adds them.
pub(super) fn netmap(
    to: IpNet,
    side: NatSide,
    cx: &Cx,
) -> Result<Statement<'static>, CompileError> {
    check_family(to.addr(), cx.family)?;
    let to = to.trunc();
    let nat = NAT {
        addr: Some(Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(text(to.addr().to_string())),
            len: to.prefix_len().into(),
        }))),
        family: None,
        port: None,
        flags: None,
    };
    Ok(match side {
        NatSide::Destination => Statement::DNAT(Some(nat)),
        NatSide::Source => Statement::SNAT(Some(nat)),
    })
}

fn translation(target: &NatTarget, side: NatSide, cx: &Cx) -> Result<NAT<'static>, CompileError> {
    let what = match side {
        NatSide::Destination => "DNAT",
        NatSide::Source => "SNAT",
    };
    if target.addrs.is_none() && target.ports.is_none() {
        return refuse(format!("{what} needs an address or a port to translate to"));
    }
    let port = match (target.ports, target.port_base) {
        (Some(p), Some(base)) => Some(shifted_ports(p, base, side, cx)?),
        (p, _) => p.map(|p| ports(p, what, cx)).transpose()?,
    };
    Ok(NAT {
        addr: target.addrs.map(|(a, b)| addresses(a, b, cx)).transpose()?,
        family: None,
        port,
        flags: Flags {
            random: target.random,
            fully_random: target.fully_random,
            persistent: target.persistent,
        }
        .nft(),
    })
}

fn local(
    ports_to: Option<PortRange>,
    flags: Flags,
    what: &str,
    cx: &Cx,
) -> Result<Option<NAT<'static>>, CompileError> {
    let flags = flags.nft();
    if ports_to.is_none() && flags.is_none() {
        return Ok(None);
    }
    Ok(Some(NAT {
        addr: None,
        family: None,
        port: ports_to.map(|p| ports(p, what, cx)).transpose()?,
        flags,
    }))
}

fn addresses(first: IpAddr, last: IpAddr, cx: &Cx) -> Result<Expression<'static>, CompileError> {
    check_family(first, cx.family)?;
    check_family(last, cx.family)?;
    // A range that runs backwards is kept as iptables keeps it (only the
    // netlink driver writes it; see `action::needs_netlink`).
    Ok(if first == last {
        text(first.to_string())
    } else {
        range(text(first.to_string()), text(last.to_string()))
    })
}

/// Port translation; like iptables, it needs `-p` of a protocol with ports,
/// or ICMP, whose query id the kernel translates as a port.
fn ports(ports: PortRange, what: &str, cx: &Cx) -> Result<Expression<'static>, CompileError> {
    if !cx.protocol().is_some_and(moat_model::nat_translates_ports) {
        return refuse(format!(
            "{what} to ports needs -p tcp, udp, dccp, sctp, udplite or icmp"
        ));
    }
    if ports.first > ports.last {
        return refuse(format!(
            "port range {}-{} is backwards",
            ports.first, ports.last
        ));
    }
    Ok(value_or_range(ports.first.into(), ports.last.into()))
}

/// A port shift (`FIRST-LAST/BASE`) as nf_tables can do it: each port the
/// rule's earlier port match lets through (the destination port for DNAT,
/// the source port for SNAT) maps to the one xt_nat gives it, `FIRST +
/// (PORT - BASE) % (LAST - FIRST + 1)` in 16 bits, in an inline map keyed
/// by that port. nf_tables' nat has no base of its own, so a shift needs
/// the port match.
fn shifted_ports(
    to: PortRange,
    base: u16,
    side: NatSide,
    cx: &Cx,
) -> Result<Expression<'static>, CompileError> {
    let source = side == NatSide::Source;
    let what = if source { "SNAT" } else { "DNAT" };
    let proto = cx.protocol().and_then(port_protocol);
    let Some(proto) = proto else {
        return refuse(format!(
            "{what} to ports needs -p tcp, udp, dccp, sctp or udplite"
        ));
    };
    if to.first > to.last {
        return refuse(format!("port range {}-{} is backwards", to.first, to.last));
    }
    let matched = cx.earlier().iter().find_map(|m| match m {
        Match::DestPort {
            ports,
            negate: false,
            ..
        } if !source => Some(ports),
        Match::SourcePort {
            ports,
            negate: false,
            ..
        } if source => Some(ports),
        _ => None,
    });
    let (field, option) = if source {
        ("sport", "--sport")
    } else {
        ("dport", "--dport")
    };
    let Some(matched) = matched else {
        return refuse(format!(
            "{what} shifts ports ({}-{}/{base}), which nf_tables does port by port: the rule \
             needs {option} naming the ports it shifts",
            to.first, to.last
        ));
    };
    let size = u32::from(to.last - to.first) + 1;
    let ports: BTreeSet<u16> = matched.iter().flat_map(|r| r.first..=r.last).collect();
    let items = ports
        .into_iter()
        .map(|port| {
            let offset = u32::from(port.wrapping_sub(base));
            let mapped = u32::from(to.first) + offset % size;
            SetItem::Mapping(num(port.into()), num(mapped))
        })
        .collect();
    Ok(Expression::Named(NamedExpression::Map(Box::new(Map {
        key: payload(proto, field),
        data: Expression::Named(NamedExpression::Set(items)),
    }))))
}

/// How a translation chooses ports and addresses.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    random: bool,
    fully_random: bool,
    persistent: bool,
}

impl Flags {
    /// nft's flags (`random`, `fully-random`, `persistent`), None when none.
    fn nft(self) -> Option<HashSet<NATFlag>> {
        let flags: HashSet<_> = [
            (self.random, NATFlag::Random),
            (self.fully_random, NATFlag::FullyRandom),
            (self.persistent, NATFlag::Persistent),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| f)
        .collect();
        (!flags.is_empty()).then_some(flags)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{action_json, canonical, compile_json, v4, v6};
    use moat_model::{Action, Match, NatTarget, PortRange, Rule};

    fn tcp(action: Action) -> Rule {
        Rule {
            matches: vec![Match::Protocol {
                proto: 6,
                negate: false,
            }],
            ..Rule::new(action)
        }
    }

    #[test]
    fn dnat_range_ports_and_flags() {
        let target = NatTarget {
            addrs: Some(("10.0.0.1".parse().unwrap(), "10.0.0.9".parse().unwrap())),
            ports: Some(PortRange {
                first: 80,
                last: 90,
            }),
            port_base: None,
            random: true,
            fully_random: false,
            persistent: true,
        };
        assert_eq!(
            canonical(compile_json(&tcp(Action::Dnat(target.clone())), v4()).unwrap()[2].clone()),
            json!({"dnat": {"addr": {"range": ["10.0.0.1", "10.0.0.9"]},
                "port": {"range": [80, 90]}, "flags": ["persistent", "random"]}})
        );
        // Ports need a protocol; addresses the table's family.
        assert!(compile_json(&Rule::new(Action::Dnat(target.clone())), v4()).is_err());
        assert!(compile_json(&tcp(Action::Dnat(target)), v6()).is_err());
    }

    #[test]
    fn port_shifts_map_each_matched_port() {
        let target = NatTarget {
            addrs: Some(("10.0.0.1".parse().unwrap(), "10.0.0.1".parse().unwrap())),
            ports: Some(PortRange {
                first: 80,
                last: 82,
            }),
            port_base: Some(7000),
            random: false,
            fully_random: false,
            persistent: false,
        };
        let rule = |ports: Vec<PortRange>| Rule {
            matches: vec![
                Match::Protocol {
                    proto: 6,
                    negate: false,
                },
                Match::DestPort {
                    proto: 6,
                    ports,
                    negate: false,
                },
            ],
            ..Rule::new(Action::Dnat(target.clone()))
        };
        let one = |p| PortRange { first: p, last: p };
        let json = compile_json(
            &rule(vec![
                PortRange {
                    first: 7000,
                    last: 7002,
                },
                one(100),
            ]),
            v4(),
        );
        let stmts = json.unwrap();
        let dnat = canonical(stmts.as_array().unwrap().last().unwrap().clone());
        assert_eq!(
            dnat,
            json!({"dnat": {"addr": "10.0.0.1", "port": {"map": {
                "key": {"payload": {"protocol": "tcp", "field": "dport"}},
                "data": {"set": [[100, 81], [7000, 80], [7001, 81], [7002, 82]]}}}}})
        );
        // nf_tables' nat has no base: without the ports it shifts, refused.
        let bare = Rule {
            matches: vec![Match::Protocol {
                proto: 6,
                negate: false,
            }],
            ..Rule::new(Action::Dnat(target.clone()))
        };
        let err = compile_json(&bare, v4()).unwrap_err();
        assert!(err.0.contains("needs --dport"), "{err:?}");
    }

    #[test]
    fn snat_single_address_masquerade_redirect() {
        let target = NatTarget {
            addrs: Some((
                "2001:db8::1".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
            )),
            ports: None,
            random: false,
            port_base: None,
            fully_random: false,
            persistent: false,
        };
        assert_eq!(
            action_json(Action::Snat(target), v6()),
            json!([{"snat": {"addr": "2001:db8::1"}}])
        );
        assert_eq!(
            action_json(
                Action::Masquerade {
                    ports: None,
                    random: false,
                    fully_random: false,
                },
                v4()
            ),
            json!([{"masquerade": null}])
        );
        let redirect = Action::Redirect {
            ports: Some(PortRange {
                first: 8080,
                last: 8080,
            }),
            random: false,
        };
        assert_eq!(
            compile_json(&tcp(redirect), v4()).unwrap()[2],
            json!({"redirect": {"port": 8080}})
        );
    }
}
