//! The tos match: the IPv4 TOS byte or IPv6 traffic class under a mask.

use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{parse_number, push_opt};

/// The symbolic TOS values (RFC 1349); a name matches under the mask 0x3f.
const NAMES: &[(&str, u8)] = &[
    ("Minimize-Delay", 0x10),
    ("Maximize-Throughput", 0x08),
    ("Maximize-Reliability", 0x04),
    ("Minimize-Cost", 0x02),
    ("Normal-Service", 0x00),
];

/// The mask a symbolic name is tested under.
const NAME_MASK: u8 = 0x3f;

/// `-m tos --tos VALUE[/MASK]` or `--tos NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Tos {
    /// Value, mask, and whether `!` preceded them.
    tos: Option<(u8, u8, bool)>,
}

/// A byte as `strtoul(s, NULL, 0)` reads it.
fn byte(s: &str, whole: &str) -> Res<u8> {
    match parse_number(s).map(u8::try_from) {
        Some(Ok(b)) => Ok(b),
        _ => fail(format!(
            "--tos: \"{whole}\" is neither a value 0-0xff with an optional /mask 0-0xff nor a TOS name ({})",
            NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        )),
    }
}

impl Tos {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((value, mask, negate)) = self.tos {
            out.push(Match::DsField {
                value,
                mask,
                negate,
            });
        }
    }
}

impl Extension for Tos {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--tos", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.tos, "--tos")?;
        let v = o.value();
        let named = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(v));
        let (value, mask) = match (named, v.split_once('/')) {
            (Some(&(_, value)), _) => (value, NAME_MASK),
            (None, Some((a, m))) => (byte(a, v)?, byte(m, v)?),
            (None, None) => (byte(v, v)?, 0xff),
        };
        self.tos = Some((value, mask, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.tos.is_none() {
            return fail("the tos match needs --tos");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((value, mask, inv)) = self.tos {
            push_opt(
                out,
                inv,
                "--tos",
                Some(&format!("{value:#04x}/{mask:#04x}")),
            );
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        if let Some((value, mask, inv)) = self.tos {
            out.push_str(" tos match");
            if inv {
                out.push('!');
            }
            let name = NAMES
                .iter()
                .find(|&&(_, v)| !numeric && mask == NAME_MASK && v == value);
            match name {
                Some((n, _)) => out.push_str(&format!(" {n}")),
                None => out.push_str(&format!("{value:#04x}/{mask:#04x}")),
            }
        }
    }
}
