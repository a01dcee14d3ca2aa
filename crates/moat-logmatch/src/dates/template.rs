//! One date template: a fail2ban `datepattern` (strptime-like `%` fields in
//! a Python regex, with `{^LN-BEG}`, `{UNB}`, `**` boundary markers), or one
//! of the special forms `EPOCH`, `LEPOCH`, `{EPOCH}` inside a pattern, and
//! `TAI64N`, compiled to a regex whose group 1 is the date text.

use chrono::Datelike;

use super::fields::{compute, FieldGroups, Now, FIELDS};
use crate::engine::{CompileError, LimitExceeded, Pattern, Slots};
use crate::translate::translate;

/// Why a date pattern is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// A `%` directive that does not exist.
    #[error("unknown date directive %{0} (write %% for a percent sign)")]
    Directive(String),
    /// The regex the pattern makes does not compile.
    #[error("{0}")]
    Compile(#[from] CompileError),
}

/// Where a template may find its date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Begin {
    /// Anywhere, but not in the middle of a word.
    Word,
    /// At the start of the line (after at most two non-word characters).
    Line,
    /// Anywhere.
    Free,
}

/// How the date text becomes a time.
#[derive(Debug, Clone)]
enum Kind {
    /// strptime-like fields.
    Fields(Box<FieldGroups>),
    /// Seconds since the epoch in group `group` (`long`: also milli- and
    /// microseconds).
    Epoch { long: bool, group: usize },
    /// A TAI64N label.
    Tai64n,
}

/// A compiled date template.
#[derive(Debug, Clone)]
pub struct Template {
    /// The pattern it was made from.
    pub name: String,
    regex: Pattern,
    kind: Kind,
    /// Whether it only matches at the line start (or end).
    pub anchored: bool,
    /// Group pairs that must capture the same text (a Python back-reference
    /// to a simple group, checked after the match instead of by the engine).
    same: Vec<(usize, usize)>,
    /// Whether a match counts from the date text rather than from the match
    /// start (where the regex takes in context that fail2ban looks behind at).
    distance_at_date: bool,
}

/// The last match of a template, by its text and the characters around it
/// (which decide the groups: the same text in the same surroundings gives
/// the same groups).
#[derive(Debug, Default)]
pub struct Memo(Option<MemoEntry>);

#[derive(Debug)]
struct MemoEntry {
    text: String,
    before: Option<char>,
    after: Option<char>,
    /// The hit, relative to the match start.
    hit: Hit,
}

/// A date found in a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Byte span of the date text.
    pub start: usize,
    /// End of the date text.
    pub end: usize,
    /// Where the match begins (for preferring dates nearer the line start).
    pub distance: usize,
}

const EPOCH: &str = r"[0-9]{10,11}\b(?:\.[0-9]{3,6})?";
const LONG_EPOCH: &str = r"[0-9]{10,11}(?:[0-9]{3}(?:\.[0-9]{1,6}|[0-9]{3})?)?";
/// "Not inside a word" before and after a date, in `regex` syntax.
const NOT_MID_WORD: &str = r"(?:\b{start-half}|\b{end-half})";

/// The year pattern for `%ExY`: 2000 up to the decade of three years from now.
fn exact_year() -> String {
    let last = (chrono::Local::now().year() + 3).clamp(2000, 2099);
    let decade = (last % 100) / 10;
    if decade == 0 {
        "20(?:0)[0-9]".to_string()
    } else {
        format!("20[0-{decade}][0-9]")
    }
}

