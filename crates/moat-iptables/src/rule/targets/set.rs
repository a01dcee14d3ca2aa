//! The SET target: adds the packet's addresses (or tuple) to one of the
//! kernel's ipsets, or deletes them from one, and goes on. The kernel's
//! xt_SET does it (revision 3), given the sets' indexes when the rule is
//! applied. `--map-set` is refused: xt_SET takes it only in a table named
//! mangle, and moat's is `moat_mangle`.

use moat_model::{Action, IpSetUpdate};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::matches::set::set_and_flags;
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// `-j SET [--add-set NAME FLAGS [--exist] [--timeout N]] [--del-set NAME
/// FLAGS]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SetTarget {
    update: Option<IpSetUpdate>,
}

const OPTIONS: &[OptDef] = &[
    opt("--add-set", 2, false),
    opt("--del-set", 2, false),
    opt("--exist", 0, false),
    opt("--timeout", 1, false),
    opt("--map-set", 2, false),
    opt("--map-mark", 0, false),
    opt("--map-prio", 0, false),
    opt("--map-queue", 0, false),
];

impl SetTarget {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        Action::IpSetUpdate(self.update.clone().unwrap_or_default())
    }
}

impl Extension for SetTarget {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let update = self.update.get_or_insert_with(IpSetUpdate::default);
        match o.name {
            "--add-set" | "--del-set" => {
                let slot = if o.name == "--add-set" {
                    &mut update.add
                } else {
                    &mut update.del
                };
                once(slot, o.name)?;
                *slot = Some(set_and_flags(o.name, o.value(), o.value2())?);
            }
            "--exist" => update.exist = true,
            "--timeout" => {
                // Read without a check, as iptables reads it: the last counts.
                let seconds = number_in(o.value(), "--timeout", 0, u64::from(u32::MAX))?;
                update.timeout = u32::try_from(seconds).ok();
            }
            _ => {
                return fail(format!(
                    "SET {}: moat does not support --map-set: the kernel's xt_SET takes it only \
                     in a table named mangle, and moat's is moat_mangle",
                    o.name
                ))
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        let Some(update) = &self.update else {
            return fail("SET: You must specify either `--add-set' or `--del-set'");
        };
        if update.add.is_none() && update.del.is_none() {
            return fail("SET: You must specify either `--add-set' or `--del-set'");
        }
        if update.add.is_none() && update.exist {
            return fail("SET: flag `--exist' can be used with `--add-set' only");
        }
        if update.add.is_none() && update.timeout.is_some() {
            return fail("SET: option `--timeout' can be used with `--add-set' only");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(update) = &self.update {
            out.push_str(&update.text(false));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some(update) = &self.update {
            out.push_str(&update.text(true));
        }
    }
}
