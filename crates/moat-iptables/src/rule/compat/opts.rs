//! `-m hbh` and `-m dst` (ip6tables): the IPv6 hop-by-hop and destination
//! options headers (ip6t_hbh's two matches, revision 0).

use moat_model::{XtExtension, XtLayout};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{number_in, u32_value};

const LEN: u8 = 0x01;
const OPTS: u8 = 0x02;
const INV_LEN: u8 = 0x01;
/// The most options `--hbh-opts` takes.
const MAX_OPTS: usize = 16;
/// The length byte of an option given without one.
const ANY_LEN: u16 = 0x00ff;

/// `-m hbh` or `-m dst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OptsHeader {
    /// `hbh` or `dst`.
    name: &'static str,
    len: Option<(u32, bool)>,
    /// Each option as `type << 8 | length`.
    opts: Vec<u16>,
}

impl OptsHeader {
    /// The match for header `name` (`hbh` or `dst`).
    pub(crate) fn new(name: &'static str) -> OptsHeader {
        OptsHeader {
            name,
            len: None,
            opts: Vec::new(),
        }
    }

    /// The name `-m` takes.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let mut flags = 0;
        if self.len.is_some() {
            flags |= LEN;
        }
        if !self.opts.is_empty() {
            flags |= OPTS;
        }
        let mut layout = XtLayout::new();
        layout
            .u32(self.len.map_or(0, |l| l.0))
            .u8(flags)
            .u8(if self.len.is_some_and(|l| l.1) {
                INV_LEN
            } else {
                0
            });
        for i in 0..MAX_OPTS {
            layout.u16(self.opts.get(i).copied().unwrap_or(0));
        }
        let info = layout
            .u8(u8::try_from(self.opts.len()).unwrap_or(0))
            .finish();
        super::kernel_ext("-m", self.name, 0, info, self)
    }

    fn opts_text(&self) -> String {
        let words: Vec<String> = self
            .opts
            .iter()
            .map(|o| match o & 0xff {
                ANY_LEN => (o >> 8).to_string(),
                len => format!("{}:{len}", o >> 8),
            })
            .collect();
        words.join(",")
    }
}

impl Extension for OptsHeader {
    fn options(&self) -> &'static [OptDef] {
        const HBH: &[OptDef] = &[
            opt("--hbh-len", 1, true).once(),
            opt("--hbh-opts", 1, false).once(),
        ];
        const DST: &[OptDef] = &[
            opt("--dst-len", 1, true).once(),
            opt("--dst-opts", 1, false).once(),
        ];
        if self.name == "hbh" {
            HBH
        } else {
            DST
        }
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if o.name.ends_with("-len") {
            self.len = Some((u32_value(o.value(), o.name)?, o.invert));
            return Ok(());
        }
        let mut opts = Vec::new();
        for word in o.value().split(',') {
            let (ty, len) = match word.split_once(':') {
                Some((t, l)) => (t, Some(l)),
                None => (word, None),
            };
            let ty = number_in(ty, o.name, 0, 255)? as u16;
            let len = match len {
                // Pad1 is one byte with no length field.
                Some(_) if ty == 0 => {
                    return fail(format!("{}: option type 0 (Pad1) has no length", o.name))
                }
                Some(l) => number_in(l, o.name, 0, 255)? as u16,
                None => ANY_LEN,
            };
            opts.push(ty << 8 | len);
        }
        if opts.len() > MAX_OPTS {
            return fail(format!("{} takes at most {MAX_OPTS} options", o.name));
        }
        self.opts = opts;
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((l, inv)) = self.len {
            let bang = if inv { " !" } else { "" };
            out.push_str(&format!("{bang} --{}-len {l}", self.name));
        }
        if !self.opts.is_empty() {
            out.push_str(&format!(" --{}-opts {}", self.name, self.opts_text()));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(&format!(" {}", self.name));
        if let Some((l, inv)) = self.len {
            out.push_str(&format!(" length:{}{l}", if inv { "!" } else { "" }));
        }
        if !self.opts.is_empty() {
            out.push_str(&format!(" opts {}", self.opts_text()));
        }
    }
}
