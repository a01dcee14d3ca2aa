//! `-m ipv6header` (ip6tables): which extension headers an IPv6 packet
//! carries (ip6t_ipv6header, revision 0).

use moat_model::{XtExtension, XtLayout};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};

/// Each header's bit, the name iptables prints, and the other names and
/// protocol numbers it takes.
const HEADERS: &[(u8, &str, &[&str])] = &[
    (0x80, "hop-by-hop", &["hop", "0"]),
    (0x40, "ipv6-opts", &["dst", "60"]),
    (0x20, "ipv6-route", &["route", "43"]),
    (0x10, "ipv6-frag", &["frag", "44"]),
    (0x08, "ah", &["auth", "51"]),
    (0x04, "esp", &["50"]),
    (0x02, "ipv6-nonxt", &["none", "59"]),
    (0x01, "protocol", &["prot", "255"]),
];

/// The names of the headers in `bits`.
fn names(bits: u8) -> Vec<&'static str> {
    HEADERS
        .iter()
        .filter(|(bit, _, _)| bits & bit != 0)
        .map(|(_, name, _)| *name)
        .collect()
}

/// `-m ipv6header`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Ipv6Header {
    headers: Option<(u8, bool)>,
    soft: bool,
}

impl Ipv6Header {
    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let (bits, invert) = self.headers.unwrap_or_default();
        let info = XtLayout::new()
            .u8(bits)
            .u8(if invert { 0xff } else { 0 })
            .u8(u8::from(self.soft))
            .finish();
        super::kernel_ext("-m", "ipv6header", 0, info, self)
    }
}

impl Extension for Ipv6Header {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--header", 1, true), opt("--soft", 0, false)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if o.name == "--soft" {
            self.soft = true;
            return Ok(());
        }
        once(&self.headers, "--header")?;
        let mut bits = 0;
        for word in o.value().split(',') {
            let found = HEADERS
                .iter()
                .find(|(_, name, others)| *name == word || others.contains(&word));
            match found {
                Some((bit, _, _)) => bits |= bit,
                None => {
                    return fail(format!(
                        "--header: unknown header \"{word}\" (hop-by-hop, ipv6-opts, ipv6-route, \
                         ipv6-frag, ah, esp, ipv6-nonxt, protocol or their numbers)"
                    ))
                }
            }
        }
        self.headers = Some((bits, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.headers.is_none() {
            return fail("ipv6header: option \"--header\" must be specified");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((bits, invert)) = self.headers {
            let bang = if invert { " !" } else { "" };
            out.push_str(&format!("{bang} --header {}", names(bits).join(",")));
        }
        if self.soft {
            out.push_str(" --soft");
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        if let Some((bits, invert)) = self.headers {
            let bang = if invert { "!" } else { "" };
            let flags = if numeric {
                format!("0x{bits:02X}")
            } else {
                names(bits).join(",")
            };
            out.push_str(&format!(" ipv6header flags:{bang}{flags}"));
        }
        if self.soft {
            out.push_str(" soft");
        }
    }
}