/// The regex for one directive name (without `%`), Python syntax.
fn directive(name: &str) -> Option<String> {
    let month = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec";
    let day = "mon|tue|wed|thu|fri|sat|sun";
    Some(match name {
        "%" => "%".to_string(),
        "a" => format!("(?P<a>{day})"),
        "A" => "(?P<A>monday|tuesday|wednesday|thursday|friday|saturday|sunday)".to_string(),
        "b" => format!("(?P<b>{month})"),
        "B" => "(?P<B>january|february|march|april|may|june|july|august|september|october|november|december)".to_string(),
        "d" => "(?P<d>[12][0-9]|[0 ]?[1-9]|3[01])".to_string(),
        "f" => "(?P<f>[0-9]{1,6})".to_string(),
        "H" => "(?P<H>[01]?[0-9]|2[0-3])".to_string(),
        "I" => "(?P<I>1[0-2]|0[1-9]|[1-9])".to_string(),
        "j" => "(?P<j>36[0-6]|3[0-5][0-9]|[12][0-9][0-9]|0[1-9][0-9]|00[1-9]|[1-9][0-9]|0[1-9]|[1-9])".to_string(),
        "k" => " ?(?P<H>[0-2]?[0-9])".to_string(),
        "l" => " ?(?P<I>1?[0-9])".to_string(),
        "m" => "(?P<m>0?[1-9]|1[0-2])".to_string(),
        "M" => "(?P<M>[0-5]?[0-9])".to_string(),
        "p" => "(?P<p>am|pm)".to_string(),
        "S" => "(?P<S>[0-5]?[0-9]|6[01])".to_string(),
        "U" => "(?P<U>5[0-3]|[0-4][0-9]|[0-9])".to_string(),
        "W" => "(?P<W>5[0-3]|[0-4][0-9]|[0-9])".to_string(),
        "w" => "(?P<w>[0-6])".to_string(),
        "u" => "(?P<u>[1-7])".to_string(),
        "y" => "(?P<y>[0-9][0-9])".to_string(),
        "Y" => "(?P<Y>[0-9]{4})".to_string(),
        "z" => "(?P<z>Z|UTC|GMT|[+-][01][0-9](?::?[0-9]{2})?)".to_string(),
        "Z" => "(?P<Z>Z|[A-Z]{3,5})".to_string(),
        "ExY" => format!("(?P<Y>{})", exact_year()),
        "Exy" => "(?P<y>[0-9]{2})".to_string(),
        "Exm" => "(?P<m>0[1-9]|1[0-2])".to_string(),
        "Exd" => "(?P<d>[12][0-9]|0[1-9]|3[01])".to_string(),
        "ExH" => "(?P<H>[01][0-9]|2[0-3])".to_string(),
        "ExM" => "(?P<M>[0-5][0-9])".to_string(),
        "ExS" => "(?P<S>[0-5][0-9]|6[01])".to_string(),
        "Exk" => " ?(?P<H>[01]?[0-9]|2[0-3])".to_string(),
        "Exl" => " ?(?P<I>1[0-2]|[0-9])".to_string(),
        "ExZ" => "(?P<Z>[A-Z](?:[A-Z]{2,4})?)".to_string(),
        "Exz" => "(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01][0-9](?::?[0-9]{2})?|[A-Z](?:[A-Z]{2,4})?)".to_string(),
        _ => return None,
    })
}

/// Replaces the `%` directives; also says whether a name directive
/// (`%a %A %b %B %p`) is there, which makes the pattern case-insensitive.
fn expand_directives(pattern: &str) -> Result<(String, bool), DateError> {
    let mut out = String::with_capacity(pattern.len() * 4);
    let mut alpha = false;
    let mut rest = pattern;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let name = if after.starts_with("Ex") && after.len() >= 3 && after.is_char_boundary(3) {
            &after[..3]
        } else {
            after
                .get(..after.chars().next().map_or(0, char::len_utf8))
                .unwrap_or("")
        };
        let text = directive(name).ok_or_else(|| DateError::Directive(name.to_string()))?;
        alpha |= matches!(name, "a" | "A" | "b" | "B" | "p");
        out.push_str(&text);
        rest = &after[name.len()..];
    }
    out.push_str(rest);
    Ok((out, alpha))
}

