//! `-m policy`: the IPsec policy that decapsulated a packet or will
//! encapsulate it (xt_policy, revision 0): the match strongSwan and
//! libreswan hosts use to let tunnelled traffic through.

use moat_model::{Family, Hook, XtExtension, XtLayout};

use super::{addr_field, given_and_inverted, Field};
use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{parse_net_unmasked, u32_value, AddrSyntax, Net};

/// The most policy elements one match holds.
const MAX_ELEMENTS: usize = 4;
/// `flags` bits.
const MATCH_IN: u16 = 0x1;
const MATCH_OUT: u16 = 0x2;
const MATCH_NONE: u16 = 0x4;
const MATCH_STRICT: u16 = 0x8;
/// Bits of an element's `match` and `invert` fields.
const SPEC_SADDR: u8 = 0x01;
const SPEC_DADDR: u8 = 0x02;
const SPEC_PROTO: u8 = 0x04;
const SPEC_MODE: u8 = 0x08;
const SPEC_SPI: u8 = 0x10;
const SPEC_REQID: u8 = 0x20;
/// The IPsec protocols and their numbers.
const PROTOCOLS: &[(&str, u8)] = &[("esp", 50), ("ah", 51), ("ipcomp", 108)];

/// One policy element: what one transform of the policy must be.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Element {
    reqid: Field<u32>,
    spi: Field<u32>,
    proto: Field<u8>,
    /// Tunnel mode (else transport).
    tunnel: Field<bool>,
    tunnel_src: Field<Net>,
    tunnel_dst: Field<Net>,
}

/// `-m policy`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Policy {
    /// `--dir out` (else in).
    dir_out: Option<bool>,
    /// `--pol none` (else ipsec).
    none: Option<bool>,
    strict: bool,
    elements: Vec<Element>,
}

fn proto_name(n: u8) -> &'static str {
    PROTOCOLS
        .iter()
        .find(|(_, p)| *p == n)
        .map_or("?", |(name, _)| name)
}

/// Appends ` [!] WORD VALUE` to `out` when `field` is set.
fn push<T>(out: &mut String, field: &Field<T>, word: &str, value: impl Fn(&T) -> String) {
    if let Some((v, invert)) = field {
        out.push_str(if *invert { " ! " } else { " " });
        out.push_str(word);
        out.push(' ');
        out.push_str(&value(v));
    }
}

impl Element {
    fn is_empty(&self) -> bool {
        *self == Element::default()
    }

    /// The `match` and `invert` bits.
    fn spec(&self) -> (u8, u8) {
        given_and_inverted(&[
            (self.tunnel_src.map(|f| f.1), SPEC_SADDR),
            (self.tunnel_dst.map(|f| f.1), SPEC_DADDR),
            (self.proto.map(|f| f.1), SPEC_PROTO),
            (self.tunnel.map(|f| f.1), SPEC_MODE),
            (self.spi.map(|f| f.1), SPEC_SPI),
            (self.reqid.map(|f| f.1), SPEC_REQID),
        ])
    }

    fn write(&self, layout: &mut XtLayout) {
        let zero = [0u8; 16];
        let net = |f: &Field<Net>| f.map(|(n, _)| (addr_field(n.addr), addr_field(n.mask)));
        let (saddr, smask) = net(&self.tunnel_src).unwrap_or((zero, zero));
        let (daddr, dmask) = net(&self.tunnel_dst).unwrap_or((zero, zero));
        let (matched, inverted) = self.spec();
        layout
            .bytes(&saddr, 16)
            .bytes(&smask, 16)
            .bytes(&daddr, 16)
            .bytes(&dmask, 16)
            .bytes(&self.spi.map_or(0, |f| f.0).to_be_bytes(), 4)
            .u32(self.reqid.map_or(0, |f| f.0))
            .u8(self.proto.map_or(0, |f| f.0))
            .u8(u8::from(self.tunnel.is_some_and(|f| f.0)))
            .u8(matched)
            .u8(inverted)
            .align(4);
    }

