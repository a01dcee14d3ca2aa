//! `-m frag` (ip6tables): the IPv6 fragment header (ip6t_frag, revision 0).

use moat_model::{XtExtension, XtLayout};

use super::range::Range;
use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::u32_value;

const IDS: u8 = 0x01;
const LEN: u8 = 0x02;
const RES: u8 = 0x04;
const FIRST: u8 = 0x08;
const MORE: u8 = 0x10;
const LAST: u8 = 0x20;
const INV_IDS: u8 = 0x01;
const INV_LEN: u8 = 0x02;

/// `-m frag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frag {
    ids: Range,
    len: Option<(u32, bool)>,
    flags: u8,
}

impl Default for Frag {
    fn default() -> Self {
        Frag {
            ids: Range::ALL,
            len: None,
            flags: 0,
        }
    }
}

impl Frag {
    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let mut inv = 0;
        if self.ids.invert {
            inv |= INV_IDS;
        }
        if self.len.is_some_and(|l| l.1) {
            inv |= INV_LEN;
        }
        let info = XtLayout::new()
            .u32(self.ids.min)
            .u32(self.ids.max)
            .u32(self.len.map_or(0, |l| l.0))
            .u8(self.flags)
            .u8(inv)
            .finish();
        super::kernel_ext("-m", "frag", 0, info, self)
    }
}

impl Extension for Frag {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--fragid", 1, true),
            opt("--fraglen", 1, true),
            opt("--fragres", 0, false),
            opt("--fragfirst", 0, false),
            opt("--fragmore", 0, false),
            opt("--fraglast", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let bit = match o.name {
            "--fragid" => IDS,
            "--fraglen" => LEN,
            "--fragres" => RES,
            "--fragfirst" => FIRST,
            "--fragmore" => MORE,
            _ => LAST,
        };
        if self.flags & bit != 0 {
            return fail(format!("frag: {} given twice", o.name));
        }
        match o.name {
            "--fragid" => self.ids = Range::parse_option(o)?,
            "--fraglen" => self.len = Some((u32_value(o.value(), o.name)?, o.invert)),
            _ => {}
        }
        self.flags |= bit;
        if self.flags & (MORE | LAST) == MORE | LAST {
            return fail("frag: option \"--fragmore\" cannot be used together with \"--fraglast\"");
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        Ok(())
    }

    fn save(&self, out: &mut String) {
        self.ids.save(out, "--fragid");
        if let Some((len, inv)) = self.len {
            let bang = if inv { " !" } else { "" };
            out.push_str(&format!("{bang} --fraglen {len}"));
        }
        for (bit, word) in [
            (RES, "--fragres"),
            (FIRST, "--fragfirst"),
            (MORE, "--fragmore"),
            (LAST, "--fraglast"),
        ] {
            if self.flags & bit != 0 {
                out.push_str(&format!(" {word}"));
            }
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" frag ");
        if !self.ids.is_all() || self.ids.invert {
            out.push_str(&self.ids.listing("id"));
        }
        if let Some((len, inv)) = self.len {
            let bang = if inv { "!" } else { "" };
            out.push_str(&format!(" length:{bang}{len}"));
        }
        for (bit, word) in [
            (RES, "reserved"),
            (FIRST, "first"),
            (MORE, "more"),
            (LAST, "last"),
        ] {
            if self.flags & bit != 0 {
                out.push_str(&format!(" {word}"));
            }
        }
    }
}
