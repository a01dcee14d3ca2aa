//! One compiled pattern on the engine it needs: the `regex` crate (linear
//! time) whenever the pattern allows, otherwise `fancy-regex` with a
//! backtracking limit and a linear-time pre-check.

use regex_automata::nfa::thompson::backtrack::{self, BoundedBacktracker};
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::util::syntax;
use regex_automata::Input;

use crate::translate::{translate, TranslateError};

/// How many backtracking steps one match of a `fancy-regex` pattern may
/// take before it is given up (and reported) instead of hanging.
pub const BACKTRACK_LIMIT: usize = 100_000;

/// The regex engine a pattern was compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// The `regex` crate: finite automata, linear time in the line length.
    Regex,
    /// `fancy-regex` (for lookaround, backreferences, conditionals, atomic
    /// groups): backtracking, bounded by [`BACKTRACK_LIMIT`] steps per match.
    Fancy,
}

/// Why a pattern did not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The Python syntax is invalid or unsupported.
    #[error("{0}")]
    Syntax(#[from] TranslateError),
    /// The translated pattern was refused by the engine.
    #[error("{0}")]
    Engine(String),
}

/// A match gave up: the backtracking limit (or its stack) was exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("backtracking limit exceeded")]
pub struct LimitExceeded;

#[derive(Debug, Clone)]
enum Inner {
    Std(regex::Regex),
    Fancy {
        re: fancy_regex::Regex,
        /// Matches every text `re` matches, in linear time.
        pre: regex::Regex,
    },
}

/// A compiled pattern with its group names.
#[derive(Debug, Clone)]
pub struct Pattern {
    inner: Inner,
    /// The same pattern with Unicode off, for ASCII-only haystacks (for a
    /// fancy pattern: its linear-time pre-check). On ASCII text it matches
    /// exactly what the Unicode pattern matches, with a much smaller
    /// automaton (`\S`, `.`, `\w` are single byte classes instead of UTF-8
    /// sequences), so it searches and captures faster.
    ascii: Option<regex::bytes::Regex>,
    /// The ASCII twin as a bounded backtracker alone, for a capture search
    /// expected to succeed (see [`Pattern::captures_expected`]): the `regex`
    /// crate would first run its DFA to find where the match ends, then the
    /// same backtracker over that span.
    ascii_bt: Option<BoundedBacktracker>,
    /// Group names by group number (index 0 is the whole match).
    names: Vec<Option<String>>,
    /// The `regex`-crate pattern used in pre-filter sets.
    approx: String,
    /// The same without assertions (see [`crate::translate::Translation::loose`]).
    loose: String,
}

/// Capture spans by group number, reused from line to line.
#[derive(Debug, Default)]
pub struct Slots {
    spans: Vec<Option<(usize, usize)>>,
    locs: Option<regex::CaptureLocations>,
    ascii_locs: Option<regex::bytes::CaptureLocations>,
    bt: Option<(backtrack::Cache, Vec<Option<NonMaxUsize>>)>,
}

impl Slots {
    /// The span of group `i`, if it took part in the match.
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        self.spans.get(i).copied().flatten()
    }
}

/// `pattern` with Unicode off, when that matches exactly what `pattern`
/// matches on any ASCII-only text: the pattern is ASCII and names no
/// character beyond ASCII (which, under case folding, could match an ASCII
/// letter: the Kelvin sign matches `k`).
pub(crate) fn ascii_twin(pattern: &str) -> Option<String> {
    if !pattern.is_ascii() {
        return None;
    }
    let b = pattern.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'x') => {
                let digits = if b.get(i + 2) == Some(&b'{') {
                    let end = pattern[i + 3..].find('}')? + i + 3;
                    &pattern[i + 3..end]
                } else {
                    pattern.get(i + 2..i + 4)?
                };
                if u32::from_str_radix(digits, 16).ok()? >= 0x80 {
                    return None;
                }
            }
            Some(b'u' | b'U' | b'p' | b'P') => return None,
            _ => {}
        }
        i += 2;
    }
    Some(format!("(?-u){pattern}"))
}

/// The ASCII twin of `pattern` compiled (`None` when it has none or the
/// engine refuses it: the Unicode pattern then serves every line).
fn ascii_regex(pattern: &str) -> Option<regex::bytes::Regex> {
    regex::bytes::RegexBuilder::new(&ascii_twin(pattern)?)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .ok()
}

