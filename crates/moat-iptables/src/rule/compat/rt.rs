//! `-m rt` (ip6tables): the IPv6 routing header (ip6t_rt, revision 0).

use moat_model::addr_text::AddrText;
use std::net::Ipv6Addr;

use moat_model::{XtExtension, XtLayout};

use super::range::Range;
use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::u32_value;

const TYP: u8 = 0x01;
const SGS: u8 = 0x02;
const LEN: u8 = 0x04;
const RES: u8 = 0x08;
const FST: u8 = 0x10;
const FST_NSTRICT: u8 = 0x20;
const INV_TYP: u8 = 0x01;
const INV_SGS: u8 = 0x02;
const INV_LEN: u8 = 0x04;
/// The most addresses `--rt-0-addrs` takes.
const MAX_ADDRS: usize = 16;

/// `-m rt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rt {
    rt_type: Option<(u32, bool)>,
    segsleft: Range,
    len: Option<(u32, bool)>,
    addrs: Vec<Ipv6Addr>,
    flags: u8,
}

impl Default for Rt {
    fn default() -> Self {
        Rt {
            rt_type: None,
            segsleft: Range::ALL,
            len: None,
            addrs: Vec::new(),
            flags: 0,
        }
    }
}

fn bang(invert: bool) -> &'static str {
    if invert {
        "!"
    } else {
        ""
    }
}

impl Rt {
    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let mut inv = 0;
        if self.rt_type.is_some_and(|t| t.1) {
            inv |= INV_TYP;
        }
        if self.segsleft.invert {
            inv |= INV_SGS;
        }
        if self.len.is_some_and(|l| l.1) {
            inv |= INV_LEN;
        }
        let mut layout = XtLayout::new();
        layout
            .u32(self.rt_type.map_or(0, |t| t.0))
            .u32(self.segsleft.min)
            .u32(self.segsleft.max)
            .u32(self.len.map_or(0, |l| l.0))
            .u8(self.flags)
            .u8(inv)
            .align(4);
        for i in 0..MAX_ADDRS {
            let addr = self.addrs.get(i).copied().unwrap_or(Ipv6Addr::UNSPECIFIED);
            layout.bytes(&addr.octets(), 16);
        }
        let info = layout
            .u8(u8::try_from(self.addrs.len()).unwrap_or(0))
            .finish();
        super::kernel_ext("-m", "rt", 0, info, self)
    }

    fn addrs_text(&self) -> String {
        let words: Vec<String> = self
            .addrs
            .iter()
            .map(|&a| AddrText(a.into()).to_string())
            .collect();
        words.join(",")
    }
}

impl Extension for Rt {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--rt-type", 1, true).once(),
            opt("--rt-segsleft", 1, true).once(),
            opt("--rt-len", 1, true).once(),
            opt("--rt-0-res", 0, false),
            opt("--rt-0-addrs", 1, false).once(),
            opt("--rt-0-not-strict", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let type0 = self.rt_type == Some((0, false));
        match o.name {
            "--rt-type" => self.rt_type = Some((u32_value(o.value(), o.name)?, o.invert)),
            "--rt-segsleft" => {
                self.segsleft = Range::parse_option(o)?;
                self.flags |= SGS;
            }
            "--rt-len" => self.len = Some((u32_value(o.value(), o.name)?, o.invert)),
            "--rt-0-res" if type0 => self.flags |= RES,
            "--rt-0-addrs" if type0 => {
                let mut addrs = Vec::new();
                for word in o.value().split(',') {
                    match word.parse::<Ipv6Addr>() {
                        Ok(a) => addrs.push(a),
                        Err(_) => {
                            return fail(format!("--rt-0-addrs: \"{word}\" is not an IPv6 address"))
                        }
                    }
                }
                if addrs.len() > MAX_ADDRS {
                    return fail(format!("--rt-0-addrs takes at most {MAX_ADDRS} addresses"));
                }
                self.addrs = addrs;
                self.flags |= FST;
            }
            "--rt-0-not-strict" if self.flags & FST != 0 => self.flags |= FST_NSTRICT,
            "--rt-0-not-strict" => {
                return fail("`--rt-0-addrs ...' required before `--rt-0-not-strict'")
            }
            name => return fail(format!("`--rt-type 0' required before `{name}'")),
        }
        if self.rt_type.is_some() {
            self.flags |= TYP;
        }
        if self.len.is_some() {
            self.flags |= LEN;
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((t, inv)) = self.rt_type {
            out.push_str(&format!("{} --rt-type {t}", if inv { " !" } else { "" }));
        }
        self.segsleft.save(out, "--rt-segsleft");
        if let Some((l, inv)) = self.len {
            out.push_str(&format!("{} --rt-len {l}", if inv { " !" } else { "" }));
        }
        if self.flags & RES != 0 {
            out.push_str(" --rt-0-res");
        }
        if !self.addrs.is_empty() {
            out.push_str(&format!(" --rt-0-addrs {}", self.addrs_text()));
        }
        if self.flags & FST_NSTRICT != 0 {
            out.push_str(" --rt-0-not-strict");
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" rt");
        if let Some((t, inv)) = self.rt_type {
            out.push_str(&format!(" type:{}{t}", bang(inv)));
        }
        if !self.segsleft.is_all() || self.segsleft.invert {
            out.push_str(&format!(" {}", self.segsleft.listing("segsleft")));
        }
        if let Some((l, inv)) = self.len {
            out.push_str(&format!(" length:{}{l}", bang(inv)));
        }
        if self.flags & RES != 0 {
            out.push_str(" reserved");
        }
        if !self.addrs.is_empty() {
            out.push_str(&format!(" 0-addrs {}", self.addrs_text()));
        }
        if self.flags & FST_NSTRICT != 0 {
            out.push_str(" 0-not-strict");
        }
    }
}
