//! The SYNPROXY target: answers new TCP connections' handshakes with SYN
//! cookies and lets them reach the server only once the client completes
//! the handshake (the anti SYN-flood recipe with `-j CT --notrack`).

use moat_model::{Action, SynProxyOptions};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// `-j SYNPROXY [--mss N] [--wscale N] [--sack-perm] [--timestamp]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SynProxy {
    options: SynProxyOptions,
}

impl SynProxy {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        Action::SynProxy(self.options)
    }
}

impl Extension for SynProxy {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--mss", 1, false),
            opt("--wscale", 1, false),
            opt("--sack-perm", 0, false),
            opt("--timestamp", 0, false),
            opt("--ecn", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let o_ = &mut self.options;
        match o.name {
            "--mss" => {
                once(&o_.mss, "SYNPROXY --mss")?;
                o_.mss = Some(number_in(o.value(), "SYNPROXY --mss", 0, 65535)? as u16);
            }
            "--wscale" => {
                once(&o_.wscale, "SYNPROXY --wscale")?;
                o_.wscale = Some(number_in(o.value(), "SYNPROXY --wscale", 0, 255)? as u8);
            }
            "--sack-perm" => o_.sack_perm = true,
            "--timestamp" => o_.timestamp = true,
            _ => return fail(
                "SYNPROXY --ecn is not supported by moat: nf_tables' synproxy has no ECN option",
            ),
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if cx.plain_proto() != Some(6) {
            return fail("SYNPROXY answers TCP handshakes: give -p tcp");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let o = &self.options;
        if o.sack_perm {
            out.push_str(" --sack-perm");
        }
        if o.timestamp {
            out.push_str(" --timestamp");
        }
        if let Some(w) = o.wscale {
            out.push_str(&format!(" --wscale {w}"));
        }
        if let Some(m) = o.mss {
            out.push_str(&format!(" --mss {m}"));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        let mut words = String::new();
        self.save(&mut words);
        // iptables prints the options without dashes, and a space after.
        out.push_str(" SYNPROXY");
        out.push_str(&words.replace(" --", " "));
        out.push(' ');
    }
}
