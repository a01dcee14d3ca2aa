//! The CHECKSUM target: `--checksum-fill` fills in a checksum left to the
//! network card (old DHCP clients in virtual machines reject such packets;
//! libvirt and Docker add this rule). nf_tables has no such statement and
//! the kernel ties xt_CHECKSUM to a table named mangle, so in moat the rule
//! is kept and counts its packets, with a warning when it is given.

use moat_model::Action;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::Warning;

/// `-j CHECKSUM --checksum-fill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Checksum {
    fill: bool,
}

const OPTIONS: &[OptDef] = &[opt("--checksum-fill", 0, false)];

impl Checksum {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        Action::ChecksumFill
    }
}

impl Extension for Checksum {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        // Given once: the rule parser refuses a flag given again.
        self.fill = true;
        o.warnings.push(Warning::advice(
            "CHECKSUM --checksum-fill has no nf_tables equivalent: moat keeps the rule and counts \
             its packets, but does not fill in checksums left to the network card (a guest whose \
             DHCP client needs them may need `ethtool -K IFACE tx off` on the host's interface)"
                .to_string(),
        ));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if !self.fill {
            return fail("CHECKSUM needs --checksum-fill");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        out.push_str(" --checksum-fill");
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" CHECKSUM fill");
    }
}
