//! The TRACE target: marks the packet so nf_tables reports its path.

use crate::rule::error::Res;
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::OptDef;

/// `-j TRACE`, which takes no options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Trace;

impl Extension for Trace {
    fn options(&self) -> &'static [OptDef] {
        &[]
    }

    fn parse(&mut self, _o: &mut Opt<'_>) -> Res<()> {
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        Ok(())
    }

    fn save(&self, _out: &mut String) {}

    fn print(&self, _out: &mut String, _numeric: bool) {}
}
