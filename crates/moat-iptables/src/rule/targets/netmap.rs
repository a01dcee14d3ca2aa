//! The NETMAP target: maps a whole network onto another, keeping each
//! address's host part.

use ipnet::IpNet;
use moat_model::addr_text::AddrText;
use moat_model::{Action, NatSide};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{family_bits, mask_prefix, parse_net_unmasked, AddrSyntax};
use crate::rule::Warning;

/// `-j NETMAP --to ADDRESS[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Netmap {
    to: Option<IpNet>,
}

const OPTIONS: &[OptDef] = &[opt("--to", 1, false)];

impl Netmap {
    /// The model action; which side it maps is settled where the rule is
    /// placed ([`Action::place`]).
    pub(crate) fn lower(&self) -> Action {
        Action::Netmap {
            to: self.to.unwrap_or_default(),
            side: NatSide::Destination,
        }
    }

    fn to_text(&self) -> String {
        self.to
            .map(|n| format!("{}/{}", AddrText(n.addr()), n.prefix_len()))
            .unwrap_or_default()
    }
}

impl Extension for Netmap {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.to, "NETMAP --to")?;
        let net = parse_net_unmasked(o.value(), o.family, "NETMAP --to", AddrSyntax::Resolver)?;
        let to = match mask_prefix(net.mask) {
            Some(len) => IpNet::new(net.addr, len).map(|n| n.trunc()),
            None => {
                o.warnings.push(Warning::advice(format!(
                    "NETMAP --to {}: iptables keeps only the address of a mask that is not a \
                     prefix, as moat does; the rule maps to {} alone",
                    o.value(),
                    net.addr
                )));
                IpNet::new(net.addr, family_bits(o.family))
            }
        };
        match to {
            Ok(n) => self.to = Some(n),
            Err(e) => return fail(format!("NETMAP --to {}: {e}", o.value())),
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.to.is_none() {
            return fail("NETMAP needs --to ADDRESS/PREFIX");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        out.push_str(" --to ");
        out.push_str(&self.to_text());
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" to:");
        out.push_str(&self.to_text());
    }
}
