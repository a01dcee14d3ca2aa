//! The rpfilter match: the packet's source routes back out through the
//! interface it came in by (a reverse path filter), in nf_tables' own route
//! lookup, `fib saddr . iif oif`, as iptables-translate writes it, and with
//! `--accept-local` also when the source is one of this host's addresses
//! (a second lookup of its route type, see the rule compiler).

use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};

/// `-m rpfilter [--loose] [--validmark] [--accept-local] [--invert]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RpFilter {
    loose: bool,
    valid_mark: bool,
    accept_local: bool,
    invert: bool,
}

impl RpFilter {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        out.push(Match::RpFilter {
            loose: self.loose,
            valid_mark: self.valid_mark,
            accept_local: self.accept_local,
            negate: self.invert,
        });
    }

    /// The options that are on, as `-S` names them.
    fn flags(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.loose, "loose"),
            (self.valid_mark, "validmark"),
            (self.accept_local, "accept-local"),
            (self.invert, "invert"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
    }
}

impl Extension for RpFilter {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--loose", 0, false),
            opt("--validmark", 0, false),
            opt("--accept-local", 0, false),
            opt("--invert", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let slot = match o.name {
            "--loose" => &mut self.loose,
            "--validmark" => &mut self.valid_mark,
            "--accept-local" => &mut self.accept_local,
            _ => &mut self.invert,
        };
        if *slot {
            return fail(format!(
                "rpfilter: option \"{}\" can only be used once",
                o.name
            ));
        }
        *slot = true;
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        Ok(())
    }

    fn save(&self, out: &mut String) {
        for flag in self.flags() {
            out.push_str(" --");
            out.push_str(flag);
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" rpfilter");
        for flag in self.flags() {
            out.push(' ');
            out.push_str(flag);
        }
    }
}
