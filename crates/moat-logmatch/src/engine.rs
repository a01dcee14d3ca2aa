//! One compiled pattern on the engine it needs: the `regex` crate (linear
//! time) whenever the pattern allows, otherwise `fancy-regex` with a
//! backtracking limit and a linear-time pre-check.

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

#[derive(Debug)]
enum Inner {
    Std(regex::Regex),
    Fancy {
        re: fancy_regex::Regex,
        /// Matches every text `re` matches, in linear time.
        pre: regex::Regex,
    },
}

/// A compiled pattern with its group names.
#[derive(Debug)]
pub struct Pattern {
    inner: Inner,
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
}

impl Slots {
    /// The span of group `i`, if it took part in the match.
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        self.spans.get(i).copied().flatten()
    }
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
    /// `regex` engine runs its DFA only).
    pub fn find_at(
        &self,
        hay: &str,
        start: usize,
    ) -> Result<Option<(usize, usize)>, LimitExceeded> {
        match &self.inner {
            Inner::Std(re) => Ok(re.find_at(hay, start).map(|m| (m.start(), m.end()))),
            Inner::Fancy { re, pre } => {
                if !pre.is_match_at(hay, start) {
                    return Ok(None);
                }
                match re.find_from_pos(hay, start) {
                    Ok(m) => Ok(m.map(|m| (m.start(), m.end()))),
                    Err(_) => Err(LimitExceeded),
                }
            }
        }
    }

    /// Searches `hay` and fills `slots`; `Ok(false)` when there is no match.
    pub fn captures(&self, hay: &str, slots: &mut Slots) -> Result<bool, LimitExceeded> {
        self.captures_at(hay, 0, slots)
    }

    /// Like [`Pattern::captures`], starting the search at byte `start`.
    pub fn captures_at(
        &self,
        hay: &str,
        start: usize,
        slots: &mut Slots,
    ) -> Result<bool, LimitExceeded> {
        slots.spans.clear();
        match &self.inner {
            Inner::Std(re) => {
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
            Inner::Fancy { re, pre } => {
                if !pre.is_match_at(hay, start) {
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
