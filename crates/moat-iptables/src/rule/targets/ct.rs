//! The NOTRACK target and the CT target: `--notrack`, conntrack zones
//! (`--zone`, `--zone-orig`, `--zone-reply`, a number or `mark`) and
//! conntrack helpers (`--helper`), event masks (`--ctevents`) and timeout
//! policies (`--timeout`).

use moat_model::{ct_event_names, Action, CtDirection, CT_EVENTS};

use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// `-j NOTRACK`, or `-j CT [--notrack] [--zone[-orig|-reply] ID|mark]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CtTarget {
    ct: bool,
    notrack: bool,
    /// The zone the last `--zone*` number gave (0: the default zone).
    zone: u16,
    /// Whether a `--zone*` option said `mark`: the zone is the packet's mark.
    zone_mark: bool,
    /// The directions `--zone-orig` and `--zone-reply` named; as in
    /// iptables they add up, and none or both mean both.
    zone_orig: bool,
    zone_reply: bool,
    /// Which of `--zone`, `--zone-orig`, `--zone-reply` were given (each once).
    zone_options: u8,
    /// `--helper NAME`, and the rule's protocol the helper follows.
    helper: Option<(String, u8)>,
    /// `--ctevents`: the bits of [`CT_EVENTS`] to report.
    events: Option<u16>,
    /// `--timeout NAME`, and the rule's protocol the policy is for.
    timeout: Option<(String, u8)>,
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
            zone: 0,
            zone_mark: false,
            zone_orig: false,
            zone_reply: false,
            zone_options: 0,
            helper: None,
            events: None,
            timeout: None,
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

    /// The one direction the zone is for, if it is for one.
    fn zone_dir(&self) -> Option<CtDirection> {
        match (self.zone_orig, self.zone_reply) {
            (true, false) => Some(CtDirection::Original),
            (false, true) => Some(CtDirection::Reply),
            _ => None,
        }
    }

    /// The model action. As in xt_CT, `--notrack` makes every other option
    /// moot: an untracked packet has no connection to set up.
    pub(crate) fn lower(&self) -> Action {
        if self.notrack {
            return Action::NoTrack;
        }
        let mut parts = Vec::new();
        if let Some((helper, proto)) = &self.helper {
            parts.push(Action::CtHelper {
                helper: helper.clone(),
                proto: *proto,
            });
        }
        if let Some((policy, proto)) = &self.timeout {
            parts.push(Action::CtTimeout {
                policy: policy.clone(),
                proto: *proto,
            });
        }
        if let Some(mask) = self.events {
            parts.push(Action::CtEvents { mask });
        }
        if self.zone_mark {
            parts.push(Action::CtZoneFromMark {
                dir: self.zone_dir(),
            });
        } else if self.zone != 0 || parts.is_empty() {
            // The default zone is the same in either direction.
            let dir = self.zone_dir().filter(|_| self.zone != 0);
            parts.push(Action::CtZone { id: self.zone, dir });
        }
        if parts.len() == 1 {
            parts.remove(0)
        } else {
            Action::CtSeveral(parts)
        }
    }

    /// The zone option and its value as iptables writes them (`--zone 1`,
    /// `--zone-orig mark`); none for the default zone.
    fn zone_words(&self) -> Option<(&'static str, String)> {
        let name = match self.zone_dir() {
            None => "zone",
            Some(CtDirection::Original) => "zone-orig",
            Some(CtDirection::Reply) => "zone-reply",
        };
        if self.zone_mark {
            Some((name, "mark".to_string()))
        } else {
            (self.zone != 0).then(|| (name, self.zone.to_string()))
        }
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
            "--helper" => {
                if self.helper.is_some() {
                    return fail("CT --helper given twice");
                }
                let name = o.value();
                // The kernel's helper names have at most 15 characters.
                if name.is_empty() || name.len() > 15 || name.contains(char::is_whitespace) {
                    return refused_by_kernel(format!(
                        "CT --helper \"{name}\": give a conntrack helper's name, such as ftp, tftp, sip or irc"
                    ));
                }
                self.helper = Some((name.to_string(), 0));
                return Ok(());
            }
            "--ctevents" => {
                if self.events.is_some() {
                    return fail("CT --ctevents given twice");
                }
                let mut mask = 0;
                for name in o.value().split(',') {
                    match CT_EVENTS.iter().position(|e| *e == name) {
                        Some(bit) => mask |= 1 << bit,
                        None => {
                            return fail(format!(
                                "CT --ctevents: unknown event type \"{name}\" (expected {})",
                                CT_EVENTS.join(", ")
                            ))
                        }
                    }
                }
                self.events = Some(mask);
                return Ok(());
            }
            "--timeout" => {
                if self.timeout.is_some() {
                    return fail("CT --timeout given twice");
                }
                let name = o.value();
                // xt_CT keeps the name in 32 bytes with its NUL.
                if name.is_empty() || name.len() > 31 || name.contains(char::is_whitespace) {
                    return refused_by_kernel(format!(
                        "CT --timeout \"{name}\": give the name (1 to 31 characters) of a timeout \
                         policy made with `nfct add timeout NAME ...`"
                    ));
                }
                self.timeout = Some((name.to_string(), 0));
                return Ok(());
            }
            "--expevents" => {
                return fail(
                    "CT --expevents is not supported by moat: nf_tables has no event mask for \
                     a connection's expectations (CT --ctevents is supported)",
                )
            }
            other => {
                return fail(format!(
                    "CT {other} is not supported by moat (CT --notrack, --helper, --ctevents, \
                     --timeout and the --zone options are)"
                ))
            }
        };
        let bit = 1 << dir.map_or(0, |d| d as u8 + 1);
        if self.zone_options & bit != 0 {
            return fail(format!("CT {} given twice", o.name));
        }
        self.zone_options |= bit;
        let v = o.value();
        if v.eq_ignore_ascii_case("mark") {
            self.zone_mark = true;
        } else {
            self.zone = number_in(v, &format!("CT {}", o.name), 0, u64::from(u16::MAX))? as u16;
        }
        match dir {
            Some(CtDirection::Original) => self.zone_orig = true,
            Some(CtDirection::Reply) => self.zone_reply = true,
            None => {}
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if let Some((name, proto)) = &mut self.timeout {
            let Some(p) = cx.plain_proto() else {
                return refused_by_kernel(format!(
                    "CT --timeout {name} needs the rule's protocol (-p tcp, -p udp, ...): a timeout \
                     policy is for connections of one protocol, and the kernel refuses it without"
                ));
            };
            *proto = p;
        }
        if let Some((name, proto)) = &mut self.helper {
            let Some(p) = cx.plain_proto() else {
                return refused_by_kernel(format!(
                    "CT --helper {name} needs the rule's protocol (-p tcp or -p udp): a helper \
                     follows connections of one protocol, and the kernel refuses it without"
                ));
            };
            if p != 6 && p != 17 {
                return refused_by_kernel(format!(
                    "CT --helper {name}: the kernel's conntrack helpers follow TCP or UDP \
                     connections; give -p tcp or -p udp"
                ));
            }
            *proto = p;
        }
        // Both directions are the zone of the connection; the default zone
        // has no direction. Kept as -S writes them, so the rule reads back equal.
        if self.zone_orig == self.zone_reply || (self.zone == 0 && !self.zone_mark) {
            self.zone_orig = false;
            self.zone_reply = false;
        }
        self.zone_options = 0;
        if self.zone_mark {
            self.zone = 0;
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if !self.ct {
            return;
        }
        if self.notrack {
            out.push_str(" --notrack");
        }
        if let Some((helper, _)) = &self.helper {
            out.push_str(&format!(" --helper {helper}"));
        }
        if let Some((policy, _)) = &self.timeout {
            out.push_str(&format!(" --timeout {policy}"));
        }
        if let Some(mask) = self.events {
            out.push_str(&format!(" --ctevents {}", ct_event_names(mask)));
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
        if let Some((helper, _)) = &self.helper {
            out.push_str(&format!(" helper {helper}"));
        }
        if let Some((policy, _)) = &self.timeout {
            out.push_str(&format!(" timeout {policy}"));
        }
        if let Some(mask) = self.events {
            out.push_str(&format!(" ctevents {}", ct_event_names(mask)));
        }
        if let Some((name, id)) = self.zone_words() {
            out.push_str(&format!(" {name} {id}"));
        }
    }
}
