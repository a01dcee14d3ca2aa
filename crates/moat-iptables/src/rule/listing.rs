//! The `-L` columns of a rule.

use std::borrow::Cow;

use moat_model::Family;

use super::names::protocol_name;
use super::print::shown_iface;
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

fn address(slot: &Option<(Net, bool)>, family: Family, numeric: bool) -> Cow<'static, str> {
    match slot {
        Some((net, false)) if numeric => Cow::Owned(net.display()),
        Some((net, inv)) if numeric => Cow::Owned(format!("{}{}", bang(*inv), net.display())),
        Some((net, inv)) => Cow::Owned(format!("{}{}", bang(*inv), net.display_named())),
        None if !numeric => Cow::Borrowed("anywhere"),
        None if family == Family::Ipv4 => Cow::Borrowed("0.0.0.0/0"),
        None => Cow::Borrowed("::/0"),
    }
}

/// An interface column: the interface as the rule names it (an interface
/// named `any` too), or for none `*` (`any` without `-n`), as iptables'
/// `print_ifaces` writes it.
fn iface(slot: &Option<(String, bool)>, numeric: bool) -> Cow<'_, str> {
    match shown_iface(slot) {
        Some((name, false)) => Cow::Borrowed(name),
        Some((name, true)) => Cow::Owned(format!("!{name}")),
        None if numeric => Cow::Borrowed("*"),
        None => Cow::Borrowed("any"),
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
pub(crate) fn listing(spec: &RuleSpec, numeric: bool) -> ListingRow<'_> {
    let (proto, proto_inv) = spec.protocol.unwrap_or((0, false));
    let prot = if numeric {
        Cow::Owned(proto.to_string())
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
        target: Cow::Borrowed(spec.target.as_ref().map_or("", TargetSpec::column_name)),
        prot: if proto_inv {
            Cow::Owned(format!("!{prot}"))
        } else {
            prot
        },
        opt: Cow::Borrowed(match spec.fragment {
            None => "--",
            Some(false) => "-f",
            Some(true) => "!f",
        }),
        iface_in: iface(&spec.in_iface, numeric),
        iface_out: iface(&spec.out_iface, numeric),
        source: address(&spec.source, spec.family, numeric),
        destination: address(&spec.destination, spec.family, numeric),
        extra,
    }
}
