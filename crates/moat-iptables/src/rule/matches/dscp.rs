//! The dscp match: the six DSCP bits of the IPv4 TOS byte or IPv6 traffic class.

use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{number_in, push_opt};

/// The DiffServ class names `--dscp-class` takes, with their code points.
const CLASSES: &[(&str, u8)] = &[
    ("CS0", 0x00),
    ("CS1", 0x08),
    ("CS2", 0x10),
    ("CS3", 0x18),
    ("CS4", 0x20),
    ("CS5", 0x28),
    ("CS6", 0x30),
    ("CS7", 0x38),
    ("BE", 0x00),
    ("AF11", 0x0a),
    ("AF12", 0x0c),
    ("AF13", 0x0e),
    ("AF21", 0x12),
    ("AF22", 0x14),
    ("AF23", 0x16),
    ("AF31", 0x1a),
    ("AF32", 0x1c),
    ("AF33", 0x1e),
    ("AF41", 0x22),
    ("AF42", 0x24),
    ("AF43", 0x26),
    ("EF", 0x2e),
];

/// `-m dscp --dscp N` or `--dscp-class NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Dscp {
    /// The code point (0-63) and whether `!` preceded it.
    dscp: Option<(u8, bool)>,
}

impl Dscp {
    /// The model condition: the DS field's top six bits.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((dscp, negate)) = self.dscp {
            out.push(Match::DsField {
                value: dscp << 2,
                mask: 0xfc,
                negate,
            });
        }
    }
}

impl Extension for Dscp {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--dscp", 1, true), opt("--dscp-class", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if self.dscp.is_some() {
            return fail("the dscp match takes one of --dscp and --dscp-class, once");
        }
        let v = o.value();
        let dscp = if o.name == "--dscp" {
            number_in(v, "--dscp", 0, 63)? as u8
        } else {
            match CLASSES.iter().find(|(n, _)| n.eq_ignore_ascii_case(v)) {
                Some(&(_, dscp)) => dscp,
                None => {
                    return fail(format!(
                    "--dscp-class: unknown class \"{v}\" (expected CS0-CS7, BE, AF11-AF43 or EF){}",
                    crate::rule::suggest::did_you_mean(
                        &v.to_ascii_uppercase(),
                        CLASSES.iter().map(|(n, _)| *n)
                    )
                ))
                }
            }
        };
        self.dscp = Some((dscp, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.dscp.is_none() {
            return fail("the dscp match needs --dscp or --dscp-class");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((dscp, inv)) = self.dscp {
            push_opt(out, inv, "--dscp", Some(&format!("{dscp:#04x}")));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((dscp, inv)) = self.dscp {
            out.push_str(&format!(
                " DSCP match {}{dscp:#04x}",
                if inv { "!" } else { "" }
            ));
        }
    }
}
