//! `-m ipvs`: the IPVS connection a packet belongs to (xt_ipvs, revision
//! 0): how Docker Swarm's ingress, kube-router and keepalived or LVS
//! directors source-NAT the traffic the kernel's load balancer forwards.

use moat_model::{XtExtension, XtLayout};

use super::{addr_field, given_and_inverted, Field};
use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::names::parse_protocol;
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{
    mask_prefix, parse_net_unmasked, parse_port_decimal, AddrSyntax, Net, ANY_TRANSPORT,
};

/// Bits of the structure's `bitmask` and `invert` (linux/netfilter/xt_ipvs.h).
const IPVS_PROPERTY: u8 = 1 << 0;
const PROTO: u8 = 1 << 1;
const VADDR: u8 = 1 << 2;
const VPORT: u8 = 1 << 3;
const DIR: u8 = 1 << 4;
const METHOD: u8 = 1 << 5;
const VPORTCTL: u8 = 1 << 6;

/// The forwarding methods `--vmethod` names, with IPVS's numbers for them
/// (direct routing, tunnelling, masquerading; linux/ip_vs.h).
const METHODS: &[(&str, u8)] = &[("GATE", 3), ("IPIP", 2), ("MASQ", 0)];

/// `-m ipvs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Ipvs {
    /// `--ipvs` (the packet belongs to an IPVS connection at all), and
    /// whether `!` inverts it.
    ipvs: Option<bool>,
    proto: Field<u8>,
    vaddr: Field<Net>,
    vport: Field<u16>,
    /// `--vdir REPLY` (else ORIGINAL).
    reply: Option<bool>,
    method: Field<u8>,
    vportctl: Field<u16>,
}

impl Ipvs {
    /// The `bitmask` and `invert` bytes.
    fn bits(&self) -> (u8, u8) {
        given_and_inverted(&[
            (self.ipvs, IPVS_PROPERTY),
            (self.proto.map(|f| f.1), PROTO),
            (self.vaddr.map(|f| f.1), VADDR),
            (self.vport.map(|f| f.1), VPORT),
            (self.reply, DIR),
            (self.method.map(|f| f.1), METHOD),
            (self.vportctl.map(|f| f.1), VPORTCTL),
        ])
    }

    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let (addr, mask) = self.vaddr.map_or(([0; 16], [0; 16]), |(net, _)| {
            (addr_field(net.addr), addr_field(net.mask))
        });
        let (set, inverted) = self.bits();
        let port = |field: Field<u16>| field.map_or(0, |f| f.0).to_be_bytes();
        let info = XtLayout::new()
            .bytes(&addr, 16)
            .bytes(&mask, 16)
            .bytes(&port(self.vport), 2)
            .u8(self.proto.map_or(0, |f| f.0))
            .u8(self.method.map_or(0, |f| f.0))
            .bytes(&port(self.vportctl), 2)
            .u8(inverted)
            .u8(set)
            .finish();
        super::kernel_ext("-m", "ipvs", 0, info, self)
    }

    /// Appends the options; `dashes` is `--` for `-S`, empty for `-L`. As
    /// iptables, `--ipvs` shows only alone: every other option implies it.
    fn text(&self, out: &mut String, dashes: &str) {
        let mut push = |invert: bool, word: &str, value: &str| {
            out.push_str(if invert { " ! " } else { " " });
            out.push_str(dashes);
            out.push_str(word);
            if !value.is_empty() {
                out.push(' ');
                out.push_str(value);
            }
        };
        if let (Some(invert), (IPVS_PROPERTY, _)) = (self.ipvs, self.bits()) {
            push(invert, "ipvs", "");
        }
        if let Some((proto, invert)) = self.proto {
            push(invert, "vproto", &proto.to_string());
        }
        if let Some((net, invert)) = self.vaddr {
            push(invert, "vaddr", &net.display());
        }
        if let Some((port, invert)) = self.vport {
            push(invert, "vport", &port.to_string());
        }
        if let Some(reply) = self.reply {
            push(false, "vdir", if reply { "REPLY" } else { "ORIGINAL" });
        }
        if let Some((method, invert)) = self.method {
            let name = METHODS.iter().find(|(_, m)| *m == method);
            push(invert, "vmethod", name.map_or("MASQ", |(n, _)| n));
        }
        if let Some((port, invert)) = self.vportctl {
            push(invert, "vportctl", &port.to_string());
        }
    }
}

