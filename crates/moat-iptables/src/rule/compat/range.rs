//! `A[:B]` ranges of 32-bit values as the IPv6 header matches take and print them.

use crate::rule::error::Res;
use crate::rule::ext::Opt;
use crate::rule::values::u32_value;

/// An inclusive range and whether it is inverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Range {
    /// First value.
    pub min: u32,
    /// Last value.
    pub max: u32,
    /// `!` was given.
    pub invert: bool,
}

impl Range {
    /// Every value: what a match without the option tests.
    pub(super) const ALL: Range = Range {
        min: 0,
        max: u32::MAX,
        invert: false,
    };

    /// Parses option `o`'s `A`, `A:B`, `A:` (to the largest value) or `:B`;
    /// a range that runs backwards is taken, as iptables takes it, with a
    /// warning.
    pub(super) fn parse_option(o: &mut Opt<'_>) -> Res<Range> {
        let range = Range::parse(o.value(), o.name, o.invert)?;
        if range.min > range.max {
            o.warn_reversed();
        }
        Ok(range)
    }

    /// Parses `A`, `A:B`, `A:` (to the largest value) or `:B`.
    fn parse(s: &str, opt: &str, invert: bool) -> Res<Range> {
        let (min, max) = match s.split_once(':') {
            None => {
                let v = u32_value(s, opt)?;
                (v, v)
            }
            Some((a, b)) => {
                let a = if a.is_empty() { 0 } else { u32_value(a, opt)? };
                let b = if b.is_empty() {
                    u32::MAX
                } else {
                    u32_value(b, opt)?
                };
                (a, b)
            }
        };
        Ok(Range { min, max, invert })
    }

    /// Whether the option would change nothing.
    pub(super) fn is_all(&self) -> bool {
        *self == Range::ALL
    }

    /// `A` or `A:B`, as `-S` writes it.
    pub(super) fn text(&self) -> String {
        if self.min == self.max {
            self.min.to_string()
        } else {
            format!("{}:{}", self.min, self.max)
        }
    }

    /// `-L`'s ` NAME:[!]A` or ` NAMEs:[!]A:B`.
    pub(super) fn listing(&self, name: &str) -> String {
        let bang = if self.invert { "!" } else { "" };
        if self.min == self.max {
            format!("{name}:{bang}{}", self.min)
        } else {
            format!("{name}s:{bang}{}:{}", self.min, self.max)
        }
    }

    /// ` [!] OPT A[:B]` for `-S`, when the option changes something.
    pub(super) fn save(&self, out: &mut String, opt: &str) {
        if !self.is_all() || self.invert {
            let bang = if self.invert { " !" } else { "" };
            out.push_str(&format!("{bang} {opt} {}", self.text()));
        }
    }
}
