//! The cpu match: the CPU handling the packet.

use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{push_opt, u32_value};

/// `-m cpu --cpu N`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Cpu {
    /// The CPU number and whether `!` preceded it.
    cpu: Option<(u32, bool)>,
}

impl Cpu {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((cpu, negate)) = self.cpu {
            out.push(Match::Cpu { cpu, negate });
        }
    }
}

impl Extension for Cpu {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--cpu", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.cpu, "--cpu")?;
        self.cpu = Some((u32_value(o.value(), "--cpu")?, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.cpu.is_none() {
            return fail("the cpu match needs --cpu");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((cpu, inv)) = self.cpu {
            push_opt(out, inv, "--cpu", Some(&cpu.to_string()));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((cpu, inv)) = self.cpu {
            out.push_str(&format!(" cpu {}{cpu}", if inv { "! " } else { "" }));
        }
    }
}
