//! The addrtype match: the routing type of the source and destination addresses.

use moat_model::{AddrTypes, Match};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{name_list, parse_name_list, push_opt};

/// Address types in the order iptables prints them.
const TYPES: &[(&str, u16)] = &[
    ("UNSPEC", 1),
    ("UNICAST", 2),
    ("LOCAL", 4),
    ("BROADCAST", 8),
    ("ANYCAST", 16),
    ("MULTICAST", 32),
    ("BLACKHOLE", 64),
    ("UNREACHABLE", 128),
    ("PROHIBIT", 256),
    ("THROW", 512),
    ("NAT", 1024),
    ("XRESOLVE", 2048),
];

/// `-m addrtype`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct AddrType {
    src: Option<(u16, bool)>,
    dst: Option<(u16, bool)>,
    limit_in: bool,
    limit_out: bool,
}

impl AddrType {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        out.push(Match::AddrType {
            src: self.src.map(|(b, inv)| (AddrTypes(b), inv)),
            dst: self.dst.map(|(b, inv)| (AddrTypes(b), inv)),
            limit_iface_in: self.limit_in,
            limit_iface_out: self.limit_out,
        });
    }
}

impl Extension for AddrType {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--src-type", 1, true),
            opt("--dst-type", 1, true),
            opt("--limit-iface-in", 0, false),
            opt("--limit-iface-out", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        match o.name {
            "--src-type" => {
                once(&self.src, o.name)?;
                self.src = Some((parse_name_list(o.value(), o.name, TYPES, 0)?, o.invert));
            }
            "--dst-type" => {
                once(&self.dst, o.name)?;
                self.dst = Some((parse_name_list(o.value(), o.name, TYPES, 0)?, o.invert));
            }
            "--limit-iface-in" => self.limit_in = true,
            _ => self.limit_out = true,
        }
        if self.limit_in && self.limit_out {
            return fail("use only one of --limit-iface-in and --limit-iface-out");
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.src.is_none() && self.dst.is_none() {
            return fail("the addrtype match needs --src-type or --dst-type");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        for (name, slot) in [("--src-type", self.src), ("--dst-type", self.dst)] {
            if let Some((bits, inv)) = slot {
                push_opt(out, inv, name, Some(&name_list(bits, TYPES, 0)));
            }
        }
        if self.limit_in {
            out.push_str(" --limit-iface-in");
        }
        if self.limit_out {
            out.push_str(" --limit-iface-out");
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" ADDRTYPE match");
        for (name, slot) in [("src-type", self.src), ("dst-type", self.dst)] {
            if let Some((bits, inv)) = slot {
                out.push_str(&format!(
                    " {name} {}{}",
                    if inv { "!" } else { "" },
                    name_list(bits, TYPES, 0)
                ));
            }
        }
        if self.limit_in {
            out.push_str(" limit-in");
        }
        if self.limit_out {
            out.push_str(" limit-out");
        }
    }
}
