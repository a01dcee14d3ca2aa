//! The owner match: the user, group or existence of the local socket that
//! sent the packet.

use moat_model::{Hook, Match, XtExtension, XtLayout};

use crate::rule::compat::kernel_ext;
use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{number_in, push_opt};

/// The highest id iptables takes (`(uid_t)-1` means "no id").
const MAX_ID: u64 = u32::MAX as u64 - 1;

/// An id range and whether `!` preceded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ids {
    min: u32,
    max: u32,
    invert: bool,
}

impl Ids {
    /// `5`, or `5-6` for a range, as iptables prints them.
    fn text(self) -> String {
        if self.min == self.max {
            self.min.to_string()
        } else {
            format!("{}-{}", self.min, self.max)
        }
    }
}

/// `-m owner --uid-owner --gid-owner --socket-exists --suppl-groups`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Owner {
    uid: Option<Ids>,
    gid: Option<Ids>,
    /// `--socket-exists`, and whether it is negated.
    socket: Option<bool>,
    suppl_groups: bool,
}

/// Which account database an id comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    Users,
    Groups,
}

impl Db {
    fn path(self) -> &'static str {
        match self {
            Db::Users => "/etc/passwd",
            Db::Groups => "/etc/group",
        }
    }

    /// The (name, id) entries of the database; empty when it cannot be read.
    fn entries(self) -> Vec<(String, u32)> {
        let text = std::fs::read_to_string(self.path()).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let id = fields.nth(1)?.parse().ok()?;
                (!name.is_empty() && !name.starts_with('#')).then(|| (name.to_string(), id))
            })
            .collect()
    }

    /// The id of account `name`.
    fn id(self, name: &str) -> Option<u32> {
        self.entries()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id)
    }

    /// The name of the first account with id `id`.
    fn name(self, id: u32) -> Option<String> {
        self.entries()
            .into_iter()
            .find(|(_, i)| *i == id)
            .map(|(n, _)| n)
    }
}

/// A name from `db`, an id, or a range `a-b` / `a:b` of ids, as iptables reads it.
fn parse_ids(text: &str, opt: &str, db: Db, invert: bool) -> Res<Ids> {
    if let Some(id) = db.id(text) {
        return Ok(Ids {
            min: id,
            max: id,
            invert,
        });
    }
    let number = |s: &str| -> Res<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return fail(format!(
                "{opt}: \"{text}\" is neither a name in {} nor an id or id range (like 1000-1999)",
                db.path()
            ));
        }
        match number_in(s, opt, 0, MAX_ID) {
            Ok(n) => Ok(n as u32),
            Err(_) if s.bytes().all(|b| b.is_ascii_digit()) => {
                fail(format!("{opt}: id {s} is out of range 0-{MAX_ID}"))
            }
            Err(_) => fail(format!(
                "{opt}: \"{text}\" is neither a name in {} nor an id or id range (like 1000-1999)",
                db.path()
            )),
        }
    };
    let (min, max) = match text.split_once(['-', ':']) {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let n = number(text)?;
            (n, n)
        }
    };
    if min > max {
        return refused_by_kernel(format!(
            "{opt}: range {text} runs backwards (write {max}-{min})"
        ));
    }
    Ok(Ids { min, max, invert })
}

