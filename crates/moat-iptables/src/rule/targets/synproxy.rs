//! The SYNPROXY target: answers new TCP connections' handshakes with SYN
//! cookies and lets them reach the server only once the client completes
//! the handshake (the anti SYN-flood recipe with `-j CT --notrack`).
//!
//! nf_tables' synproxy has every option but `--ecn` (the kernel's
//! NF_SYNPROXY_OPT_MASK leaves it out); with `--ecn` the rule runs the
//! kernel's xt_SYNPROXY through `nft_compat`, as iptables-nft does.

use moat_model::{Action, Hook, SynProxyOptions, XtLayout};

use crate::rule::compat::kernel_ext;
use crate::rule::error::{refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// `-j SYNPROXY [--mss N] [--wscale N] [--sack-perm] [--timestamp] [--ecn]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SynProxy {
    options: SynProxyOptions,
    ecn: bool,
}

/// xt_SYNPROXY's option bits (XT_SYNPROXY_OPT_*).
const OPT_MSS: u8 = 0x01;
const OPT_WSCALE: u8 = 0x02;
const OPT_SACK_PERM: u8 = 0x04;
const OPT_TIMESTAMP: u8 = 0x08;
const OPT_ECN: u8 = 0x10;

impl SynProxy {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        if !self.ecn {
            return Action::SynProxy(self.options);
        }
        let o = &self.options;
        let bits = [
            (o.mss.is_some(), OPT_MSS),
            (o.wscale.is_some(), OPT_WSCALE),
            (o.sack_perm, OPT_SACK_PERM),
            (o.timestamp, OPT_TIMESTAMP),
            (true, OPT_ECN),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, bit)| acc | bit);
        // struct xt_synproxy_info { __u8 options; __u8 wscale; __u16 mss; }
        let info = XtLayout::new()
            .u8(bits)
            .u8(o.wscale.unwrap_or(0))
            .u16(o.mss.unwrap_or(0))
            .finish();
        let mut ext = kernel_ext("-j", "SYNPROXY", 0, info, self);
        ext.hooks = vec![Hook::Input, Hook::Forward];
        Action::Xt(ext)
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
            _ => self.ecn = true,
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if cx.plain_proto() != Some(6) {
            return refused_by_kernel("SYNPROXY answers TCP handshakes: give -p tcp");
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
        if self.ecn {
            out.push_str(" --ecn");
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