/// The ASCII twin of `pattern` as a bounded backtracker (with the syntax
/// and NFA options of `regex::bytes::Regex`).
fn ascii_backtracker(pattern: &str) -> Option<BoundedBacktracker> {
    BoundedBacktracker::builder()
        .syntax(syntax::Config::new().utf8(false))
        .thompson(
            regex_automata::nfa::thompson::Config::new()
                .utf8(false)
                .nfa_size_limit(Some(64 << 20)),
        )
        .build(&ascii_twin(pattern)?)
        .ok()
}

fn std_regex(pattern: &str) -> Result<regex::Regex, CompileError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .map_err(|e| CompileError::Engine(e.to_string()))
}

impl Pattern {
    /// Translates a Python pattern and compiles it.
    pub fn python(pattern: &str, multiline: bool) -> Result<Self, CompileError> {
        let tr = translate(pattern, multiline)?;
        let mut names = vec![None];
        names.extend(tr.names);
        let mut p = Self::build(&tr.pattern, tr.fancy, &tr.approx, names)?;
        p.loose = tr.loose;
        Ok(p)
    }

    /// Compiles a pattern already in Rust syntax (`fancy` selects the
    /// engine; `approx` is the pre-check for fancy patterns).
    pub fn build(
        pattern: &str,
        fancy: bool,
        approx: &str,
        names: Vec<Option<String>>,
    ) -> Result<Self, CompileError> {
        let ascii = ascii_regex(if fancy { approx } else { pattern });
        let ascii_bt = if fancy || ascii.is_none() {
            None
        } else {
            ascii_backtracker(pattern)
        };
        let inner = if fancy {
            let re = fancy_regex::RegexBuilder::new(pattern)
                .backtrack_limit(BACKTRACK_LIMIT)
                .delegate_size_limit(64 << 20)
                .build()
                .map_err(|e| CompileError::Engine(e.to_string()))?;
            Inner::Fancy {
                re,
                pre: std_regex(approx)?,
            }
        } else {
            Inner::Std(std_regex(pattern)?)
        };
        Ok(Pattern {
            inner,
            ascii,
            ascii_bt,
            names,
            approx: approx.to_string(),
            loose: approx.to_string(),
        })
    }

    /// The engine this pattern runs on.
    pub fn engine(&self) -> Engine {
        match self.inner {
            Inner::Std(_) => Engine::Regex,
            Inner::Fancy { .. } => Engine::Fancy,
        }
    }

    /// Group names by group number (index 0, the whole match, has none).
    pub fn names(&self) -> &[Option<String>] {
        &self.names
    }

