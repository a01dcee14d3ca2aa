//! `-m nfacct`: counts the packets and bytes it sees in an extended
//! accounting object made with nfacct(8) (xt_nfacct, revision 1); the rule
//! is refused by the kernel while no such object exists.

use moat_model::text::first_bytes;
use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::save_string;

/// The name field, its terminating zero included; iptables keeps the
/// first 31 bytes of a longer name.
const NAME_FIELD: usize = 32;

/// `-m nfacct --nfacct-name NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct NfAcct {
    name: Option<String>,
}

impl NfAcct {
    /// The kernel extension: the name, then the kernel's pointer to the
    /// object it found.
    pub(crate) fn ext(&self) -> XtExtension {
        let name = self.name.clone().unwrap_or_default();
        let info = XtLayout::new()
            .bytes(name.as_bytes(), NAME_FIELD)
            .align(8)
            .bytes(&[], 8)
            .finish();
        kernel_ext("-m", "nfacct", 1, info, self)
    }
}

impl Extension for NfAcct {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--nfacct-name", 1, false)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.name, "--nfacct-name")?;
        self.name = Some(first_bytes(o.value(), NAME_FIELD - 1).to_string());
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.name.is_none() {
            return fail("nfacct: option \"--nfacct-name\" must be specified");
        }
        Ok(())
    }

    // iptables writes two spaces before the name.
    fn save(&self, out: &mut String) {
        if let Some(name) = &self.name {
            out.push_str(&format!(" --nfacct-name  {}", save_string(name)));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some(name) = &self.name {
            out.push_str(&format!(" nfacct-name  {name}"));
        }
    }
}
