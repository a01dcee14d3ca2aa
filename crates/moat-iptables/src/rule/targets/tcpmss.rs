//! The TCPMSS target: lowers the maximum segment size a TCP SYN announces.

use moat_model::{Action, Family, MssValue};

use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// `-j TCPMSS --set-mss N` or `-j TCPMSS --clamp-mss-to-pmtu`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TcpMss {
    value: Option<MssValue>,
    /// While parsing: whether --set-mss was given (each option may come once).
    set_given: bool,
    /// While parsing: whether --clamp-mss-to-pmtu was given.
    clamp_given: bool,
}

const OPTIONS: &[OptDef] = &[
    opt("--set-mss", 1, false),
    opt("--clamp-mss-to-pmtu", 0, false),
];

/// The largest MSS an IPv4 packet can carry (65535 less 20 bytes of IP
/// header and 20 of TCP header), as iptables allows it.
const MAX_MSS_V4: u64 = 65515;
/// The same for IPv6 (40 bytes of IPv6 header).
const MAX_MSS_V6: u64 = 65495;

impl TcpMss {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        Action::TcpMss(self.value.unwrap_or(MssValue::PathMtu))
    }
}

impl Extension for TcpMss {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        // Each option may be given once; of the two, the later one counts,
        // as in iptables.
        let given = if o.name == "--set-mss" {
            &mut self.set_given
        } else {
            &mut self.clamp_given
        };
        if *given {
            return fail(format!("TCPMSS: {} given twice", o.name));
        }
        *given = true;
        self.value = Some(if o.name == "--set-mss" {
            let max = match o.family {
                Family::Ipv4 => MAX_MSS_V4,
                Family::Ipv6 => MAX_MSS_V6,
            };
            MssValue::Fixed(number_in(o.value(), "TCPMSS --set-mss", 0, max)? as u16)
        } else {
            MssValue::PathMtu
        });
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if self.value.is_none() {
            return fail("TCPMSS needs --set-mss N or --clamp-mss-to-pmtu");
        }
        if cx.plain_proto() != Some(6) {
            return refused_by_kernel("TCPMSS works on TCP packets only: add -p tcp (with --tcp-flags SYN,RST SYN to change only SYNs)");
        }
        // The rule is the same however it was spelt.
        self.set_given = false;
        self.clamp_given = false;
        Ok(())
    }

    fn save(&self, out: &mut String) {
        match self.value {
            Some(MssValue::Fixed(n)) => out.push_str(&format!(" --set-mss {n}")),
            _ => out.push_str(" --clamp-mss-to-pmtu"),
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        match self.value {
            Some(MssValue::Fixed(n)) => out.push_str(&format!(" TCPMSS set {n}")),
            _ => out.push_str(" TCPMSS clamp to PMTU"),
        }
    }
}