impl Extension for Ipvs {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--ipvs", 0, true),
            opt("--vproto", 1, true),
            opt("--vaddr", 1, true),
            opt("--vport", 1, true),
            opt("--vdir", 1, false),
            opt("--vmethod", 1, true),
            opt("--vportctl", 1, true),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        let inv = o.invert;
        match o.name {
            "--ipvs" => {
                once(&self.ipvs, "--ipvs")?;
                self.ipvs = Some(inv);
            }
            "--vproto" => {
                once(&self.proto, "--vproto")?;
                self.proto = Some((parse_protocol(v, "--vproto")?, inv));
            }
            "--vaddr" => {
                once(&self.vaddr, "--vaddr")?;
                // Read by the C library's resolver, kept unmasked: xt_ipvs
                // masks both sides.
                let net = parse_net_unmasked(v, o.family, "--vaddr", AddrSyntax::Resolver)?;
                if mask_prefix(net.mask).is_none() {
                    return fail(format!(
                        "ipvs --vaddr {v}: give the mask as a prefix length \
                         (iptables lists a mask of other bits without it)"
                    ));
                }
                self.vaddr = Some((net, inv));
            }
            "--vport" => {
                once(&self.vport, "--vport")?;
                self.vport = Some((parse_port_decimal(v, ANY_TRANSPORT, "--vport")?, inv));
            }
            "--vportctl" => {
                once(&self.vportctl, "--vportctl")?;
                let port = parse_port_decimal(v, ANY_TRANSPORT, "--vportctl")?;
                self.vportctl = Some((port, inv));
            }
            "--vdir" => {
                once(&self.reply, "--vdir")?;
                self.reply = Some(match v.to_ascii_uppercase().as_str() {
                    "ORIGINAL" => false,
                    "REPLY" => true,
                    _ => {
                        return fail(format!(
                            "ipvs: bad value for \"--vdir\": \"{v}\" (ORIGINAL or REPLY)"
                        ))
                    }
                });
            }
            _ => {
                once(&self.method, "--vmethod")?;
                let Some(&(_, method)) = METHODS
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(v))
                else {
                    return fail(format!(
                        "ipvs: bad value for \"--vmethod\": \"{v}\" (GATE, IPIP or MASQ)"
                    ));
                };
                self.method = Some((method, inv));
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        match self.bits() {
            (0, _) => fail(
                "ipvs: at least one option is required (--ipvs, --vproto, --vaddr, --vport, \
                 --vdir, --vmethod or --vportctl)",
            ),
            (set, inverted) if inverted & IPVS_PROPERTY != 0 && set != IPVS_PROPERTY => {
                fail("ipvs: ! --ipvs cannot be together with other options")
            }
            _ => Ok(()),
        }
    }

    fn save(&self, out: &mut String) {
        self.text(out, "--");
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        self.text(out, "");
    }
}

#[cfg(test)]
mod tests {
    use moat_model::Family;

    use super::*;
    use crate::rule::RuleSpec;

    fn rule(family: Family, text: &str) -> RuleSpec {
        let words: Vec<&str> = text.split(' ').collect();
        RuleSpec::parse(&words, family)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .0
    }

    fn listed(family: Family, text: &str) -> String {
        rule(family, text).listing(true).extra
    }

