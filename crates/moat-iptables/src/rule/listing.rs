//! The `-L` columns of a rule.

use moat_model::Family;

use super::names::protocol_name;
use super::targets::TargetSpec;
use super::values::Net;
use super::{ListingRow, RuleSpec};

fn bang(inv: bool) -> &'static str {
    if inv {
        "!"
    } else {
        ""
    }
}

fn address(slot: &Option<(Net, bool)>, family: Family, numeric: bool) -> String {
    match slot {
        Some((net, inv)) if numeric => format!("{}{}", bang(*inv), net.display()),
        Some((net, inv)) => format!("{}{}", bang(*inv), net.display_named()),
        None if !numeric => "anywhere".to_string(),
        None if family == Family::Ipv4 => "0.0.0.0/0".to_string(),
        None => "::/0".to_string(),
    }
}

fn iface(slot: &Option<(String, bool)>) -> String {
    match slot {
        Some((name, inv)) => format!("{}{name}", bang(*inv)),
        None => "*".to_string(),
    }
}

/// The columns of `spec` as `iptables -L` (`numeric`: `-L -n`) shows them.
pub(crate) fn listing(spec: &RuleSpec, numeric: bool) -> ListingRow {
    let (proto, proto_inv) = spec.protocol.unwrap_or((0, false));
    let prot = if numeric {
        proto.to_string()
    } else {
        protocol_name(proto)
    };
    let mut extra = String::new();
    if let Some(TargetSpec::Chain { goto: true, .. }) = &spec.target {
        extra.push_str("[goto] ");
    }
    for m in &spec.matches {
        m.print(&mut extra, numeric);
    }
    if let Some(t) = &spec.target {
        t.print(&mut extra, numeric);
    }
    ListingRow {
        target: spec
            .target
            .as_ref()
            .map(|t| t.column_name().to_string())
            .unwrap_or_default(),
        prot: format!("{}{prot}", bang(proto_inv)),
        opt: match spec.fragment {
            None => "--",
            Some(false) => "-f",
            Some(true) => "!f",
        }
        .to_string(),
        iface_in: iface(&spec.in_iface),
        iface_out: iface(&spec.out_iface),
        source: address(&spec.source, spec.family, numeric),
        destination: address(&spec.destination, spec.family, numeric),
        extra,
    }
}
