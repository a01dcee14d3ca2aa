//! The iprange match: inclusive address ranges.

use moat_model::addr_text::AddrText;
use std::net::IpAddr;

use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{parse_addr, push_opt, AddrSyntax};

/// An inclusive range and whether it is negated.
type Range = (IpAddr, IpAddr, bool);

/// `-m iprange`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct IpRange {
    src: Option<Range>,
    dst: Option<Range>,
}

fn parse_range(o: &mut Opt<'_>) -> Res<Range> {
    let v = o.value();
    let (a, b) = match v.split_once('-') {
        Some((a, b)) => (
            parse_addr(a, o.family, o.name, AddrSyntax::XtablesOnly)?,
            parse_addr(b, o.family, o.name, AddrSyntax::XtablesOnly)?,
        ),
        None => {
            let a = parse_addr(v, o.family, o.name, AddrSyntax::XtablesOnly)?;
            (a, a)
        }
    };
    if a > b {
        o.warn_reversed();
    }
    Ok((a, b, o.invert))
}

impl IpRange {
    /// The model conditions.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((from, to, negate)) = self.src {
            out.push(Match::SourceRange { from, to, negate });
        }
        if let Some((from, to, negate)) = self.dst {
            out.push(Match::DestRange { from, to, negate });
        }
    }
}

impl Extension for IpRange {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--src-range", 1, true), opt("--dst-range", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let slot = if o.name == "--src-range" {
            &mut self.src
        } else {
            &mut self.dst
        };
        once(slot, o.name)?;
        *slot = Some(parse_range(o)?);
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.src.is_none() && self.dst.is_none() {
            return fail("the iprange match needs --src-range or --dst-range");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        for (name, slot) in [("--src-range", self.src), ("--dst-range", self.dst)] {
            if let Some((a, b, inv)) = slot {
                push_opt(
                    out,
                    inv,
                    name,
                    Some(&format!("{}-{}", AddrText(a), AddrText(b))),
                );
            }
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        for (word, slot) in [("source", self.src), ("destination", self.dst)] {
            if let Some((a, b, inv)) = slot {
                out.push_str(&format!(
                    " {word} IP range {}{}-{}",
                    if inv { "! " } else { "" },
                    AddrText(a),
                    AddrText(b)
                ));
            }
        }
    }
}
