//! The ttl match (IPv4 time to live) and the hl match (IPv6 hop limit).

use moat_model::{Compare, Match};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{alias, opt, OptDef};
use crate::rule::values::{number_in, push_opt};

const TTL_OPTIONS: &[OptDef] = &[
    opt("--ttl-eq", 1, true),
    alias("--ttl", "--ttl-eq", 1, true),
    opt("--ttl-lt", 1, false),
    opt("--ttl-gt", 1, false),
];
const HL_OPTIONS: &[OptDef] = &[
    opt("--hl-eq", 1, true),
    alias("--hl", "--hl-eq", 1, true),
    opt("--hl-lt", 1, false),
    opt("--hl-gt", 1, false),
];

/// `-m ttl` or `-m hl`: one comparison of the field with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HopLimit {
    v6: bool,
    test: Option<(Compare, u8)>,
}

impl HopLimit {
    /// An empty match; `v6` for hl.
    pub(crate) fn new(v6: bool) -> Self {
        HopLimit { v6, test: None }
    }

    /// `ttl` or `hl`.
    pub(crate) fn module_name(&self) -> &'static str {
        if self.v6 {
            "hl"
        } else {
            "ttl"
        }
    }

    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((cmp, value)) = self.test {
            out.push(Match::HopLimit { cmp, value });
        }
    }
}

impl Extension for HopLimit {
    fn options(&self) -> &'static [OptDef] {
        if self.v6 {
            HL_OPTIONS
        } else {
            TTL_OPTIONS
        }
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let prefix = if self.v6 { "--hl" } else { "--ttl" };
        if self.test.is_some() {
            return fail(format!(
                "the {} match takes one of {prefix}-eq, {prefix}-lt and {prefix}-gt",
                self.module_name()
            ));
        }
        let value = number_in(o.value(), o.name, 0, 255)? as u8;
        let cmp = match o.name.rsplit('-').next() {
            Some("lt") => Compare::Less,
            Some("gt") => Compare::Greater,
            _ if o.invert => Compare::NotEqual,
            _ => Compare::Equal,
        };
        self.test = Some((cmp, value));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.test.is_none() {
            let p = if self.v6 { "--hl" } else { "--ttl" };
            return fail(format!(
                "the {} match needs {p}-eq, {p}-lt or {p}-gt",
                self.module_name()
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((cmp, value)) = self.test {
            let prefix = if self.v6 { "--hl" } else { "--ttl" };
            let (invert, which) = match cmp {
                Compare::Equal => (false, "eq"),
                Compare::NotEqual => (true, "eq"),
                Compare::Less => (false, "lt"),
                Compare::Greater => (false, "gt"),
            };
            let option = format!("{prefix}-{which}");
            push_opt(out, invert, &option, Some(&value.to_string()));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((cmp, value)) = self.test {
            let field = if self.v6 { "HL" } else { "TTL" };
            out.push_str(&format!(" {field} match {field} {} {value}", cmp.symbol()));
        }
    }
}