/// Whether the pattern has a capturing group of its own.
fn has_group(p: &str) -> bool {
    let b = p.as_bytes();
    (0..b.len()).any(|i| {
        b[i] == b'('
            && (i == 0 || b[i - 1] != b'\\')
            && !(i >= 2 && &b[i - 2..i] == b"(?")
            && b.get(i + 1) != Some(&b'?')
    })
}

/// Length of a leading inline-flags group such as `(?iu)`.
fn flags_len(p: &str) -> usize {
    if let Some(rest) = p.strip_prefix("(?") {
        let n = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .count();
        if n > 0 && rest[n..].starts_with(')') {
            return n + 3;
        }
    }
    0
}

/// Whether the pattern says itself where a date begins: it starts
/// (after parentheses and flags) with `^`, `(^`, `(?:^` or `**`.
fn own_begin(p: &str) -> bool {
    let parens = p.len() - p.trim_start_matches('(').len();
    (0..=parens).any(|k| {
        let r = &p[k..];
        let r = &r[flags_len(r)..];
        r.starts_with('^')
            || r.trim_start_matches('(').starts_with("**")
            || r.starts_with("(^")
            || r.starts_with("(?:^")
    })
}

/// Whether the pattern ends with `$`, `$)`, `\b`, `\s` or `**` (then
/// parentheses): it says itself where the date ends.
fn own_end(p: &str) -> bool {
    let t = p.trim_end_matches(')');
    let unescaped =
        |s: &str, suffix: &str| s.strip_suffix(suffix).is_some_and(|h| !h.ends_with('\\'));
    unescaped(t, "**")
        || p.ends_with("\\b") && !p.ends_with("\\\\b")
        || p.ends_with("\\s") && !p.ends_with("\\\\s")
        || unescaped(p, "$")
        || unescaped(p, "$)")
}

/// Removes the `**` markers at the start and the end.
fn strip_markers(p: &str) -> String {
    let mut s = p.to_string();
    let parens = s.len() - s.trim_start_matches('(').len();
    let lead = (0..=parens).find_map(|k| {
        let fl = k + flags_len(&s[k..]);
        let more = s[fl..].len() - s[fl..].trim_start_matches('(').len();
        s[fl + more..].starts_with("**").then_some(fl + more)
    });
    if let Some(at) = lead {
        s.replace_range(at..at + 2, "");
    }
    let t = s.trim_end_matches(')').len();
    if t >= 2 && s[..t].ends_with("**") && !s[..t - 2].ends_with('\\') {
        s.replace_range(t - 2..t, "");
    }
    s
}

/// Wraps the middle of the pattern (between leading flags/`^` and a
/// trailing `$`) in group 1.
fn wrap_group(p: &str) -> String {
    let mut head = flags_len(p);
    if p[head..].starts_with('^') {
        head += 1;
    }
    head += flags_len(&p[head..]);
    let tail = if p[head..].ends_with('$') { 1 } else { 0 };
    format!(
        "{}({}){}",
        &p[..head],
        &p[head..p.len() - tail],
        &p[p.len() - tail..]
    )
}

/// Python back-references to simple groups (`(?P<n>[-/.])...(?P=n)`) become
/// a second group checked for equal text after the match.
fn split_backrefs(p: &str) -> (String, Vec<(String, String)>) {
    let mut out = p.to_string();
    let mut pairs = Vec::new();
    while let Some(at) = out.find("(?P=") {
        let Some(len) = out[at..].find(')') else {
            break;
        };
        let name = out[at + 4..at + len].to_string();
        let open = format!("(?P<{name}>");
        let Some(g) = out.find(&open) else { break };
        let body_start = g + open.len();
        let Some(body_len) = out[body_start..].find(')') else {
            break;
        };
        let body = &out[body_start..body_start + body_len];
        if body.contains('(') || body.ends_with('\\') {
            break;
        }
        let twin = format!("{name}__same{}", pairs.len());
        let replacement = format!("(?P<{twin}>{body})");
        out.replace_range(at..at + len + 1, &replacement);
        pairs.push((name, twin));
    }
    (out, pairs)
}

