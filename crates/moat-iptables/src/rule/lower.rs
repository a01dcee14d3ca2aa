//! Lowering a rule to the moat model.

use ipnet::IpNet;
use moat_model::{Action, Counters, Family, Iface, Match, Rule, SetSide};

use super::error::{fail, Res};
use super::ext::Cx;
use super::values::{mask_prefix, Net};
use super::RuleSpec;

/// The model network of `net`, which must have a prefix mask.
pub(crate) fn ipnet(net: Net, opt: &str) -> Res<IpNet> {
    match mask_prefix(net.mask).and_then(|len| IpNet::new(net.addr, len).ok()) {
        Some(n) => Ok(n.trunc()),
        None => fail(format!(
            "{opt} {}: masks that are not a prefix cannot be expressed in moat's ruleset model",
            net.with_mask()
        )),
    }
}

/// `-s`/`-d`: a network, or for a mask that is not a prefix, the masked
/// address (`-s 10.0.0.0/255.0.255.0`).
fn addr_match(net: Net, side: SetSide, negate: bool) -> Match {
    let prefixed = mask_prefix(net.mask).and_then(|len| IpNet::new(net.addr, len).ok());
    match (prefixed, side) {
        (Some(n), SetSide::Source) => Match::SourceNet {
            net: n.trunc(),
            negate,
        },
        (Some(n), SetSide::Destination) => Match::DestNet {
            net: n.trunc(),
            negate,
        },
        (None, _) => Match::AddrMask {
            side,
            addr: net.addr,
            mask: net.mask,
            negate,
        },
    }
}

fn iface(name: &str) -> Iface {
    match name.strip_suffix('+') {
        Some(prefix) => Iface {
            name: prefix.to_string(),
            wildcard: true,
        },
        None => Iface {
            name: name.to_string(),
            wildcard: false,
        },
    }
}

/// The model rule of `spec`; `family` must be the family it was parsed for.
pub(crate) fn to_model(spec: &RuleSpec, family: Family) -> Res<Rule> {
    if family != spec.family {
        return fail(format!(
            "this rule was parsed for {:?} and cannot be used in an {:?} table",
            spec.family, family
        ));
    }
    let mut matches = Vec::new();
    if let Some((proto, negate)) = spec.protocol {
        matches.push(Match::Protocol { proto, negate });
    }
    if let Some((net, negate)) = spec.source {
        matches.push(addr_match(net, SetSide::Source, negate));
    }
    if let Some((net, negate)) = spec.destination {
        matches.push(addr_match(net, SetSide::Destination, negate));
    }
    if let Some((name, negate)) = &spec.in_iface {
        matches.push(Match::InInterface {
            iface: iface(name),
            negate: *negate,
        });
    }
    if let Some((name, negate)) = &spec.out_iface {
        matches.push(Match::OutInterface {
            iface: iface(name),
            negate: *negate,
        });
    }
    if let Some(negate) = spec.fragment {
        matches.push(Match::Fragment { negate });
    }
    let cx = Cx {
        family,
        proto: spec.protocol.unwrap_or((0, false)),
    };
    for m in &spec.matches {
        m.lower(&cx, &mut matches)?;
    }
    let action = spec.target.as_ref().map_or(Action::Continue, |t| t.lower());
    // A restore holds every rule at once: no spare room per rule.
    matches.shrink_to_fit();
    Ok(Rule {
        matches,
        action,
        counters: Counters::default(),
        source: Some(spec.to_args()),
    })
}
