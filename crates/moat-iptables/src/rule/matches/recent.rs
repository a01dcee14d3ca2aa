//! The recent match: lists of recently seen addresses.

use moat_model::addr_text::AddrText;
use std::net::IpAddr;

use moat_model::{Match, RecentAction, SetSide};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{
    family_bits, number_in, parse_addr, prefix_mask, push_opt, u32_value, AddrSyntax,
};

/// `-m recent`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Recent {
    action: Option<(RecentAction, bool)>,
    name: Option<String>,
    seconds: Option<u32>,
    reap: bool,
    hitcount: Option<u32>,
    rttl: bool,
    mask: Option<IpAddr>,
    dest: Option<bool>,
}

fn action_words(a: RecentAction) -> (&'static str, &'static str) {
    match a {
        RecentAction::Set => ("--set", "SET"),
        RecentAction::Check => ("--rcheck", "CHECK"),
        RecentAction::Update => ("--update", "UPDATE"),
        RecentAction::Remove => ("--remove", "REMOVE"),
    }
}

impl Recent {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("DEFAULT")
    }

    fn mask_text(&self) -> String {
        self.mask
            .map(|m| AddrText(m).to_string())
            .unwrap_or_default()
    }

    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        let Some((action, negate)) = self.action else {
            return;
        };
        let full = |m: IpAddr| {
            crate::rule::values::mask_prefix(m) == Some(if m.is_ipv4() { 32 } else { 128 })
        };
        out.push(Match::Recent {
            name: self.name().to_string(),
            action,
            seconds: self.seconds,
            hitcount: self.hitcount,
            side: if self.dest == Some(true) {
                SetSide::Destination
            } else {
                SetSide::Source
            },
            negate,
            rttl: self.rttl,
            reap: self.reap,
            mask: self.mask.filter(|&m| !full(m)),
        });
    }
}

impl Extension for Recent {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--name", 1, false),
            opt("--set", 0, true),
            opt("--rcheck", 0, true),
            opt("--update", 0, true),
            opt("--remove", 0, true),
            opt("--seconds", 1, false),
            opt("--reap", 0, false),
            opt("--hitcount", 1, false),
            opt("--rttl", 0, false),
            opt("--rsource", 0, false),
            opt("--rdest", 0, false),
            opt("--mask", 1, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let action = match o.name {
            "--set" => Some(RecentAction::Set),
            "--rcheck" => Some(RecentAction::Check),
            "--update" => Some(RecentAction::Update),
            "--remove" => Some(RecentAction::Remove),
            _ => None,
        };
        if let Some(a) = action {
            if self.action.is_some() {
                return fail(
                    "the recent match takes only one of --set, --rcheck, --update and --remove",
                );
            }
            self.action = Some((a, o.invert));
            return Ok(());
        }
        let v = o.value();
        match o.name {
            "--name" => {
                once(&self.name, o.name)?;
                if v.is_empty()
                    || v.len() > 200
                    || v.contains(|c: char| c == '/' || c.is_whitespace())
                {
                    return fail(format!("--name: \"{v}\" is not a usable list name"));
                }
                self.name = Some(v.to_string());
            }
            "--seconds" => {
                once(&self.seconds, o.name)?;
                self.seconds = Some(number_in(v, o.name, 1, u64::from(u32::MAX))? as u32);
            }
            "--hitcount" => {
                once(&self.hitcount, o.name)?;
                // A hit count of zero tests nothing; iptables drops it.
                self.hitcount = Some(u32_value(v, o.name)?).filter(|&n| n != 0);
            }
            "--reap" => self.reap = true,
            "--rttl" => self.rttl = true,
            "--mask" => {
                once(&self.mask, o.name)?;
                self.mask = Some(parse_addr(v, o.family, o.name, AddrSyntax::Resolver)?);
            }
            name => {
                let dest = name == "--rdest";
                if self.dest.is_some_and(|d| d != dest) {
                    return fail("use only one of --rsource and --rdest");
                }
                self.dest = Some(dest);
            }
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        let Some((action, _)) = self.action else {
            return fail("the recent match needs one of --set, --rcheck, --update and --remove");
        };
        if self.reap && self.seconds.is_none() {
            return fail("--reap needs --seconds");
        }
        if matches!(action, RecentAction::Set | RecentAction::Remove)
            && (self.seconds.is_some() || self.hitcount.is_some() || self.reap)
        {
            return fail("--seconds, --hitcount and --reap only work with --rcheck or --update");
        }
        self.name.get_or_insert_with(|| "DEFAULT".to_string());
        self.mask
            .get_or_insert(prefix_mask(family_bits(cx.family), cx.family));
        self.dest.get_or_insert(false);
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((a, inv)) = self.action {
            push_opt(out, inv, action_words(a).0, None);
        }
        if let Some(s) = self.seconds {
            push_opt(out, false, "--seconds", Some(&s.to_string()));
        }
        if self.reap {
            out.push_str(" --reap");
        }
        if let Some(h) = self.hitcount {
            push_opt(out, false, "--hitcount", Some(&h.to_string()));
        }
        if self.rttl {
            out.push_str(" --rttl");
        }
        push_opt(out, false, "--name", Some(self.name()));
        push_opt(out, false, "--mask", Some(&self.mask_text()));
        out.push_str(if self.dest == Some(true) {
            " --rdest"
        } else {
            " --rsource"
        });
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        let Some((a, inv)) = self.action else { return };
        out.push_str(&format!(
            "{} recent: {}",
            if inv { " !" } else { "" },
            action_words(a).1
        ));
        if let Some(s) = self.seconds {
            // iptables prints the kernel's unsigned field with `%d`:
            // `--seconds 4294967295` lists as `seconds: -1`.
            out.push_str(&format!(" seconds: {}", s as i32));
        }
        if self.reap {
            out.push_str(" reap");
        }
        if let Some(h) = self.hitcount {
            out.push_str(&format!(" hit_count: {h}"));
        }
        if self.rttl {
            out.push_str(" TTL-Match");
        }
        out.push_str(&format!(
            " name: {} side: {} mask: {}",
            self.name(),
            if self.dest == Some(true) {
                "dest"
            } else {
                "source"
            },
            self.mask_text()
        ));
    }
}