impl Template {
    /// Compiles one datepattern line (not the `{^LN-BEG}`/`{DEFAULT}`/
    /// `{DATE}`/`{NONE}` list forms, which [`super::DateDetector`] expands).
    pub fn new(pattern: &str) -> Result<Template, DateError> {
        let upper = pattern.to_ascii_uppercase();
        let key = if pattern.contains('%') {
            pattern
        } else {
            upper.as_str()
        };
        let line_forms = |k: &str| [k.to_string(), format!("{{^LN-BEG}}{k}"), format!("^{k}")];
        let lower_key = key.to_ascii_lowercase();
        if lower_key.contains("{epoch}") || lower_key.contains("{lepoch}") {
            return Self::epoch_in_pattern(pattern);
        }
        for (word, long) in [("EPOCH", false), ("LEPOCH", true)] {
            let forms = line_forms(word);
            if forms.iter().any(|f| f == key) {
                return Self::epoch(pattern, key != word, long);
            }
        }
        if line_forms("TAI64N").iter().any(|f| f == key) {
            let begin = if key == "TAI64N" {
                Begin::Free
            } else {
                Begin::Line
            };
            return Self::build(pattern, "@[0-9a-f]{24}", begin, true, Kind::Tai64n);
        }
        Self::from_pattern(pattern)
    }

    fn from_pattern(pattern: &str) -> Result<Template, DateError> {
        let (mut p, mut begin, mut end) = (pattern, Begin::Word, true);
        if let Some(rest) = p.strip_prefix("{UNB}") {
            p = rest;
            begin = Begin::Free;
            end = false;
        }
        if begin == Begin::Word {
            if let Some(rest) = p.strip_prefix("{^LN-BEG}") {
                p = rest;
                begin = Begin::Line;
            }
        }
        let (mut regex, alpha) = expand_directives(p)?;
        if alpha {
            regex = format!("(?iu){regex}");
        }
        Self::build(pattern, &regex, begin, end, Kind::Fields(Box::default()))
    }

    fn epoch(name: &str, line_begin: bool, long: bool) -> Result<Template, DateError> {
        let number = if long { LONG_EPOCH } else { EPOCH };
        // At the line start (optionally in a `[`), or in an audit record's
        // `audit(SECONDS.MILLIS:SERIAL)`.
        let regex = if line_begin {
            format!(r"\A(?:\W{{0,2}})?({number}){NOT_MID_WORD}")
        } else {
            format!(r"(?:\A\[?|\baudit\()({number}){NOT_MID_WORD}")
        };
        Ok(Template {
            name: name.to_string(),
            regex: Pattern::build(&regex, false, &regex, vec![None, None])?,
            kind: Kind::Epoch { long, group: 1 },
            anchored: line_begin,
            same: Vec::new(),
            distance_at_date: !line_begin,
        })
    }

    fn epoch_in_pattern(pattern: &str) -> Result<Template, DateError> {
        let mut p = pattern.to_string();
        let mut long = false;
        for (tag, re, is_long) in [("{LEPOCH}", LONG_EPOCH, true), ("{EPOCH}", EPOCH, false)] {
            while let Some(i) = p.to_ascii_uppercase().find(tag) {
                if i > 0 && p.as_bytes()[i - 1] == b'\\' {
                    break;
                }
                p.replace_range(i..i + tag.len(), &format!("({re})"));
                long |= is_long;
            }
        }
        let regex = format!("({p})");
        Self::build(
            pattern,
            &regex,
            Begin::Word,
            true,
            Kind::Epoch { long, group: 2 },
        )
    }

