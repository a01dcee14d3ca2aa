//! The NOTRACK target and the CT target: `--notrack`, and conntrack zones
//! (`--zone`, `--zone-orig`, `--zone-reply`).

use moat_model::{Action, CtDirection};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// `-j NOTRACK`, or `-j CT [--notrack] [--zone[-orig|-reply] ID]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CtTarget {
    ct: bool,
    notrack: bool,
    /// The zone the last `--zone*` option gave (0: the default zone).
    zone: (u16, Option<CtDirection>),
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

impl CtTarget {
    /// NOTRACK, or CT when `ct`.
    pub(crate) fn new(ct: bool) -> Self {
        CtTarget {
            ct,
            notrack: !ct,
            zone: (0, None),
        }
    }

    /// The target name.
    pub(crate) fn name(&self) -> &'static str {
        if self.ct {
            "CT"
        } else {
            "NOTRACK"
        }
    }

    /// The model action: the kernel ignores the zone of an untracked packet.
    pub(crate) fn lower(&self) -> Action {
        if self.notrack {
            Action::NoTrack
        } else {
            let (id, dir) = self.zone;
            Action::CtZone { id, dir }
        }
    }

    /// The zone option and its value as iptables writes them (`--zone 1`,
    /// `--zone-orig 2`); none for the default zone.
    fn zone_words(&self) -> Option<(&'static str, u16)> {
        let (id, dir) = self.zone;
        let name = match dir {
            None => "zone",
            Some(CtDirection::Original) => "zone-orig",
            Some(CtDirection::Reply) => "zone-reply",
        };
        (id != 0).then_some((name, id))
    }
}

impl Extension for CtTarget {
    fn options(&self) -> &'static [OptDef] {
        if self.ct {
            CT_OPTIONS
        } else {
            &[]
        }
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let dir = match o.name {
            "--notrack" => {
                self.notrack = true;
                return Ok(());
            }
            "--zone" => None,
            "--zone-orig" => Some(CtDirection::Original),
            "--zone-reply" => Some(CtDirection::Reply),
            other => {
                return fail(format!(
                    "CT {other} is not supported by moat (CT --notrack and the --zone options are)"
                ))
            }
        };
        let v = o.value();
        if v == "mark" {
            return fail(format!(
                "CT {} mark is not supported by moat: give the zone as a number",
                o.name
            ));
        }
        let id = number_in(v, &format!("CT {}", o.name), 0, u64::from(u16::MAX))? as u16;
        // The default zone is the same in either direction.
        self.zone = (id, if id == 0 { None } else { dir });
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if !self.ct {
            return;
        }
        if self.notrack {
            out.push_str(" --notrack");
        }
        if let Some((name, id)) = self.zone_words() {
            out.push_str(&format!(" --{name} {id}"));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if !self.ct {
            out.push_str(" NOTRACK");
            return;
        }
        out.push_str(" CT");
        if self.notrack {
            out.push_str(" notrack");
        }
        if let Some((name, id)) = self.zone_words() {
            out.push_str(&format!(" {name} {id}"));
        }
    }
}