    /// What Debian's iptables 1.8.9 printed with `-v` for each rule (its
    /// listing, `-n`), run on this kernel, which has no IP_VS to add them.
    #[test]
    fn options_list_as_iptables_lists_them() {
        let cases = [
            (
                "-m ipvs --vportctl 21 --vmethod masq --vdir REPLY --vport 80 \
                 --vaddr 1.1.1.1 --vproto tcp --ipvs",
                " vproto 6 vaddr 1.1.1.1 vport 80 vdir REPLY vmethod MASQ vportctl 21",
            ),
            ("-m ipvs ! --ipvs", " ! ipvs"),
            ("-m ipvs ! --vproto udp", " ! vproto 17"),
            ("-m ipvs --vaddr 10.1.2.3/8", " vaddr 10.1.2.3/8"),
            (
                "-m ipvs --vaddr 10.0.0.0/255.255.255.0",
                " vaddr 10.0.0.0/24",
            ),
            ("-m ipvs --vaddr 10.0.0.0/32", " vaddr 10.0.0.0"),
            ("-m ipvs --vaddr 0/0", " vaddr 0.0.0.0/0"),
            ("-m ipvs --vaddr 1.2.3", " vaddr 1.2.0.3"),
            ("-m ipvs --vmethod gate", " vmethod GATE"),
            ("-m ipvs --vmethod IPIP", " vmethod IPIP"),
            (
                "-m ipvs ! --vmethod MASQ ! --vport 80 ! --vportctl 21 ! --vaddr 1.2.3.4",
                " ! vaddr 1.2.3.4 ! vport 80 ! vmethod MASQ ! vportctl 21",
            ),
            ("-m ipvs --vproto all", " vproto 0"),
            ("-m ipvs --vport ssh", " vport 22"),
            ("-m ipvs --vport 080", " vport 80"),
            ("-m ipvs --vportctl ftp", " vportctl 21"),
            ("-m ipvs --vdir original", " vdir ORIGINAL"),
        ];
        for (text, want) in cases {
            assert_eq!(listed(Family::Ipv4, text), want, "{text}");
            let saved = rule(Family::Ipv4, text).to_args();
            assert_eq!(
                saved,
                format!(
                    "-m ipvs{}",
                    want.replace(" v", " --v").replace(" ipvs", " --ipvs")
                ),
                "{text}"
            );
            assert_eq!(rule(Family::Ipv4, &saved).to_args(), saved, "{text}");
        }
        let six = "-m ipvs --vaddr 2001:db8::1/ffff:: --vport 80";
        assert_eq!(listed(Family::Ipv6, six), " vaddr 2001:db8::1/16 vport 80");
    }

    #[test]
    fn iptables_refusals_are_refused() {
        for text in [
            "-m ipvs",
            "-m ipvs --ipvs --ipvs",
            "-m ipvs ! --ipvs --vport 80",
            "-m ipvs --vmethod ROUTE",
            "-m ipvs --vdir foo",
            "-m ipvs --vproto 256",
            "-m ipvs --vport 0x50",
            "-m ipvs --vport 1:2",
            "-m ipvs --vaddr 1.2.3.4/abc",
        ] {
            let words: Vec<&str> = text.split(' ').collect();
            assert!(RuleSpec::parse(&words, Family::Ipv4).is_err(), "{text}");
        }
    }

    #[test]
    fn the_structure_is_the_kernels() {
        let spec = rule(
            Family::Ipv4,
            "-m ipvs --vaddr 10.0.0.0/8 ! --vport 80 --vdir REPLY --vmethod GATE --vproto tcp",
        );
        let ext = match spec.to_model(Family::Ipv4).unwrap().matches.as_slice() {
            [moat_model::Match::Xt(ext)] => ext.clone(),
            other => panic!("one xt match expected, not {other:?}"),
        };
        assert_eq!((ext.name.as_str(), ext.revision), ("ipvs", 0));
        assert_eq!(ext.info.len(), 40);
        assert_eq!(&ext.info[..4], &[10, 0, 0, 0]);
        assert_eq!(&ext.info[16..20], &[255, 0, 0, 0]);
        assert_eq!(&ext.info[32..34], &80u16.to_be_bytes());
        assert_eq!((ext.info[34], ext.info[35]), (6, 3));
        assert_eq!(ext.info[38], VPORT | DIR);
        assert_eq!(ext.info[39], PROTO | VADDR | VPORT | DIR | METHOD);
    }
}
