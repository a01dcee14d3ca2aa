//! The set match: membership in one of moat's block lists or, when there
//! is no block list of that name, in one of the kernel's ipsets (which alone
//! take the counter and nomatch options).

use moat_model::{Match, SetCounterTest, SetMatchOptions, SetSide};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{push_opt, strtoul_start};
use crate::rule::Warning;

/// `-m set --match-set NAME src[,dst...]` (or, deprecated, `--set NAME
/// src[,dst...]`) `[--return-nomatch] [!
/// --update-counters] [! --update-subcounters] [[!] --packets-eq|lt|gt N]
/// [[!] --bytes-eq|lt|gt N]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SetMatch {
    set: Option<(String, Vec<SetSide>, bool)>,
    options: SetMatchOptions,
}

/// A counter value as iptables reads one (`strtoull` of any base: `16`,
/// `0x10`, `020`, after blanks and a `+`).
fn counter_value(option: &str, text: &str) -> Res<u64> {
    let digits = strtoul_start(text);
    let parsed = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16)
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse()
    };
    parsed.or_else(|_| {
        fail(format!(
            "{option}: cannot read {text:?} as a counter value (a whole number up to 2^64-1)"
        ))
    })
}

/// A set's name and its `src,dst` flags, as `option` (`--match-set`,
/// `--add-set`, ...) takes them.
pub(crate) fn set_and_flags(option: &str, name: &str, flags: &str) -> Res<(String, Vec<SetSide>)> {
    if name.is_empty() || name.len() > 31 {
        return fail(format!(
            "{option}: set name \"{name}\" must have 1 to 31 characters"
        ));
    }
    let mut sides = Vec::new();
    for part in flags.split(',') {
        sides.push(match part {
            "src" => SetSide::Source,
            "dst" => SetSide::Destination,
            _ => {
                return fail(format!(
                    "{option} {name}: \"{part}\" is not src or dst (write the flags like src or src,dst)"
                ))
            }
        });
    }
    if sides.len() > 6 {
        return fail(format!("{option} takes at most 6 src/dst flags"));
    }
    Ok((name.to_string(), sides))
}

fn sides_text(sides: &[SetSide]) -> String {
    sides
        .iter()
        .map(|s| match s {
            SetSide::Source => "src",
            SetSide::Destination => "dst",
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl SetMatch {
    /// `--packets-eq|lt|gt N` or `--bytes-...`, at most one of each.
    fn counter_test(&mut self, o: &Opt<'_>) -> Res<()> {
        let what = if o.name.starts_with("--packets") {
            "packets"
        } else {
            "bytes"
        };
        let test = match o.name.rsplit('-').next() {
            Some("eq") if o.invert => SetCounterTest::NotEqual,
            Some("eq") => SetCounterTest::Equal,
            Some("lt") => SetCounterTest::Less,
            _ => SetCounterTest::Greater,
        };
        let n = counter_value(o.name, o.value())?;
        let slot = if what == "packets" {
            &mut self.options.packets
        } else {
            &mut self.options.bytes
        };
        if slot.is_some() {
            return fail(format!("only one of the --{what}-[eq|lt|gt] is allowed"));
        }
        *slot = Some((test, n));
        Ok(())
    }

    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((name, sides, negate)) = &self.set {
            out.push(Match::InSet {
                name: name.clone(),
                sides: sides.clone(),
                negate: *negate,
                options: self.options,
            });
        }
    }
}

impl Extension for SetMatch {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--match-set", 2, true),
            // The old name of --match-set, which iptables still takes.
            opt("--set", 2, true),
            opt("--return-nomatch", 0, false),
            opt("--update-counters", 0, true),
            opt("--update-subcounters", 0, true),
            opt("--packets-eq", 1, true),
            opt("--packets-lt", 1, false),
            opt("--packets-gt", 1, false),
            opt("--bytes-eq", 1, true),
            opt("--bytes-lt", 1, false),
            opt("--bytes-gt", 1, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        match o.name {
            "--match-set" | "--set" => {
                if o.name == "--set" {
                    o.warnings.push(Warning::as_iptables(
                        "--set option deprecated, please use --match-set",
                    ));
                }
                once(&self.set, "--match-set")?;
                let (name, sides) = set_and_flags(o.name, o.value(), o.value2())?;
                self.set = Some((name, sides, o.invert));
            }
            "--return-nomatch" => self.options.return_nomatch = true,
            // Only the negated flag sets anything, as in iptables: once set,
            // a later plain one leaves it.
            "--update-counters" => self.options.skip_counter_update |= o.invert,
            "--update-subcounters" => self.options.skip_subcounter_update |= o.invert,
            _ => self.counter_test(o)?,
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.set.is_none() {
            return fail("the set match needs --match-set NAME src|dst");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((name, sides, inv)) = &self.set {
            push_opt(
                out,
                *inv,
                "--match-set",
                Some(&format!("{name} {}", sides_text(sides))),
            );
            out.push_str(&self.options.text(false));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((name, sides, inv)) = &self.set {
            out.push_str(&format!(
                "{} match-set {name} {}{}",
                if *inv { " !" } else { "" },
                sides_text(sides),
                self.options.text(true)
            ));
        }
    }
}
