//! The NOTRACK target and its modern spelling `CT --notrack`.

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};

/// `-j NOTRACK` or `-j CT --notrack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoTrack {
    ct: bool,
    notrack: bool,
}

const CT_OPTIONS: &[OptDef] = &[
    opt("--notrack", 0, false),
    opt("--helper", 1, false),
    opt("--ctevents", 1, false),
    opt("--expevents", 1, false),
    opt("--zone", 1, false),
    opt("--zone-orig", 1, false),
    opt("--zone-reply", 1, false),
    opt("--timeout", 1, false),
];

impl NoTrack {
    /// NOTRACK, or CT when `ct`.
    pub(crate) fn new(ct: bool) -> Self {
        NoTrack { ct, notrack: !ct }
    }

    /// The target name.
    pub(crate) fn name(&self) -> &'static str {
        if self.ct {
            "CT"
        } else {
            "NOTRACK"
        }
    }
}

impl Extension for NoTrack {
    fn options(&self) -> &'static [OptDef] {
        if self.ct {
            CT_OPTIONS
        } else {
            &[]
        }
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if o.name != "--notrack" {
            return fail(format!(
                "CT {} is not supported by moat (only CT --notrack is)",
                o.name
            ));
        }
        self.notrack = true;
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if !self.notrack {
            return fail("moat supports the CT target only as -j CT --notrack");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if self.ct {
            out.push_str(" --notrack");
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(if self.ct { " CT notrack" } else { " NOTRACK" });
    }
}