    /// The shared tail: boundaries, group 1, flags, translation.
    fn build(
        name: &str,
        regex: &str,
        begin: Begin,
        end: bool,
        kind: Kind,
    ) -> Result<Template, DateError> {
        let mut regex = regex.trim().to_string();
        // Inline flags move to the front.
        let mut flags = String::new();
        if let Some(at) = regex.find("(?") {
            let n = flags_len(&regex[at..]);
            if n > 0 {
                flags = regex[at..at + n].to_string();
                regex.replace_range(at..at + n, "");
            }
        }
        let bound_begin = begin != Begin::Free && !own_begin(&regex);
        let bound_end = end && !own_end(&regex);
        if !has_group(&regex) {
            regex = wrap_group(&regex);
        }
        let mut anchored = false;
        let mut python = regex.clone();
        let mut word_prefix = false;
        if bound_begin {
            if begin == Begin::Line {
                python = format!(r"^(?:\W{{0,2}})?{python}");
                anchored = true;
            } else {
                word_prefix = true;
            }
        }
        if !word_prefix && !anchored {
            let r = &python[flags_len(&python)..];
            anchored = r.starts_with('^')
                || ["(^", "(?:^"].iter().any(|pre| {
                    r.strip_prefix(pre)
                        .is_some_and(|rest| !rest.starts_with('|'))
                });
        }
        if !bound_end {
            let t = python.strip_suffix(')').unwrap_or(&python);
            if let Some(before) = t.strip_suffix('$') {
                anchored |= !before.ends_with('\\') && !before.ends_with('|');
            }
        }
        let python = strip_markers(&python);
        let (python, pairs) = split_backrefs(&format!("{flags}{python}"));
        let tr = translate(&python, false).map_err(CompileError::from)?;
        let wrap = |s: &str| {
            let mut out = String::new();
            if word_prefix {
                out.push_str(NOT_MID_WORD);
            }
            out.push_str(s);
            if bound_end {
                out.push_str(NOT_MID_WORD);
            }
            out
        };
        let mut names = vec![None];
        names.extend(tr.names);
        let regex = Pattern::build(&wrap(&tr.pattern), tr.fancy, &wrap(&tr.approx), names)?;
        let kind = match kind {
            Kind::Fields(_) => {
                let mut groups = Box::<FieldGroups>::default();
                for (i, f) in FIELDS.iter().enumerate() {
                    groups.0[i] = regex.group(f);
                }
                Kind::Fields(groups)
            }
            other => other,
        };
        let same = pairs
            .iter()
            .filter_map(|(a, b)| Some((regex.group(a)?, regex.group(b)?)))
            .collect();
        Ok(Template {
            name: name.to_string(),
            regex,
            kind,
            anchored,
            same,
            distance_at_date: false,
        })
    }

    /// The engine its regex runs on.
    pub fn engine(&self) -> crate::engine::Engine {
        self.regex.engine()
    }

    /// Finds the date in `line`. A match whose text (and the characters
    /// around it) equals the last one's is answered from `memo` without
    /// reading groups (`slots` then keep the last line's groups).
    pub fn search(
        &self,
        line: &str,
        slots: &mut Slots,
        memo: &mut Memo,
    ) -> Result<Option<Hit>, LimitExceeded> {
        self.search_in(line, slots, memo, line.is_ascii())
    }

    /// Like [`Template::search`]; `ascii` says `line` is ASCII-only.
    pub fn search_in(
        &self,
        line: &str,
        slots: &mut Slots,
        memo: &mut Memo,
        ascii: bool,
    ) -> Result<Option<Hit>, LimitExceeded> {
        let Some((s, e)) = self.regex.find_at_in(line, 0, ascii)? else {
            return Ok(None);
        };
        let before = line[..s].chars().next_back();
        let after = line[e..].chars().next();
        if let Some(m) = memo.0.as_ref() {
            if m.text == line[s..e] && m.before == before && m.after == after {
                return Ok(Some(Hit {
                    start: s + m.hit.start,
                    end: s + m.hit.end,
                    distance: s + m.hit.distance,
                }));
            }
        }
        let hit = self.search_groups_in(line, slots, ascii)?;
        memo.0 = match hit {
            Some(h) if slots.get(0) == Some((s, e)) => Some(MemoEntry {
                text: line[s..e].to_string(),
                before,
                after,
                hit: Hit {
                    start: h.start - s,
                    end: h.end - s,
                    distance: h.distance - s,
                },
            }),
            _ => None,
        };
        Ok(hit)
    }

