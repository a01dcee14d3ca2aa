//! The set match: membership in an ipset.

use moat_model::{Match, SetSide};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::push_opt;

/// `-m set --match-set NAME src[,dst...]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SetMatch {
    set: Option<(String, Vec<SetSide>, bool)>,
}

fn sides_text(sides: &[SetSide]) -> String {
    sides
        .iter()
        .map(|s| match s {
            SetSide::Source => "src",
            SetSide::Destination => "dst",
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl SetMatch {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((name, sides, negate)) = &self.set {
            out.push(Match::InSet {
                name: name.clone(),
                sides: sides.clone(),
                negate: *negate,
            });
        }
    }
}

impl Extension for SetMatch {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--match-set", 2, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.set, "--match-set")?;
        let name = o.value();
        if name.is_empty() || name.len() > 31 {
            return fail(format!(
                "--match-set: set name \"{name}\" must have 1 to 31 characters"
            ));
        }
        let mut sides = Vec::new();
        for part in o.value2().split(',') {
            sides.push(match part {
                "src" => SetSide::Source,
                "dst" => SetSide::Destination,
                _ => {
                    return fail(format!(
                        "--match-set {name}: \"{part}\" is not src or dst (write the flags like src or src,dst)"
                    ))
                }
            });
        }
        if sides.len() > 6 {
            return fail("--match-set takes at most 6 src/dst flags");
        }
        self.set = Some((name.to_string(), sides, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.set.is_none() {
            return fail("the set match needs --match-set NAME src|dst");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((name, sides, inv)) = &self.set {
            push_opt(
                out,
                *inv,
                "--match-set",
                Some(&format!("{name} {}", sides_text(sides))),
            );
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((name, sides, inv)) = &self.set {
            out.push_str(&format!(
                "{} match-set {name} {}",
                if *inv { " !" } else { "" },
                sides_text(sides)
            ));
        }
    }
}
