//! `-m helper`: packets of connections a conntrack helper (ftp, sip, ...)
//! set up (xt_helper, revision 0).

use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};

/// The name field; iptables keeps the first 29 bytes of a longer name.
const NAME_FIELD: usize = 30;

/// `-m helper`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Helper {
    name: Option<(String, bool)>,
}

impl Helper {
    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let (name, invert) = self.name.clone().unwrap_or_default();
        let info = XtLayout::new()
            .u32(u32::from(invert))
            .bytes(name.as_bytes(), NAME_FIELD)
            .finish();
        kernel_ext("-m", "helper", 0, info, self)
    }
}

impl Extension for Helper {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--helper", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.name, "--helper")?;
        let name: String = o.value().chars().take(NAME_FIELD - 1).collect();
        if name.len() >= NAME_FIELD {
            return fail("--helper: the name must be ASCII");
        }
        self.name = Some((name, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.name.is_none() {
            return fail("helper: option \"--helper\" must be specified");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((name, invert)) = &self.name {
            let bang = if *invert { " !" } else { "" };
            out.push_str(&format!(
                "{bang} --helper {}",
                crate::rule::values::save_string(name)
            ));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((name, invert)) = &self.name {
            let bang = if *invert { "! " } else { "" };
            out.push_str(&format!(" helper match {bang}\"{name}\""));
        }
    }
}