    /// Appends the element's options; `dashes` is `--` for `-S`, empty for `-L`.
    fn text(&self, out: &mut String, dashes: &str, numeric_proto: bool) {
        push(out, &self.reqid, &format!("{dashes}reqid"), u32::to_string);
        push(out, &self.spi, &format!("{dashes}spi"), |s| {
            format!("{s:#x}")
        });
        push(out, &self.proto, &format!("{dashes}proto"), |p| {
            if numeric_proto {
                p.to_string()
            } else {
                proto_name(*p).to_string()
            }
        });
        push(out, &self.tunnel, &format!("{dashes}mode"), |t| {
            if *t { "tunnel" } else { "transport" }.to_string()
        });
        push(
            out,
            &self.tunnel_dst,
            &format!("{dashes}tunnel-dst"),
            Net::display,
        );
        push(
            out,
            &self.tunnel_src,
            &format!("{dashes}tunnel-src"),
            Net::display,
        );
    }
}

impl Policy {
    fn current(&mut self) -> &mut Element {
        if self.elements.is_empty() {
            self.elements.push(Element::default());
        }
        let last = self.elements.len() - 1;
        &mut self.elements[last]
    }

    /// The direction and policy words.
    fn words(&self) -> (&'static str, &'static str) {
        let dir = if self.dir_out == Some(true) {
            "out"
        } else {
            "in"
        };
        let pol = if self.none == Some(true) {
            "none"
        } else {
            "ipsec"
        };
        (dir, pol)
    }

    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let out = self.dir_out == Some(true);
        let mut flags = if out { MATCH_OUT } else { MATCH_IN };
        if self.none == Some(true) {
            flags |= MATCH_NONE;
        }
        if self.strict {
            flags |= MATCH_STRICT;
        }
        let elements = &self.elements;
        let mut layout = XtLayout::new();
        for i in 0..MAX_ELEMENTS {
            elements
                .get(i)
                .cloned()
                .unwrap_or_default()
                .write(&mut layout);
        }
        let info = layout
            .u16(flags)
            .u16(u16::try_from(elements.len()).unwrap_or(0))
            .finish();
        let hooks = if out {
            vec![Hook::Forward, Hook::Output, Hook::Postrouting]
        } else {
            vec![Hook::Prerouting, Hook::Input, Hook::Forward]
        };
        // xt_policy checks the direction as the rule is added, so only in
        // a built-in chain.
        XtExtension {
            builtin_hooks: hooks,
            ..super::kernel_ext("-m", "policy", 0, info, self)
        }
    }
}

