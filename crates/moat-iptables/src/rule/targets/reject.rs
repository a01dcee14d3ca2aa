//! The REJECT target.

use moat_model::{Action, Family, RejectKind};

use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{begins_ignoring_case, push_opt};

/// IPv4 reject types: canonical name, alias, what is sent.
const IPV4: &[(&str, &str, RejectKind)] = &[
    ("icmp-net-unreachable", "net-unreach", RejectKind::Icmp(0)),
    ("icmp-host-unreachable", "host-unreach", RejectKind::Icmp(1)),
    (
        "icmp-proto-unreachable",
        "proto-unreach",
        RejectKind::Icmp(2),
    ),
    ("icmp-port-unreachable", "port-unreach", RejectKind::Icmp(3)),
    ("icmp-net-prohibited", "net-prohib", RejectKind::Icmp(9)),
    ("icmp-host-prohibited", "host-prohib", RejectKind::Icmp(10)),
    ("tcp-reset", "tcp-rst", RejectKind::TcpReset),
    (
        "icmp-admin-prohibited",
        "admin-prohib",
        RejectKind::Icmp(13),
    ),
];

/// IPv6 reject types: canonical name, alias, what is sent.
const IPV6: &[(&str, &str, RejectKind)] = &[
    ("icmp6-no-route", "no-route", RejectKind::Icmpv6(0)),
    (
        "icmp6-adm-prohibited",
        "adm-prohibited",
        RejectKind::Icmpv6(1),
    ),
    (
        "icmp6-addr-unreachable",
        "addr-unreach",
        RejectKind::Icmpv6(3),
    ),
    (
        "icmp6-port-unreachable",
        "port-unreach",
        RejectKind::Icmpv6(4),
    ),
    ("tcp-reset", "tcp-reset", RejectKind::TcpReset),
    ("icmp6-policy-fail", "policy-fail", RejectKind::Icmpv6(5)),
    ("icmp6-reject-route", "reject-route", RejectKind::Icmpv6(6)),
];

/// The index of the default type (port unreachable) in both tables.
const PORT_UNREACHABLE: usize = 3;

fn table(family: Family) -> &'static [(&'static str, &'static str, RejectKind)] {
    match family {
        Family::Ipv4 => IPV4,
        Family::Ipv6 => IPV6,
    }
}

/// `-j REJECT [--reject-with TYPE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reject {
    family: Family,
    with: Option<usize>,
}

impl Reject {
    /// A REJECT with the default type.
    pub(crate) fn new(family: Family) -> Self {
        Reject { family, with: None }
    }

    fn entry(&self) -> (&'static str, RejectKind) {
        let t = table(self.family);
        let (name, _, kind) = t[self.with.unwrap_or(PORT_UNREACHABLE).min(t.len() - 1)];
        (name, kind)
    }

    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        Action::Reject(self.entry().1)
    }
}

impl Extension for Reject {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--reject-with", 1, false)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.with, "--reject-with")?;
        let v = o.value();
        let t = table(self.family);
        // As iptables: the first type whose name or alias starts with the
        // word, in any case (`icmp-port-unreach`, `ADMIN`).
        let starts = |name: &str| begins_ignoring_case(name, v);
        match t
            .iter()
            .position(|(name, alias, _)| !v.is_empty() && (starts(name) || starts(alias)))
        {
            Some(i) => self.with = Some(i),
            None => {
                let other = table(self.family.other());
                let hint = if other.iter().any(|(n, a, _)| *n == v || *a == v) {
                    match self.family {
                        Family::Ipv4 => " (that is an ip6tables type)".to_string(),
                        Family::Ipv6 => " (that is an iptables type)".to_string(),
                    }
                } else {
                    crate::rule::suggest::did_you_mean(v, t.iter().map(|(n, _, _)| *n))
                };
                let names: Vec<&str> = t.iter().map(|(n, _, _)| *n).collect();
                return fail(format!(
                    "--reject-with: unknown reject type \"{v}\"{hint}; valid types: {}",
                    names.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if self.entry().1 == RejectKind::TcpReset && cx.plain_proto() != Some(6) {
            return refused_by_kernel("--reject-with tcp-reset needs -p tcp (only TCP packets can be answered with a reset)");
        }
        if self.with.is_none() {
            self.with = Some(PORT_UNREACHABLE);
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        push_opt(out, false, "--reject-with", Some(self.entry().0));
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(&format!(" reject-with {}", self.entry().0));
    }
}
