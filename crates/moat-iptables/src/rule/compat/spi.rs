//! `-m esp`, `-m ah` and `-m ipcomp`: the SPI of an IPsec ESP or AH header
//! or the CPI of an IPComp header (xt_esp, ipt_ah, ip6t_ah and xt_ipcomp,
//! revision 0); ip6tables' ah also tests the header length and reserved
//! field, ipcomp the reserved field.

use moat_model::{Family, XtExtension, XtLayout};

use super::range::Range;
use crate::rule::error::{refused_by_kernel, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::u32_value;

const INV_SPI: u8 = 0x01;
const INV_LEN: u8 = 0x02;

/// Which header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpiHeader {
    /// ESP, either family.
    Esp,
    /// AH in IPv4.
    Ah4,
    /// AH in IPv6, with length and reserved tests.
    Ah6,
    /// IPComp, either family, with a reserved-field test.
    Comp,
}

/// `-m esp` or `-m ah`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpiMatch {
    header: SpiHeader,
    spis: Range,
    len: Option<(u32, bool)>,
    res: bool,
}

impl SpiMatch {
    /// The match `name` (`esp` or `ah`) for `family`.
    pub(crate) fn new(name: &str, family: Family) -> SpiMatch {
        let header = match (name, family) {
            ("esp", _) => SpiHeader::Esp,
            ("ipcomp", _) => SpiHeader::Comp,
            (_, Family::Ipv4) => SpiHeader::Ah4,
            (_, Family::Ipv6) => SpiHeader::Ah6,
        };
        // iptables leaves ipcomp's range at zero when no --ipcompspi is given.
        let spis = match header {
            SpiHeader::Comp => Range {
                min: 0,
                max: 0,
                invert: false,
            },
            _ => Range::ALL,
        };
        SpiMatch {
            header,
            spis,
            len: None,
            res: false,
        }
    }

    /// The name `-m` takes.
    pub(crate) fn name(&self) -> &'static str {
        match self.header {
            SpiHeader::Esp => "esp",
            SpiHeader::Comp => "ipcomp",
            _ => "ah",
        }
    }

    fn spi_opt(&self) -> &'static str {
        match self.header {
            SpiHeader::Esp => "--espspi",
            SpiHeader::Comp => "--ipcompspi",
            _ => "--ahspi",
        }
    }

    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let mut inv = if self.spis.invert { INV_SPI } else { 0 };
        let mut layout = XtLayout::new();
        layout.u32(self.spis.min).u32(self.spis.max);
        if self.header == SpiHeader::Ah6 {
            if self.len.is_some_and(|l| l.1) {
                inv |= INV_LEN;
            }
            layout
                .u32(self.len.map_or(0, |l| l.0))
                .u8(u8::from(self.res));
        }
        layout.u8(inv);
        if self.header == SpiHeader::Comp {
            layout.u8(u8::from(self.res));
        }
        let info = layout.finish();
        super::kernel_ext("-m", self.name(), 0, info, self)
    }
}

impl Extension for SpiMatch {
    fn options(&self) -> &'static [OptDef] {
        const ESP: &[OptDef] = &[opt("--espspi", 1, true).once()];
        const AH4: &[OptDef] = &[opt("--ahspi", 1, true).once()];
        const AH6: &[OptDef] = &[
            opt("--ahspi", 1, true).once(),
            opt("--ahlen", 1, true).once(),
            opt("--ahres", 0, false),
        ];
        const COMP: &[OptDef] = &[
            opt("--ipcompspi", 1, true).once(),
            opt("--compres", 0, false),
        ];
        match self.header {
            SpiHeader::Esp => ESP,
            SpiHeader::Ah4 => AH4,
            SpiHeader::Ah6 => AH6,
            SpiHeader::Comp => COMP,
        }
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        match o.name {
            "--ahlen" => self.len = Some((u32_value(o.value(), o.name)?, o.invert)),
            "--ahres" | "--compres" => self.res = true,
            _ => self.spis = Range::parse_option(o)?,
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        let proto = match self.header {
            SpiHeader::Esp => 50,
            SpiHeader::Comp => 108,
            // In IPv6, AH is an extension header the module finds itself.
            SpiHeader::Ah4 => 51,
            SpiHeader::Ah6 => return Ok(()),
        };
        if cx.plain_proto() != Some(proto) {
            return refused_by_kernel(format!(
                "the {} match needs -p {} before it (the kernel module tests only those packets)",
                self.name(),
                self.name()
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if self.header == SpiHeader::Comp {
            // iptables writes ipcomp's range unless it is every value
            // (negated or not).
            if !(Range {
                invert: false,
                ..self.spis
            })
            .is_all()
            {
                let bang = if self.spis.invert { " !" } else { "" };
                out.push_str(&format!("{bang} --ipcompspi {}", self.spis.text()));
            }
            if self.res {
                out.push_str(" --compres");
            }
            return;
        }
        self.spis.save(out, self.spi_opt());
        if let Some((l, inv)) = self.len {
            out.push_str(&format!("{} --ahlen {l}", if inv { " !" } else { "" }));
        }
        if self.res {
            out.push_str(" --ahres");
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        let spis = if self.spis.is_all() && !self.spis.invert {
            String::new()
        } else {
            self.spis.listing("spi")
        };
        match self.header {
            SpiHeader::Comp => {
                out.push_str(&format!(" comp {spis}"));
                if self.res {
                    out.push_str(" reserved");
                }
            }
            SpiHeader::Esp if spis.is_empty() => out.push_str(" esp"),
            SpiHeader::Esp => out.push_str(&format!(" esp {spis}")),
            // iptables writes ah's fields without spaces between them.
            _ => {
                out.push_str(&format!(" ah {spis}"));
                if let Some((l, inv)) = self.len {
                    out.push_str(&format!("length:{}{l}", if inv { "!" } else { "" }));
                }
                if self.res {
                    out.push_str(" reserved");
                }
            }
        }
    }
}
