//! The devgroup match: the group of the input or output interface.

use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{named_mark_text, parse_named_mark, push_opt};

/// Where iproute2 names device groups (`0 default`).
const GROUP_FILE: &str = "/etc/iproute2/group";

/// A group test: value, mask, and whether `!` preceded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    value: u32,
    mask: u32,
    invert: bool,
}

impl Group {
    /// `0x1`, `0x10/0xf0`, or with `named` a group name from the group file.
    fn text(self, named: bool) -> String {
        named_mark_text(self.value, self.mask, named, GROUP_FILE)
    }
}

/// `-m devgroup --src-group G[/M] --dst-group G[/M]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct DevGroup {
    src: Option<Group>,
    dst: Option<Group>,
}

fn parse_group(text: &str, opt: &str, invert: bool) -> Res<Group> {
    let (value, mask) = parse_named_mark(text, opt, GROUP_FILE)?;
    Ok(Group {
        value,
        mask,
        invert,
    })
}

impl DevGroup {
    /// The model conditions.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        for (group, output) in [(self.src, false), (self.dst, true)] {
            if let Some(g) = group {
                out.push(Match::DeviceGroup {
                    output,
                    value: g.value,
                    mask: g.mask,
                    negate: g.invert,
                });
            }
        }
    }
}

impl Extension for DevGroup {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--src-group", 1, true), opt("--dst-group", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let slot = if o.name == "--src-group" {
            &mut self.src
        } else {
            &mut self.dst
        };
        once(slot, o.name)?;
        *slot = Some(parse_group(o.value(), o.name, o.invert)?);
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.src.is_none() && self.dst.is_none() {
            return fail("the devgroup match needs --src-group or --dst-group");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        for (group, opt) in [(self.src, "--src-group"), (self.dst, "--dst-group")] {
            if let Some(g) = group {
                push_opt(out, g.invert, opt, Some(&g.text(true)));
            }
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        for (group, what) in [(self.src, "src-group"), (self.dst, "dst-group")] {
            if let Some(g) = group {
                out.push_str(&format!(
                    "{} {what} {}",
                    if g.invert { " !" } else { "" },
                    g.text(!numeric)
                ));
            }
        }
    }
}
