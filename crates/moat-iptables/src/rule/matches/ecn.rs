//! The ecn match: the ECN bits of the IP header and the TCP ECE and CWR flags.

use moat_model::{Match, TcpFlags};

use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{number_in, push_opt};

/// The TCP ECE flag.
const ECE: u8 = 0x40;
/// The TCP CWR flag.
const CWR: u8 = 0x80;
/// The ECN bits of the DS field.
const ECN_MASK: u8 = 0x03;

/// `-m ecn --ecn-tcp-ece --ecn-tcp-cwr --ecn-ip-ect N`; each holds whether
/// `!` preceded it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Ecn {
    ece: Option<bool>,
    cwr: Option<bool>,
    ect: Option<(u8, bool)>,
}

impl Ecn {
    /// The model conditions: a TCP flag test for ECE and CWR (set, or with
    /// `!` clear), a DS-field test for the IP ECN bits.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        let mut flags = TcpFlags { mask: 0, set: 0 };
        for (flag, inv) in [(ECE, self.ece), (CWR, self.cwr)] {
            if let Some(inv) = inv {
                flags.mask |= flag;
                if !inv {
                    flags.set |= flag;
                }
            }
        }
        if flags.mask != 0 {
            out.push(Match::TcpFlags {
                flags,
                negate: false,
            });
        }
        if let Some((ect, negate)) = self.ect {
            out.push(Match::DsField {
                value: ect,
                mask: ECN_MASK,
                negate,
            });
        }
    }
}

impl Extension for Ecn {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--ecn-tcp-cwr", 0, true),
            opt("--ecn-tcp-ece", 0, true),
            opt("--ecn-ip-ect", 1, true),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        match o.name {
            "--ecn-tcp-cwr" => {
                once(&self.cwr, o.name)?;
                self.cwr = Some(o.invert);
            }
            "--ecn-tcp-ece" => {
                once(&self.ece, o.name)?;
                self.ece = Some(o.invert);
            }
            _ => {
                once(&self.ect, o.name)?;
                let ect = number_in(o.value(), o.name, 0, 3)? as u8;
                self.ect = Some((ect, o.invert));
            }
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if self.ece.is_none() && self.cwr.is_none() && self.ect.is_none() {
            return fail("the ecn match needs --ecn-tcp-cwr, --ecn-tcp-ece or --ecn-ip-ect");
        }
        if (self.ece.is_some() || self.cwr.is_some()) && cx.plain_proto() != Some(6) {
            return refused_by_kernel("--ecn-tcp-cwr and --ecn-tcp-ece need -p tcp before them");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(inv) = self.ece {
            push_opt(out, inv, "--ecn-tcp-ece", None);
        }
        if let Some(inv) = self.cwr {
            push_opt(out, inv, "--ecn-tcp-cwr", None);
        }
        if let Some((ect, inv)) = self.ect {
            push_opt(out, inv, "--ecn-ip-ect", Some(&ect.to_string()));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        let bang = |inv: bool| if inv { "!" } else { "" };
        out.push_str(" ECN match");
        if let Some(inv) = self.ece {
            out.push_str(&format!(" {}ECE", bang(inv)));
        }
        if let Some(inv) = self.cwr {
            out.push_str(&format!(" {}CWR", bang(inv)));
        }
        if let Some((ect, inv)) = self.ect {
            out.push_str(&format!(" {}ECT={ect}", bang(inv)));
        }
    }
}