impl Extension for Policy {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--dir", 1, false),
            opt("--pol", 1, false),
            opt("--strict", 0, false),
            opt("--reqid", 1, true),
            opt("--spi", 1, true),
            opt("--proto", 1, true),
            opt("--mode", 1, true),
            opt("--tunnel-src", 1, true),
            opt("--tunnel-dst", 1, true),
            opt("--next", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        let inv = o.invert;
        let given = |e: &Element| match o.name {
            "--reqid" => e.reqid.is_some(),
            "--spi" => e.spi.is_some(),
            "--proto" => e.proto.is_some(),
            "--mode" => e.tunnel.is_some(),
            "--tunnel-src" => e.tunnel_src.is_some(),
            "--tunnel-dst" => e.tunnel_dst.is_some(),
            _ => false,
        };
        if given(self.current()) {
            return fail(format!(
                "policy match: {} given twice in one element (start the next with --next)",
                o.name
            ));
        }
        match o.name {
            "--dir" => {
                once(&self.dir_out, "--dir")?;
                self.dir_out = Some(match v {
                    "in" => false,
                    "out" => true,
                    _ => {
                        return fail(format!(
                            "policy match: invalid direction \"{v}\" (in or out)"
                        ))
                    }
                });
            }
            "--pol" => {
                once(&self.none, "--pol")?;
                self.none = Some(match v {
                    "none" => true,
                    "ipsec" => false,
                    _ => {
                        return fail(format!(
                            "policy match: invalid policy \"{v}\" (none or ipsec)"
                        ))
                    }
                });
            }
            "--strict" => self.strict = true,
            "--next" => {
                if self.elements.len() >= MAX_ELEMENTS {
                    return fail(format!(
                        "policy match: at most {MAX_ELEMENTS} policy elements"
                    ));
                }
                self.current();
                self.elements.push(Element::default());
            }
            "--reqid" => self.current().reqid = Some((u32_value(v, "--reqid")?, inv)),
            "--spi" => self.current().spi = Some((u32_value(v, "--spi")?, inv)),
            "--proto" => {
                let number = PROTOCOLS
                    .iter()
                    .find(|(name, n)| *name == v || n.to_string() == v)
                    .map(|&(_, n)| n);
                let Some(n) = number else {
                    return fail(format!(
                        "policy match: protocol must be ah/esp/ipcomp, not \"{v}\""
                    ));
                };
                self.current().proto = Some((n, inv));
            }
            "--mode" => {
                let tunnel = match v {
                    "tunnel" => true,
                    "transport" => false,
                    _ => {
                        return fail(format!(
                            "policy match: invalid mode \"{v}\" (transport or tunnel)"
                        ))
                    }
                };
                self.current().tunnel = Some((tunnel, inv));
            }
            name => {
                // ip6tables reads the tunnel's end as an IPv6 address alone,
                // without -s's leniency for any address with /0.
                let addr = v.split('/').next().unwrap_or_default();
                let ipv4 =
                    !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                if o.family == Family::Ipv6 && ipv4 {
                    return fail(format!("policy match: {name} {v} is not an IPv6 address"));
                }
                // Kept as written, as iptables keeps it: xt_policy masks both sides.
                let net = parse_net_unmasked(v, o.family, name, AddrSyntax::Xtables)?;
                let e = self.current();
                if name == "--tunnel-src" {
                    e.tunnel_src = Some((net, inv));
                } else {
                    e.tunnel_dst = Some((net, inv));
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.dir_out.is_none() {
            return fail("policy match: neither --dir in nor --dir out specified");
        }
        if self.none == Some(true) && self.strict {
            return fail("policy match: policy none but --strict given");
        }
        if self.elements.len() > 1 && !self.strict {
            return fail("policy: option \"--next\" also requires \"--strict\"");
        }
        for (i, e) in self.elements.iter().enumerate() {
            let addressed = e.tunnel_src.is_some() || e.tunnel_dst.is_some();
            if addressed && e.tunnel != Some((true, false)) {
                return fail(
                    "policy match: --tunnel-src/--tunnel-dst is only valid in tunnel mode",
                );
            }
            if self.strict && e.is_empty() {
                return fail(format!(
                    "policy match: empty policy element {i}; with --strict each needs one of \
                     --reqid, --spi, --tunnel-src, --tunnel-dst, --proto or --mode"
                ));
            }
        }
        // ipsec is the default; iptables keeps no elements with --pol
        // none, nor empty ones.
        self.none.get_or_insert(false);
        if self.none == Some(true) || self.elements.iter().all(Element::is_empty) {
            self.elements.clear();
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let (dir, pol) = self.words();
        out.push_str(&format!(" --dir {dir} --pol {pol}"));
        if self.strict {
            out.push_str(" --strict");
        }
        for (i, e) in self.elements.iter().enumerate() {
            if i > 0 {
                out.push_str(" --next");
            }
            e.text(out, "--", false);
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        let (dir, pol) = self.words();
        out.push_str(&format!(" policy match dir {dir} pol {pol}"));
        if self.strict {
            out.push_str(" strict");
        }
        let elements = &self.elements;
        for (i, e) in elements.iter().enumerate() {
            if elements.len() > 1 {
                out.push_str(&format!(" [{i}]"));
            }
            e.text(out, "", numeric);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_structure_is_the_kernels_size() {
        let p = Policy {
            dir_out: Some(false),
            elements: vec![Element {
                spi: Some((0x10, false)),
                proto: Some((50, true)),
                ..Default::default()
            }],
            ..Default::default()
        };
        let ext = p.ext();
        assert_eq!(ext.info.len(), 312);
        assert_eq!(&ext.info[64..68], &[0, 0, 0, 0x10]);
        assert_eq!(ext.info[72], 50);
        assert_eq!(ext.info[74], SPEC_SPI | SPEC_PROTO);
        assert_eq!(ext.info[75], SPEC_PROTO);
        assert_eq!(u16::from_ne_bytes([ext.info[304], ext.info[305]]), MATCH_IN);
        assert_eq!(u16::from_ne_bytes([ext.info[306], ext.info[307]]), 1);
    }
}
