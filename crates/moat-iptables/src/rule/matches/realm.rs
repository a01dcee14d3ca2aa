//! The realm match: the routing realm of the packet's route (IPv4).

use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{named_mark_text, parse_named_mark, push_opt};

/// Where iproute2 names realms (`0 cosmos`).
const REALM_FILE: &str = "/etc/iproute2/rt_realms";

/// `-m realm --realm VALUE[/MASK]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Realm {
    /// Value, mask, and whether `!` preceded them.
    realm: Option<(u32, u32, bool)>,
}

impl Realm {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((value, mask, negate)) = self.realm {
            out.push(Match::Realm {
                value,
                mask,
                negate,
            });
        }
    }
}

impl Extension for Realm {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--realm", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.realm, "--realm")?;
        let (value, mask) = parse_named_mark(o.value(), "--realm", REALM_FILE)?;
        self.realm = Some((value, mask, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.realm.is_none() {
            return fail("the realm match needs --realm");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((value, mask, inv)) = self.realm {
            let text = named_mark_text(value, mask, true, REALM_FILE);
            push_opt(out, inv, "--realm", Some(&text));
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        if let Some((value, mask, inv)) = self.realm {
            out.push_str(&format!(
                "{} realm {}",
                if inv { " !" } else { "" },
                named_mark_text(value, mask, !numeric, REALM_FILE)
            ));
        }
    }
}
