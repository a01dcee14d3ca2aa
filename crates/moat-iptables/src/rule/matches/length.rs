//! The length match: the IP packet length.

use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{number_in, push_opt};

/// `-m length --length`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Length {
    range: Option<(u16, u16, bool)>,
}

fn text(a: u16, b: u16) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}:{b}")
    }
}

impl Length {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((min, max, negate)) = self.range {
            out.push(Match::Length { min, max, negate });
        }
    }
}

impl Extension for Length {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--length", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.range, "--length")?;
        let v = o.value();
        let num = |s: &str, default: u16| -> Res<u16> {
            if s.is_empty() {
                Ok(default)
            } else {
                Ok(number_in(s, "--length", 0, 65535)? as u16)
            }
        };
        let (a, b) = match v.split_once(':') {
            Some((a, b)) => (num(a, 0)?, num(b, 65535)?),
            None => {
                let a = number_in(v, "--length", 0, 65535)? as u16;
                (a, a)
            }
        };
        if a > b {
            o.warn_reversed();
        }
        self.range = Some((a, b, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.range.is_none() {
            return fail("the length match needs --length");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((a, b, inv)) = self.range {
            push_opt(out, inv, "--length", Some(&text(a, b)));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((a, b, inv)) = self.range {
            out.push_str(&format!(
                " length {}{}",
                if inv { "!" } else { "" },
                text(a, b)
            ));
        }
    }
}
