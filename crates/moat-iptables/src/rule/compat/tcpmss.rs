//! `-m tcpmss`: the MSS option of TCP SYNs (xt_tcpmss, revision 0).

use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// `-m tcpmss --mss MIN[:MAX]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TcpMssMatch {
    mss: Option<(u16, u16, bool)>,
}

impl TcpMssMatch {
    fn text(&self) -> String {
        match self.mss {
            Some((a, b, _)) if a == b => a.to_string(),
            Some((a, b, _)) => format!("{a}:{b}"),
            None => String::new(),
        }
    }

    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let (min, max, invert) = self.mss.unwrap_or((0, u16::MAX, false));
        kernel_ext(
            "-m",
            "tcpmss",
            0,
            XtLayout::new()
                .u16(min)
                .u16(max)
                .u8(u8::from(invert))
                .finish(),
            self,
        )
    }
}

impl Extension for TcpMssMatch {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--mss", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.mss, "--mss")?;
        let v = o.value();
        let num = |s: &str, default: u16| -> Res<u16> {
            if s.is_empty() {
                Ok(default)
            } else {
                Ok(number_in(s, "--mss", 0, 65535)? as u16)
            }
        };
        let (a, b) = match v.split_once(':') {
            Some((a, b)) => (num(a, 0)?, num(b, u16::MAX)?),
            None => {
                let a = num(v, 0)?;
                (a, a)
            }
        };
        if a > b {
            return fail(format!(
                "tcpmss --mss {v}: the range runs backwards (min > max), which iptables refuses"
            ));
        }
        self.mss = Some((a, b, o.invert));
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if self.mss.is_none() {
            return fail("tcpmss: option \"--mss\" must be specified");
        }
        if cx.plain_proto() != Some(6) {
            return refused_by_kernel("the tcpmss match reads TCP options: give -p tcp");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((_, _, invert)) = self.mss {
            let bang = if invert { " !" } else { "" };
            out.push_str(&format!("{bang} --mss {}", self.text()));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((_, _, invert)) = self.mss {
            let bang = if invert { "!" } else { "" };
            out.push_str(&format!(" tcpmss match {bang}{}", self.text()));
        }
    }
}
