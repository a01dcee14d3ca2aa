//! The mark and connmark matches: `mark & mask == value`.

use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{parse_mark, push_opt};

/// `-m mark --mark` (packet mark) or `-m connmark --mark` (connection mark).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MarkMatch {
    conn: bool,
    mark: Option<(u32, u32, bool)>,
}

impl MarkMatch {
    /// An empty match; `conn` for connmark.
    pub(crate) fn new(conn: bool) -> Self {
        MarkMatch { conn, mark: None }
    }

    /// `mark` or `connmark`.
    pub(crate) fn module_name(&self) -> &'static str {
        if self.conn {
            "connmark"
        } else {
            "mark"
        }
    }

    fn text(value: u32, mask: u32) -> String {
        if mask == u32::MAX {
            format!("{value:#x}")
        } else {
            format!("{value:#x}/{mask:#x}")
        }
    }

    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((value, mask, negate)) = self.mark {
            out.push(if self.conn {
                Match::ConnMark {
                    value,
                    mask,
                    negate,
                }
            } else {
                Match::Mark {
                    value,
                    mask,
                    negate,
                }
            });
        }
    }
}

impl Extension for MarkMatch {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--mark", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.mark, "--mark")?;
        let (value, mask) = parse_mark(o.value(), "--mark")?;
        self.mark = Some((value, mask.unwrap_or(u32::MAX), o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.mark.is_none() {
            return fail(format!(
                "the {} match needs --mark value[/mask]",
                self.module_name()
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((v, m, inv)) = self.mark {
            push_opt(out, inv, "--mark", Some(&Self::text(v, m)));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((v, m, inv)) = self.mark {
            let text = Self::text(v, m);
            if self.conn {
                out.push_str(&format!(
                    " connmark match {} {text}",
                    if inv { "!" } else { "" }
                ));
            } else {
                out.push_str(&format!(
                    " mark match{} {text}",
                    if inv { " !" } else { "" }
                ));
            }
        }
    }
}