    /// Finds the date in `line`, reading the groups into `slots`.
    pub fn search_groups(
        &self,
        line: &str,
        slots: &mut Slots,
    ) -> Result<Option<Hit>, LimitExceeded> {
        self.search_groups_in(line, slots, line.is_ascii())
    }

    /// Like [`Template::search_groups`]; `ascii` says `line` is ASCII-only.
    pub fn search_groups_in(
        &self,
        line: &str,
        slots: &mut Slots,
        ascii: bool,
    ) -> Result<Option<Hit>, LimitExceeded> {
        let mut from = 0;
        loop {
            if !self.regex.captures_at_in(line, from, slots, ascii)? {
                return Ok(None);
            }
            let equal = self.same.iter().all(|&(a, b)| {
                let text = |g| slots.get(g).map(|(s, e)| &line[s..e]);
                text(a) == text(b)
            });
            if equal {
                let Some((start, end)) = slots.get(1).or(slots.get(0)) else {
                    return Ok(None);
                };
                let whole = slots.get(0).map_or(start, |(s, _)| s);
                let distance = if self.distance_at_date { start } else { whole };
                return Ok(Some(Hit {
                    start,
                    end,
                    distance,
                }));
            }
            let Some((start, _)) = slots.get(0) else {
                return Ok(None);
            };
            from = start + line[start..].chars().next().map_or(1, char::len_utf8);
            if from > line.len() {
                return Ok(None);
            }
        }
    }

    /// The time of the date `search` just found (Unix seconds, possibly
    /// fractional for epoch stamps).
    pub fn time(&self, line: &str, slots: &Slots, now: &Now) -> Option<f64> {
        let text = |g: usize| slots.get(g).map(|(s, e)| &line[s..e]);
        match &self.kind {
            Kind::Fields(groups) => {
                compute(|i| groups.0[i].and_then(text).map(str::to_string), now).map(|t| t as f64)
            }
            Kind::Epoch { long, group } => {
                let v = text(*group)?;
                let x: f64 = v.parse().ok()?;
                Some(if *long && v.len() >= 13 {
                    if v.len() >= 16 && !v.contains('.') {
                        x / 1_000_000.0
                    } else {
                        x / 1000.0
                    }
                } else {
                    x
                })
            }
            Kind::Tai64n => {
                let v = text(1)?;
                i64::from_str_radix(v.get(2..17)?, 16)
                    .ok()
                    .map(|t| t as f64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_helpers() {
        assert!(has_group("a(b)"));
        assert!(!has_group(r"a(?:b)\(c(?P<x>d)"));
        assert!(own_begin("^abc"));
        assert!(own_begin("(?iu)^abc"));
        assert!(own_begin("**abc"));
        assert!(!own_begin("abc"));
        assert!(own_end("abc$"));
        assert!(own_end(r"abc\s"));
        assert!(own_end("abc**"));
        assert!(!own_end(r"abc\$"));
        assert_eq!(strip_markers("**abc**"), "abc");
        assert_eq!(wrap_group("^abc$"), "^(abc)$");
        assert_eq!(wrap_group("(?iu)^abc"), "(?iu)^(abc)");
        let (p, pairs) = split_backrefs("(?P<_sep>[-/])x(?P=_sep)y");
        assert_eq!(p, "(?P<_sep>[-/])x(?P<_sep__same0>[-/])y");
        assert_eq!(pairs.len(), 1);
    }

    #[test]
    fn directives() {
        assert!(expand_directives("%Y-%m-%d").is_ok());
        assert!(matches!(
            expand_directives("%q"),
            Err(DateError::Directive(_))
        ));
        assert_eq!(expand_directives("100%%").unwrap().0, "100%");
        assert!(expand_directives("%b %d").unwrap().1);
    }
}
