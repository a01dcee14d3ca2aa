//! A jail's rules as nf_tables expressions, exactly as nft 1.0.6 encodes
//! the same rule text (see the differential kernel test).

use moat_backend::netlink::{Expr, RejectWith, Verdict};

use crate::layout::{v6_mask, Protocol, RuleSpec};

/// The expressions of rule `spec` of jail `jail`, whose sets are named
/// `set` (the address set) and the jail's ports set:
///
/// ```text
/// meta nfproto ipv4|ipv6
/// payload load saddr; [bitwise & mask]; lookup @set
/// [meta load l4proto; cmp eq PROTO]
/// [payload load th dport; lookup @JAIL.ports]
/// counter
/// reject with tcp reset | reject with icmpx port-unreachable | drop
/// ```
pub(crate) fn rule_exprs<'a>(spec: &RuleSpec, set: &'a str, ports_set: &'a str) -> Vec<Expr<'a>> {
    let (offset, len) = spec.set.source();
    let mut out: Vec<Expr<'a>> = Expr::nfproto_is(spec.set.is_v6()).into();
    out.push(Expr::LoadNetworkHeader { offset, len });
    if let Some(prefix) = spec.prefix {
        out.push(Expr::Mask(v6_mask(prefix).to_vec()));
    }
    out.push(Expr::Lookup {
        set,
        inverted: false,
    });
    if let Some(number) = spec.protocol.and_then(Protocol::number) {
        out.push(Expr::LoadL4proto);
        out.push(Expr::CmpEq(vec![number]));
        if spec.ports {
            out.push(Expr::LoadTransportHeader { offset: 2, len: 2 });
            out.push(Expr::Lookup {
                set: ports_set,
                inverted: false,
            });
        }
    }
    out.push(Expr::Counter {
        packets: 0,
        bytes: 0,
    });
    out.push(match (spec.reject, spec.protocol) {
        (false, _) => Expr::Verdict(Verdict::Drop),
        (true, Some(Protocol::Tcp)) => Expr::Reject(RejectWith::TcpReset),
        (true, _) => Expr::Reject(RejectWith::IcmpxPortUnreachable),
    });
    out
}

/// The rule text nft would list for `spec` (without counter values and
/// comment): what the differential test writes with `nft -f`.
#[cfg(test)]
pub(crate) fn rule_text(spec: &RuleSpec, jail: &str) -> String {
    use crate::layout::{ports_set_name, AddrSet};
    let set = spec.set.name(jail);
    let mut out = match (spec.set, spec.prefix) {
        (AddrSet::V4, _) => format!("ip saddr @{set}"),
        (_, Some(p)) => {
            let mask = std::net::Ipv6Addr::from(v6_mask(p));
            format!("ip6 saddr & {mask} @{set}")
        }
        (_, None) => format!("ip6 saddr @{set}"),
    };
    if let Some(p) = spec.protocol {
        out.push_str(&format!(" meta l4proto {}", p.word()));
        if spec.ports {
            out.push_str(&format!(" {} dport @{}", p.word(), ports_set_name(jail)));
        }
    }
    out.push_str(" counter ");
    out.push_str(match (spec.reject, spec.protocol) {
        (false, _) => "drop",
        (true, Some(Protocol::Tcp)) => "reject with tcp reset",
        (true, _) => "reject with icmpx port-unreachable",
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{AddrSet, JailScope};

    #[test]
    fn a_prefix_rule_masks_before_the_lookup() {
        let jail = JailScope {
            name: "web".into(),
            protocol: Protocol::Tcp,
            ports: vec![(80, 80), (443, 443)],
            all: false,
            v6_prefix: Some(64),
            reject: true,
        };
        let specs = jail.rules();
        let spec = specs.iter().find(|s| s.set == AddrSet::V6Net).unwrap();
        let exprs = rule_exprs(spec, "web.v6net", "web.ports");
        assert_eq!(
            exprs,
            vec![
                Expr::LoadNfproto,
                Expr::CmpEq(vec![10]),
                Expr::LoadNetworkHeader { offset: 8, len: 16 },
                Expr::Mask([[0xff; 8], [0; 8]].concat()),
                Expr::Lookup {
                    set: "web.v6net",
                    inverted: false
                },
                Expr::LoadL4proto,
                Expr::CmpEq(vec![6]),
                Expr::LoadTransportHeader { offset: 2, len: 2 },
                Expr::Lookup {
                    set: "web.ports",
                    inverted: false
                },
                Expr::Counter {
                    packets: 0,
                    bytes: 0
                },
                Expr::Reject(RejectWith::TcpReset),
            ]
        );
        assert_eq!(
            rule_text(spec, "web"),
            "ip6 saddr & ffff:ffff:ffff:ffff:: @web.v6net meta l4proto tcp tcp dport @web.ports counter reject with tcp reset"
        );
    }

    #[test]
    fn all_traffic_and_drop() {
        let jail = JailScope {
            name: "recidive".into(),
            protocol: Protocol::Tcp,
            ports: vec![],
            all: true,
            v6_prefix: None,
            reject: false,
        };
        let spec = &jail.rules()[0];
        let exprs = rule_exprs(spec, "recidive.v4", "recidive.ports");
        assert_eq!(exprs.len(), 6);
        assert_eq!(exprs[5], Expr::Verdict(Verdict::Drop));
        let mut udp = jail.clone();
        udp.all = false;
        udp.protocol = Protocol::Udp;
        udp.reject = true;
        let exprs = rule_exprs(&udp.rules()[0], "recidive.v4", "recidive.ports");
        assert_eq!(exprs[5], Expr::CmpEq(vec![17]));
        assert_eq!(
            exprs.last(),
            Some(&Expr::Reject(RejectWith::IcmpxPortUnreachable))
        );
    }
}
