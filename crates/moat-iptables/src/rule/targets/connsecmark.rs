//! The CONNSECMARK target: copies an SELinux security mark between a
//! packet and its connection (`meta secmark` and `ct secmark` in
//! nf_tables), the way SECMARK rules on one packet reach the rest.

use moat_model::{Action, SecMarkCopy};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};

/// `-j CONNSECMARK --save|--restore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ConnSecMark {
    copy: Option<SecMarkCopy>,
}

const OPTIONS: &[OptDef] = &[opt("--save", 0, false), opt("--restore", 0, false)];

impl ConnSecMark {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        Action::ConnSecMark(self.copy.unwrap_or(SecMarkCopy::Save))
    }
}

impl Extension for ConnSecMark {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let copy = if o.name == "--save" {
            SecMarkCopy::Save
        } else {
            SecMarkCopy::Restore
        };
        match self.copy {
            Some(given) => fail(format!(
                "CONNSECMARK: --{} and {} cannot be given together (one rule copies one way)",
                given.word(),
                o.name
            )),
            None => {
                self.copy = Some(copy);
                Ok(())
            }
        }
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.copy.is_none() {
            return fail("CONNSECMARK needs --save or --restore");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(copy) = self.copy {
            out.push_str(&format!(" --{}", copy.word()));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some(copy) = self.copy {
            out.push_str(&format!(" CONNSECMARK {}", copy.word()));
        }
    }
}
