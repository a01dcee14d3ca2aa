//! The icmp match (`--icmp-type`) and the icmp6 match (`--icmpv6-type`).

use moat_model::Match;

use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::names::{icmp_type_name, parse_icmp_type, IcmpType};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::push_opt;

const ICMP_OPTIONS: &[OptDef] = &[opt("--icmp-type", 1, true)];
const ICMPV6_OPTIONS: &[OptDef] = &[opt("--icmpv6-type", 1, true)];

/// `-m icmp` or `-m icmp6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IcmpMatch {
    v6: bool,
    kind: Option<(IcmpType, bool)>,
}

impl IcmpMatch {
    /// An empty match; `v6` for icmp6.
    pub(crate) fn new(v6: bool) -> Self {
        IcmpMatch { v6, kind: None }
    }

    /// `icmp` or `icmp6`.
    pub(crate) fn module_name(&self) -> &'static str {
        if self.v6 {
            "icmp6"
        } else {
            "icmp"
        }
    }

    fn option(&self) -> &'static str {
        if self.v6 {
            "--icmpv6-type"
        } else {
            "--icmp-type"
        }
    }

    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) -> Res<()> {
        if let Some((t, negate)) = self.kind {
            let code = (t.code_min == t.code_max).then_some(t.code_min);
            if code.is_none() && (t.code_min, t.code_max) != (0, 255) {
                return fail("ICMP code ranges cannot be expressed in moat's ruleset model");
            }
            out.push(if self.v6 {
                Match::Icmpv6 {
                    kind: t.kind,
                    code,
                    negate,
                }
            } else {
                Match::Icmp {
                    kind: t.kind,
                    code,
                    negate,
                }
            });
        }
        Ok(())
    }
}

impl Extension for IcmpMatch {
    fn options(&self) -> &'static [OptDef] {
        if self.v6 {
            ICMPV6_OPTIONS
        } else {
            ICMP_OPTIONS
        }
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.kind, self.option())?;
        self.kind = Some((
            parse_icmp_type(o.value(), self.v6, self.option())?,
            o.invert,
        ));
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        let (name, number, proto) = if self.v6 {
            ("icmp6", 58, "icmpv6")
        } else {
            ("icmp", 1, "icmp")
        };
        if self.kind.is_none() {
            return fail(format!("the {name} match needs {}", self.option()));
        }
        // The kernel's icmp match refuses another or a negated protocol.
        if cx.plain_proto() != Some(number) {
            return refused_by_kernel(format!("the {name} match needs -p {proto}"));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((t, inv)) = self.kind {
            let text = match (t.kind, t.code_min, t.code_max) {
                (255, 0, 255) if !self.v6 => "any".to_string(),
                (k, 0, 255) => k.to_string(),
                (k, lo, _) => format!("{k}/{lo}"),
            };
            push_opt(out, inv, self.option(), Some(&text));
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        let Some((t, inv)) = self.kind else { return };
        let word = if self.v6 { "ipv6-icmp" } else { "icmp" };
        if !numeric {
            if let Some(name) = icmp_type_name(t, self.v6) {
                out.push_str(&format!(" {word} {}{name}", if inv { "!" } else { "" }));
                return;
            }
        }
        if inv {
            out.push_str(&format!(" {word} !type {}", t.kind));
        } else {
            out.push_str(&format!(" {word}type {}", t.kind));
        }
        if t.code_min == t.code_max {
            out.push_str(&format!(" code {}", t.code_min));
        }
    }
}
