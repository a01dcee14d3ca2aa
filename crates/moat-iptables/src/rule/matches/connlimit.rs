//! The connlimit match: how many connections share a source (or destination) network.

use moat_model::{Family, Match};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{family_bits, number_in, push_opt};

/// `-m connlimit`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ConnLimit {
    count: Option<(u32, bool)>,
    mask: Option<u8>,
    by_dest: Option<bool>,
}

impl ConnLimit {
    fn above(&self) -> bool {
        self.count.is_some_and(|(_, above)| above)
    }

    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        out.push(Match::ConnLimit {
            count: self.count.map(|(c, _)| c).unwrap_or(0),
            above: self.above(),
            prefix: self.mask.unwrap_or(32),
            by_source: self.by_dest != Some(true),
        });
    }
}

impl Extension for ConnLimit {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--connlimit-upto", 1, true),
            opt("--connlimit-above", 1, true),
            opt("--connlimit-mask", 1, false),
            opt("--connlimit-saddr", 0, false),
            opt("--connlimit-daddr", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        match o.name {
            "--connlimit-upto" | "--connlimit-above" => {
                if self.count.is_some() {
                    return fail("use only one of --connlimit-upto and --connlimit-above");
                }
                let n = number_in(o.value(), o.name, 0, u64::from(u32::MAX))? as u32;
                self.count = Some((n, (o.name == "--connlimit-above") != o.invert));
            }
            "--connlimit-mask" => {
                once(&self.mask, o.name)?;
                let width = family_bits(o.family);
                // iptables takes longer prefixes for IPv4 as the whole address.
                let most = match o.family {
                    Family::Ipv4 => u64::from(u32::MAX),
                    Family::Ipv6 => u64::from(width),
                };
                let prefix = number_in(o.value(), o.name, 0, most)?;
                self.mask = Some(prefix.min(u64::from(width)) as u8);
            }
            name => {
                let dest = name == "--connlimit-daddr";
                if self.by_dest.is_some_and(|d| d != dest) {
                    return fail("use only one of --connlimit-saddr and --connlimit-daddr");
                }
                self.by_dest = Some(dest);
            }
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if self.count.is_none() {
            return fail("the connlimit match needs --connlimit-above or --connlimit-upto");
        }
        self.mask.get_or_insert(family_bits(cx.family));
        self.by_dest.get_or_insert(false);
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let count = self.count.map(|(c, _)| c).unwrap_or(0).to_string();
        let word = if self.above() {
            "--connlimit-above"
        } else {
            "--connlimit-upto"
        };
        push_opt(out, false, word, Some(&count));
        push_opt(
            out,
            false,
            "--connlimit-mask",
            Some(&self.mask.unwrap_or(32).to_string()),
        );
        let side = if self.by_dest == Some(true) {
            "--connlimit-daddr"
        } else {
            "--connlimit-saddr"
        };
        push_opt(out, false, side, None);
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(&format!(
            " #conn {}/{} {} {}",
            if self.by_dest == Some(true) {
                "dst"
            } else {
                "src"
            },
            self.mask.unwrap_or(32),
            if self.above() { ">" } else { "<=" },
            self.count.map(|(c, _)| c).unwrap_or(0)
        ));
    }
}
