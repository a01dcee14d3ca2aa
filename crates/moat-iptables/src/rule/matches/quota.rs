//! The quota match: matches until the rule has seen a number of bytes.

use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{parse_number, push_opt};

/// `-m quota --quota BYTES`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Quota {
    /// The byte budget and whether `!` preceded it.
    quota: Option<(u64, bool)>,
}

impl Quota {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((bytes, negate)) = self.quota {
            out.push(Match::Quota { bytes, negate });
        }
    }
}

impl Extension for Quota {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--quota", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.quota, "--quota")?;
        let Some(bytes) = parse_number(o.value()) else {
            return fail(format!(
                "--quota needs a number of bytes (0-{}), not \"{}\"",
                u64::MAX,
                o.value()
            ));
        };
        self.quota = Some((bytes, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.quota.is_none() {
            return fail("the quota match needs --quota");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((bytes, inv)) = self.quota {
            push_opt(out, inv, "--quota", Some(&bytes.to_string()));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((bytes, _)) = self.quota {
            out.push_str(&format!(" quota: {bytes} bytes"));
        }
    }
}
