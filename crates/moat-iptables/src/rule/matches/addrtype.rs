//! The addrtype match: the routing type of the source and destination addresses.

use moat_model::{AddrTypes, Family, Hook, Match, XtExtension, XtLayout};

use crate::rule::compat::kernel_ext;
use crate::rule::error::{fail, refused_by_kernel, Res};
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

/// ip6tables' address classes: UNSPEC, UNICAST and MULTICAST, each its own test.
const IPV6_CLASSES: [u16; 3] = [1, 2, 32];
/// ip6tables' route types: LOCAL, ANYCAST and UNREACHABLE, one lookup for all.
const IPV6_ROUTES: u16 = 4 | 16 | 128;

/// The revision-1 flags of xt_addrtype.
const INVERT_SOURCE: u32 = 1;
const INVERT_DEST: u32 = 2;
const LIMIT_IFACE_IN: u32 = 4;
const LIMIT_IFACE_OUT: u32 = 8;

/// Whether an IPv6 type list negated asks "not all of these", which
/// nf_tables cannot test in one rule: more than one class or route test.
fn ipv6_not_all(types: u16) -> bool {
    let classes = IPV6_CLASSES.iter().filter(|&&c| types & c != 0).count();
    classes + usize::from(types & IPV6_ROUTES != 0) > 1
}

impl AddrType {
    /// The model condition: nf_tables' fib lookups, or the kernel's xt_addrtype
    /// (as iptables-nft uses it) for a negated IPv6 list of several tests.
    pub(crate) fn lower(&self, cx: &Cx, out: &mut Vec<Match>) {
        let not_all =
            |slot: Option<(u16, bool)>| slot.is_some_and(|(b, inv)| inv && ipv6_not_all(b));
        if cx.family == Family::Ipv6 && (not_all(self.src) || not_all(self.dst)) {
            out.push(Match::Xt(self.ext()));
            return;
        }
        out.push(Match::AddrType {
            src: self.src.map(|(b, inv)| (AddrTypes(b), inv)),
            dst: self.dst.map(|(b, inv)| (AddrTypes(b), inv)),
            limit_iface_in: self.limit_in,
            limit_iface_out: self.limit_out,
        });
    }

    /// The kernel extension (revision 1): the two type masks and the flags.
    fn ext(&self) -> XtExtension {
        let (src, invert_src) = self.src.unwrap_or_default();
        let (dst, invert_dst) = self.dst.unwrap_or_default();
        let flags = [
            (invert_src, INVERT_SOURCE),
            (invert_dst, INVERT_DEST),
            (self.limit_in, LIMIT_IFACE_IN),
            (self.limit_out, LIMIT_IFACE_OUT),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, bit)| acc | bit);
        let mut layout = XtLayout::new();
        layout.u16(src).u16(dst).u32(flags);
        let mut ext = kernel_ext("-m", "addrtype", 1, layout.finish(), self);
        // xt_addrtype checks these as the rule is added, so only in a
        // built-in chain.
        if self.limit_in {
            ext.builtin_hooks = vec![Hook::Prerouting, Hook::Input, Hook::Forward];
        } else if self.limit_out {
            ext.builtin_hooks = vec![Hook::Forward, Hook::Output, Hook::Postrouting];
        }
        ext
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

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if self.src.is_none() && self.dst.is_none() {
            return fail("the addrtype match needs --src-type or --dst-type");
        }
        // xt_addrtype takes these in IPv6 only; the kernel refuses the
        // others when the rule is added (exit status 4).
        let ipv6_types = IPV6_CLASSES.iter().fold(IPV6_ROUTES, |all, c| all | c);
        let asked = self
            .src
            .iter()
            .chain(&self.dst)
            .fold(0, |all, (bits, _)| all | bits);
        if cx.family == Family::Ipv6 && asked & !ipv6_types != 0 {
            return refused_by_kernel(format!(
                "the kernel's addrtype module refuses {} in IPv6 (it takes UNSPEC, UNICAST, \
                 LOCAL, ANYCAST, MULTICAST and UNREACHABLE)",
                name_list(asked & !ipv6_types, TYPES, 0)
            ));
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
