//! `-m srh` (ip6tables): fields of an IPv6 Segment Routing Header
//! (ip6t_srh, revision 1). As in iptables, the three comparisons of a
//! field share its one value (the last given), and the segment addresses
//! take a prefix length.

use std::net::Ipv6Addr;

use moat_model::addr_text::ip_text;
use moat_model::{Family, XtExtension, XtLayout};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{mask_prefix, number_in, parse_net_unmasked, AddrSyntax};

/// The one-byte fields: their option stem, and their equal/greater/less
/// flag bits (`IP6T_SRH_*`).
const FIELDS: [(&str, [u16; 3]); 3] = [
    ("hdr-len", [0x0002, 0x0004, 0x0008]),
    ("segs-left", [0x0010, 0x0020, 0x0040]),
    ("last-entry", [0x0080, 0x0100, 0x0200]),
];
/// The comparisons, in the order of the bits above.
const COMPARISONS: [&str; 3] = ["eq", "gt", "lt"];
const NEXT_HDR: u16 = 0x0001;
const TAG: u16 = 0x0400;
/// The previous, next and last segment addresses.
const SIDS: [(&str, u16); 3] = [("psid", 0x0800), ("nsid", 0x1000), ("lsid", 0x2000)];

const OPTIONS: &[OptDef] = &[
    opt("--srh-next-hdr", 1, true).once(),
    opt("--srh-hdr-len-eq", 1, true).once(),
    opt("--srh-hdr-len-gt", 1, true).once(),
    opt("--srh-hdr-len-lt", 1, true).once(),
    opt("--srh-segs-left-eq", 1, true).once(),
    opt("--srh-segs-left-gt", 1, true).once(),
    opt("--srh-segs-left-lt", 1, true).once(),
    opt("--srh-last-entry-eq", 1, true).once(),
    opt("--srh-last-entry-gt", 1, true).once(),
    opt("--srh-last-entry-lt", 1, true).once(),
    opt("--srh-tag", 1, true).once(),
    opt("--srh-psid", 1, true).once(),
    opt("--srh-nsid", 1, true).once(),
    opt("--srh-lsid", 1, true).once(),
];

/// `-m srh`: `struct ip6t_srh1`'s fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Srh {
    next_hdr: u8,
    /// hdr-len, segs-left, last-entry.
    values: [u8; 3],
    tag: u16,
    /// psid, nsid, lsid: address and prefix length.
    sids: [(Option<Ipv6Addr>, u8); 3],
    flags: u16,
    inverted: u16,
}

impl Srh {
    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let mut info = XtLayout::new();
        info.u8(self.next_hdr)
            .u8(self.values[0])
            .u8(self.values[1])
            .u8(self.values[2])
            .u16(self.tag)
            .align(4);
        for (addr, _) in self.sids {
            info.bytes(&addr.unwrap_or(Ipv6Addr::UNSPECIFIED).octets(), 16);
        }
        for (_, prefix) in self.sids {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            info.bytes(&mask.to_be_bytes(), 16);
        }
        info.u16(self.flags).u16(self.inverted);
        super::kernel_ext("-m", "srh", 1, info.finish(), self)
    }

    fn has(&self, bit: u16) -> bool {
        self.flags & bit != 0
    }

    fn bang(&self, bit: u16) -> bool {
        self.inverted & bit != 0
    }

    /// Each test as (option stem, value, negated), in iptables' order.
    fn tests(&self) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        if self.has(NEXT_HDR) {
            out.push((
                "next-hdr".into(),
                self.next_hdr.to_string(),
                self.bang(NEXT_HDR),
            ));
        }
        for ((stem, bits), value) in FIELDS.iter().zip(self.values) {
            for (word, bit) in COMPARISONS.iter().zip(bits) {
                if self.has(*bit) {
                    out.push((format!("{stem}-{word}"), value.to_string(), self.bang(*bit)));
                }
            }
        }
        if self.has(TAG) {
            out.push(("tag".into(), self.tag.to_string(), self.bang(TAG)));
        }
        for ((name, bit), (addr, prefix)) in SIDS.iter().zip(self.sids) {
            if let (true, Some(addr)) = (self.has(*bit), addr) {
                out.push((
                    (*name).into(),
                    format!("{}/{prefix}", ip_text(addr.into())),
                    self.bang(*bit),
                ));
            }
        }
        out
    }
}

impl Extension for Srh {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let stem = &o.name["--srh-".len()..];
        let (v, invert) = (o.value(), o.invert);
        let bit = if stem == "next-hdr" {
            self.next_hdr = number_in(v, o.name, 0, 255)? as u8;
            NEXT_HDR
        } else if stem == "tag" {
            self.tag = number_in(v, o.name, 0, 65535)? as u16;
            TAG
        } else if let Some(i) = SIDS.iter().position(|(name, _)| *name == stem) {
            let net = parse_net_unmasked(v, Family::Ipv6, o.name, AddrSyntax::Xtables)?;
            let Some(prefix) = mask_prefix(net.mask) else {
                return fail(format!(
                    "{}: give the segment's mask as a prefix length, not {v}",
                    o.name
                ));
            };
            let std::net::IpAddr::V6(addr) = net.addr else {
                return fail(format!("{}: {v} is not an IPv6 address", o.name));
            };
            self.sids[i] = (Some(addr), prefix);
            SIDS[i].1
        } else {
            // hdr-len-eq and the like (the option table admits no other).
            let (name, cmp) = stem.rsplit_once('-').unwrap_or((stem, ""));
            let field = FIELDS.iter().position(|(n, _)| *n == name).unwrap_or(0);
            let which = COMPARISONS.iter().position(|c| *c == cmp).unwrap_or(0);
            self.values[field] = number_in(v, o.name, 0, 255)? as u8;
            FIELDS[field].1[which]
        };
        self.flags |= bit;
        if invert {
            self.inverted |= bit;
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        Ok(())
    }

    fn save(&self, out: &mut String) {
        for (stem, value, bang) in self.tests() {
            let bang = if bang { " !" } else { "" };
            out.push_str(&format!("{bang} --srh-{stem} {value}"));
        }
    }

    /// iptables lists the segment addresses as `psid ! ADDR/LEN` (two
    /// spaces when not negated), the rest as `NAME:[!]VALUE`.
    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" srh");
        for (stem, value, bang) in self.tests() {
            let bang = if bang { "!" } else { "" };
            if stem.ends_with("sid") {
                out.push_str(&format!(" {stem} {bang} {value}"));
            } else {
                out.push_str(&format!(" {stem}:{bang}{value}"));
            }
        }
    }
}
