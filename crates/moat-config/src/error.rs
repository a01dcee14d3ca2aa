//! Problems in a configuration, located as `file:line:col`.

use std::fmt;
use std::ops::Range;

/// A problem found at a byte range of the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where in the text (bytes); `None` when it concerns the whole file.
    pub span: Option<Range<usize>>,
    /// What is wrong.
    pub message: String,
    /// What was expected there, if that helps.
    pub expected: Option<String>,
    /// How to fix it.
    pub fix: Option<String>,
}

impl Diagnostic {
    /// A problem at `span`.
    pub fn new(span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        Diagnostic {
            span,
            message: message.into(),
            expected: None,
            fix: None,
        }
    }

    /// Adds what was expected.
    pub fn expected(mut self, text: impl Into<String>) -> Self {
        self.expected = Some(text.into());
        self
    }

    /// Adds how to fix it.
    pub fn fix(mut self, text: impl Into<String>) -> Self {
        self.fix = Some(text.into());
        self
    }

    /// Places the problem in `file` whose text is `text`.
    pub fn locate(&self, file: &str, text: &str) -> Located {
        let (line, col) = match &self.span {
            Some(span) => line_col(text, span.start),
            None => (1, 1),
        };
        Located {
            file: file.to_string(),
            line,
            col,
            message: self.message.clone(),
            expected: self.expected.clone(),
            fix: self.fix.clone(),
        }
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

/// A problem with its place in a file, ready to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Located {
    /// The file's name as the user gave it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// What was expected.
    pub expected: Option<String>,
    /// How to fix it.
    pub fix: Option<String>,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )?;
        if let Some(e) = &self.expected {
            write!(f, "\n  expected: {e}")?;
        }
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

/// Why a configuration cannot be used: one or more located problems.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in file order.
    pub problems: Vec<Located>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 10), (2, 4));
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn located_shows_expected_and_fix() {
        let d = Diagnostic::new(Some(6..8), "unknown zone `lna`")
            .expected("lan or wan")
            .fix("write \"lan\"");
        let text = d.locate("moat.toml", "x = 1\nfrom = 1").to_string();
        assert_eq!(
            text,
            "moat.toml:2:1: unknown zone `lna`\n  expected: lan or wan\n  fix: write \"lan\""
        );
    }

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("lna", ["lan", "wan"]), Some("lan"));
        assert_eq!(closest("zzzzzz", ["lan", "wan"]), None);
    }
}
