//! The canonical `iptables -S` words of a rule.

use super::names::protocol_name;
use super::values::push_opt;
use super::RuleSpec;

/// The rule words after `-A CHAIN`, in iptables' order: `-s -d -i -o -p -f`, the
/// matches in the order they were loaded, then the target.
pub(crate) fn to_args(spec: &RuleSpec) -> String {
    // Room for most rules' text at once.
    let mut out = String::with_capacity(128);
    if let Some((net, inv)) = &spec.source {
        push_opt(&mut out, *inv, "-s", Some(&net.with_mask()));
    }
    if let Some((net, inv)) = &spec.destination {
        push_opt(&mut out, *inv, "-d", Some(&net.with_mask()));
    }
    if let Some((name, inv)) = shown_iface(&spec.in_iface) {
        push_opt(&mut out, inv, "-i", Some(name));
    }
    if let Some((name, inv)) = shown_iface(&spec.out_iface) {
        push_opt(&mut out, inv, "-o", Some(name));
    }
    if let Some((p, inv)) = spec.protocol {
        push_opt(&mut out, inv, "-p", Some(&*protocol_name(p)));
    }
    if let Some(inv) = spec.fragment {
        push_opt(&mut out, inv, "-f", None);
    }
    for m in &spec.matches {
        m.save(&mut out);
    }
    if let Some(t) = &spec.target {
        t.save(&mut out);
    }
    match out.strip_prefix(' ') {
        Some(rest) => rest.to_string(),
        None => out,
    }
}

/// An `-i`/`-o` as iptables shows it: a plain `+` (every interface) not at all.
pub(super) fn shown_iface(slot: &Option<(String, bool)>) -> Option<(&str, bool)> {
    match slot {
        Some((name, false)) if name == "+" => None,
        Some((name, inv)) => Some((name, *inv)),
        None => None,
    }
}