impl Owner {
    /// The model conditions: native `meta skuid/skgid` tests, or, where
    /// they would differ from iptables, the kernel's own xt_owner module:
    /// `--suppl-groups`; a negated test, which iptables also lets match
    /// packets that have no socket; `--socket-exists`, which a socket of
    /// the kernel's own (sending resets, ICMP errors and echo replies)
    /// meets in xt_owner, though it has no file for `meta skuid` to read.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        let negated = self.uid.is_some_and(|i| i.invert) || self.gid.is_some_and(|i| i.invert);
        if self.suppl_groups || negated || self.socket.is_some() {
            out.push(Match::Xt(self.xt()));
            return;
        }
        if let Some(ids) = self.uid {
            out.push(Match::SocketUid {
                min: ids.min,
                max: ids.max,
                negate: ids.invert,
            });
        }
        if let Some(ids) = self.gid {
            out.push(Match::SocketGid {
                min: ids.min,
                max: ids.max,
                negate: ids.invert,
            });
        }
    }

    /// The kernel's xt_owner (revision 1) with these options.
    fn xt(&self) -> XtExtension {
        let (mut flags, mut invert) = (0u8, 0u8);
        let mut note = |on: bool, negated: bool, bit: u8| {
            if on {
                flags |= bit;
                if negated {
                    invert |= bit;
                }
            }
        };
        note(
            self.uid.is_some(),
            self.uid.is_some_and(|i| i.invert),
            XT_OWNER_UID,
        );
        note(
            self.gid.is_some(),
            self.gid.is_some_and(|i| i.invert),
            XT_OWNER_GID,
        );
        note(
            self.socket.is_some(),
            self.socket == Some(true),
            XT_OWNER_SOCKET,
        );
        note(self.suppl_groups, false, XT_OWNER_SUPPL_GROUPS);
        let range = |ids: Option<Ids>| ids.map_or((0, 0), |i| (i.min, i.max));
        let (uid_min, uid_max) = range(self.uid);
        let (gid_min, gid_max) = range(self.gid);
        let info = XtLayout::new()
            .u32(uid_min)
            .u32(uid_max)
            .u32(gid_min)
            .u32(gid_max)
            .u8(flags)
            .u8(invert)
            .finish();
        XtExtension {
            hooks: vec![Hook::Output, Hook::Postrouting],
            ..kernel_ext("-m", "owner", 1, info, self)
        }
    }
}

/// xt_owner's `match` and `invert` bits.
const XT_OWNER_UID: u8 = 1;
const XT_OWNER_GID: u8 = 2;
const XT_OWNER_SOCKET: u8 = 4;
const XT_OWNER_SUPPL_GROUPS: u8 = 8;

impl Extension for Owner {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--uid-owner", 1, true),
            opt("--gid-owner", 1, true),
            opt("--socket-exists", 0, true),
            opt("--suppl-groups", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        match o.name {
            "--uid-owner" => {
                once(&self.uid, "--uid-owner")?;
                self.uid = Some(parse_ids(o.value(), o.name, Db::Users, o.invert)?);
            }
            "--gid-owner" => {
                once(&self.gid, "--gid-owner")?;
                self.gid = Some(parse_ids(o.value(), o.name, Db::Groups, o.invert)?);
            }
            "--socket-exists" => {
                once(&self.socket, "--socket-exists")?;
                self.socket = Some(o.invert);
            }
            _ => {
                if self.gid.is_none() {
                    return fail("--suppl-groups needs --gid-owner before it");
                }
                if self.suppl_groups {
                    return fail("--suppl-groups given twice");
                }
                self.suppl_groups = true;
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.uid.is_none() && self.gid.is_none() && self.socket.is_none() {
            return fail("the owner match needs --uid-owner, --gid-owner or --socket-exists");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(inv) = self.socket {
            push_opt(out, inv, "--socket-exists", None);
        }
        if let Some(ids) = self.uid {
            push_opt(out, ids.invert, "--uid-owner", Some(&ids.text()));
        }
        if let Some(ids) = self.gid {
            push_opt(out, ids.invert, "--gid-owner", Some(&ids.text()));
        }
        if self.suppl_groups {
            out.push_str(" --suppl-groups");
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        let bang = |inv: bool| if inv { " !" } else { "" };
        if let Some(inv) = self.socket {
            out.push_str(&format!("{} owner socket exists", bang(inv)));
        }
        for (ids, what, db) in [(self.uid, "UID", Db::Users), (self.gid, "GID", Db::Groups)] {
            let Some(ids) = ids else { continue };
            let name = (!numeric && ids.min == ids.max)
                .then(|| db.name(ids.min))
                .flatten();
            out.push_str(&format!(
                "{} owner {what} match {}",
                bang(ids.invert),
                name.unwrap_or_else(|| ids.text())
            ));
        }
        if self.suppl_groups {
            out.push_str(" incl. suppl. groups");
        }
    }
}