    /// The number of a named group.
    pub fn group(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref() == Some(name))
    }

    /// The linear-time pattern used in pre-filter sets.
    pub fn approx(&self) -> &str {
        &self.approx
    }

    /// The pattern without assertions, for pre-filtering whole lines.
    pub fn loose(&self) -> &str {
        &self.loose
    }

    /// The span of the first match at or after `start` (no groups: the
    /// `regex` engine runs its DFA only); `ascii` says `hay` is ASCII-only.
    pub fn find_at_in(
        &self,
        hay: &str,
        start: usize,
        ascii: bool,
    ) -> Result<Option<(usize, usize)>, LimitExceeded> {
        match (&self.inner, &self.ascii) {
            (Inner::Std(_), Some(twin)) if ascii => Ok(twin
                .find_at(hay.as_bytes(), start)
                .map(|m| (m.start(), m.end()))),
            (Inner::Std(re), _) => Ok(re.find_at(hay, start).map(|m| (m.start(), m.end()))),
            (Inner::Fancy { re, pre }, twin) => {
                let possible = match twin {
                    Some(t) if ascii => t.is_match_at(hay.as_bytes(), start),
                    _ => pre.is_match_at(hay, start),
                };
                if !possible {
                    return Ok(None);
                }
                match re.find_from_pos(hay, start) {
                    Ok(m) => Ok(m.map(|m| (m.start(), m.end()))),
                    Err(_) => Err(LimitExceeded),
                }
            }
        }
    }

    /// Like [`Pattern::captures_at_in`] from the start of `hay`, for a
    /// search expected to match (a pre-filter set said so): on an ASCII
    /// line the backtracker runs alone, without the DFA pass that would
    /// only find where the match ends. Same result either way.
    pub fn captures_expected(
        &self,
        hay: &str,
        slots: &mut Slots,
        ascii: bool,
    ) -> Result<bool, LimitExceeded> {
        match &self.ascii_bt {
            Some(bt) if ascii && hay.len() <= bt.max_haystack_len() => {
                slots.spans.clear();
                let (cache, raw) = slots.bt.get_or_insert_with(|| {
                    (
                        bt.create_cache(),
                        vec![None; bt.get_nfa().group_info().slot_len()],
                    )
                });
                match bt.try_search_slots(cache, &Input::new(hay.as_bytes()), raw) {
                    Ok(Some(_)) => {
                        slots.spans.extend(raw.chunks(2).map(|p| match p {
                            [Some(s), Some(e)] => Some((s.get(), e.get())),
                            _ => None,
                        }));
                        Ok(true)
                    }
                    Ok(None) => Ok(false),
                    // Too long after all: the general path decides.
                    Err(_) => self.captures_at_in(hay, 0, slots, ascii),
                }
            }
            _ => self.captures_at_in(hay, 0, slots, ascii),
        }
    }

    /// Searches `hay` from byte `start` and fills `slots`; `Ok(false)` when
    /// there is no match. `ascii` says `hay` is ASCII-only.
    pub fn captures_at_in(
        &self,
        hay: &str,
        start: usize,
        slots: &mut Slots,
        ascii: bool,
    ) -> Result<bool, LimitExceeded> {
        slots.spans.clear();
        match (&self.inner, &self.ascii) {
            (Inner::Std(_), Some(twin)) if ascii => {
                let locs = match &mut slots.ascii_locs {
                    Some(l) if l.len() == twin.captures_len() => l,
                    other => other.insert(twin.capture_locations()),
                };
                if twin.captures_read_at(locs, hay.as_bytes(), start).is_none() {
                    return Ok(false);
                }
                slots.spans.extend((0..locs.len()).map(|i| locs.get(i)));
                Ok(true)
            }
            (Inner::Std(re), _) => {
                let locs = match &mut slots.locs {
                    Some(l) if l.len() == re.captures_len() => l,
                    other => other.insert(re.capture_locations()),
                };
                if re.captures_read_at(locs, hay, start).is_none() {
                    return Ok(false);
                }
                slots.spans.extend((0..locs.len()).map(|i| locs.get(i)));
                Ok(true)
            }
            (Inner::Fancy { re, pre }, twin) => {
                let possible = match twin {
                    Some(t) if ascii => t.is_match_at(hay.as_bytes(), start),
                    _ => pre.is_match_at(hay, start),
                };
                if !possible {
                    return Ok(false);
                }
                match re.captures_from_pos(hay, start) {
                    Ok(Some(c)) => {
                        slots
                            .spans
                            .extend((0..c.len()).map(|i| c.get(i).map(|m| (m.start(), m.end()))));
                        Ok(true)
                    }
                    Ok(None) => Ok(false),
                    Err(_) => Err(LimitExceeded),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_twins() {
        assert_eq!(ascii_twin(r"^\S+ \w+$").as_deref(), Some(r"(?-u)^\S+ \w+$"));
        assert_eq!(ascii_twin(r"a\x{7f}").as_deref(), Some(r"(?-u)a\x{7f}"));
        // Characters beyond ASCII (which could fold to ASCII letters) keep
        // the Unicode pattern for every line.
        assert_eq!(ascii_twin("(?i:\u{212a})"), None);
        assert_eq!(ascii_twin(r"(?i:\x{212a})"), None);
        assert_eq!(ascii_twin(r"[\x{85}]"), None);
        assert_eq!(ascii_twin(r"\\x{85}").as_deref(), Some(r"(?-u)\\x{85}"));
        let p =
            Pattern::build(r"(?i:k)\s(?P<w>\w+)", false, r"(?i:k)\s(?P<w>\w+)", vec![]).unwrap();
        let mut slots = Slots::default();
        assert!(p.captures_at_in("K ab", 0, &mut slots, true).unwrap());
        assert_eq!(slots.get(1), Some((2, 4)));
        assert!(p
            .captures_at_in("\u{212a} ab", 0, &mut slots, false)
            .unwrap());
        assert_eq!(slots.get(1), Some((4, 6)));
    }
}
