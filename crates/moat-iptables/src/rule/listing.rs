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

/// The protocol names iptables uses in the line of `echo` (its built-in
/// table, not `/etc/protocols`: GRE is `47` there).
const ECHO_PROTOCOLS: &[(u8, &str)] = &[
    (0, "all"),
    (1, "icmp"),
    (6, "tcp"),
    (17, "udp"),
    (50, "esp"),
    (51, "ah"),
    (58, "ipv6-icmp"),
    (132, "sctp"),
    (135, "mobility-header"),
    (136, "udplite"),
];

/// The line iptables prints with `-v` for each rule it adds, replaces,
/// deletes or checks: the `-L -n` columns, labelled and unpadded.
pub(crate) fn echo(spec: &RuleSpec) -> String {
    let row = listing(spec, true);
    let (proto, proto_inv) = spec.protocol.unwrap_or((0, false));
    let prot = ECHO_PROTOCOLS
        .iter()
        .find(|(n, _)| *n == proto)
        .map_or_else(|| proto.to_string(), |(_, name)| name.to_string());
    let slot = |inv: bool| if inv { "!" } else { " " };
    let source = row.source.strip_prefix('!');
    let destination = row.destination.strip_prefix('!');
    format!(
        "{} {}{prot} opt {} in {} out {} {}{} {}-> {}  {}",
        row.target,
        slot(proto_inv),
        row.opt,
        row.iface_in,
        row.iface_out,
        slot(source.is_some()),
        source.unwrap_or(&row.source),
        slot(destination.is_some()),
        destination.unwrap_or(&row.destination),
        row.extra,
    )
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
