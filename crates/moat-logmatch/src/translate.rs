//! Python `re` syntax to Rust syntax.
//!
//! fail2ban's regexes are Python patterns. They are parsed here (with
//! Python's rules: `{` is a quantifier only when it reads as one, `[` inside a
//! class is a literal, escaped punctuation is a literal, `\Z` is the absolute
//! end, flags such as `(?i)` may appear anywhere and then hold to the end of
//! their group) and written out again in the syntax of the `regex` crate.
//! Patterns that need lookaround, backreferences, conditionals, atomic groups
//! or possessive quantifiers are written for `fancy-regex` instead, together
//! with an over-approximation in `regex` syntax (every text the pattern
//! matches, the approximation matches too), which serves as a linear-time
//! pre-filter.

use std::fmt::Write;

/// Why a Python pattern could not be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at offset {offset}: {message}")]
pub struct TranslateError {
    /// Character offset in the pattern where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// A translated pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The pattern for the engine it needs (`fancy-regex` when `fancy`).
    pub pattern: String,
    /// Whether the pattern needs a backtracking engine.
    pub fancy: bool,
    /// A `regex`-crate pattern matching at least every text `pattern` matches
    /// (equal to `pattern` when not `fancy`).
    pub approx: String,
    /// A `regex`-crate pattern without assertions (`^`, `$`, `\b`, ...) that
    /// matches, inside any text, every text `pattern` matches: it holds for
    /// the pattern run on any part of a line ending where the line ends.
    pub loose: String,
    /// Names of the capture groups, by group number minus one.
    pub names: Vec<Option<String>>,
}

/// Translates a Python pattern. `multiline` is Python's `re.MULTILINE`
/// (`^` and `$` at every line), as fail2ban sets it for multi-line filters.
pub fn translate(pattern: &str, multiline: bool) -> Result<Translation, TranslateError> {
    let mut parser = Parser {
        chars: pattern.chars().collect(),
        pos: 0,
        flags: Flags {
            multiline,
            ..Flags::default()
        },
        names: Vec::new(),
        open: Vec::new(),
    };
    let node = parser.alternation()?;
    if parser.pos < parser.chars.len() {
        return Err(parser.err("unbalanced parenthesis"));
    }
    let fancy = node.is_fancy();
    let mut exact = String::new();
    node.emit(&mut exact, Mode::Exact);
    let approx = if fancy {
        let mut s = String::new();
        node.emit(&mut s, Mode::Approx);
        s
    } else {
        exact.clone()
    };
    let mut loose = String::new();
    node.emit(&mut loose, Mode::Loose);
    Ok(Translation {
        pattern: exact,
        fancy,
        approx,
        loose,
        names: parser.names,
    })
}

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    ignore_case: bool,
    multiline: bool,
    dot_all: bool,
    verbose: bool,
    ascii: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Perl {
    Digit,
    Word,
    Space,
}

#[derive(Debug, Clone)]
enum ClassItem {
    Char(char),
    Range(char, char),
    Perl {
        kind: Perl,
        negated: bool,
        ascii: bool,
    },
}

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Char {
        c: char,
        ignore_case: bool,
    },
    Any {
        dot_all: bool,
    },
    Class {
        negated: bool,
        items: Vec<ClassItem>,
        ignore_case: bool,
    },
    Perl {
        kind: Perl,
        negated: bool,
        ascii: bool,
    },
    LineStart {
        multiline: bool,
    },
    LineEnd {
        multiline: bool,
    },
    TextStart,
    TextEnd,
    WordBoundary {
        negated: bool,
        ascii: bool,
    },
    Capture {
        name: Option<String>,
        body: Box<Node>,
    },
    Group(Box<Node>),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        body: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        possessive: bool,
    },
    Look {
        behind: bool,
        negated: bool,
        body: Box<Node>,
    },
    Backref(usize),
    Cond {
        group: usize,
        yes: Box<Node>,
        no: Box<Node>,
    },
    Atomic(Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The pattern itself.
    Exact,
    /// Fancy constructs widened away.
    Approx,
    /// Also without assertions.
    Loose,
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    flags: Flags,
    names: Vec<Option<String>>,
    /// Group numbers still open (Python refuses references to them).
    open: Vec<usize>,
}

const MAX_REPEAT: u32 = 65535;

impl Parser {
    fn err(&self, message: &str) -> TranslateError {
        TranslateError {
            offset: self.pos,
            message: message.to_string(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if self.chars.len() >= self.pos + n
            && s.chars().zip(&self.chars[self.pos..]).all(|(a, &b)| a == b)
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn skip_verbose(&mut self) {
        if !self.flags.verbose {
            return;
        }
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += 1;
            } else if c == '#' {
                while let Some(c) = self.peek() {
                    self.pos += 1;
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    fn alternation(&mut self) -> Result<Node, TranslateError> {
        let mut alts = vec![self.concat()?];
        while self.eat('|') {
            alts.push(self.concat()?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(alts)
        })
    }

    fn concat(&mut self) -> Result<Node, TranslateError> {
        let mut items: Vec<Node> = Vec::new();
        loop {
            self.skip_verbose();
            match self.peek() {
                None | Some('|') | Some(')') => break,
                _ => {}
            }
            let start = self.pos;
            let atom = self.atom()?;
            let Some(atom) = atom else { continue };
            let atom = self.quantifiers(atom, start)?;
            items.push(atom);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    /// Reads `{m,n}` at the current position the way Python does; `None`
    /// (and the position unchanged) when it is a literal brace.
    fn brace_quantifier(&mut self) -> Option<(u32, Option<u32>)> {
        let here = self.pos;
        if !self.eat('{') {
            return None;
        }
        let digits = |p: &mut Self| {
            let mut s = String::new();
            while let Some(c) = p.peek().filter(char::is_ascii_digit) {
                s.push(c);
                p.pos += 1;
            }
            s
        };
        let lo = digits(self);
        let hi = if self.eat(',') {
            Some(digits(self))
        } else {
            None
        };
        if !self.eat('}') || (lo.is_empty() && hi.is_none()) {
            self.pos = here;
            return None;
        }
        let min = if lo.is_empty() {
            0
        } else {
            lo.parse().unwrap_or(u32::MAX)
        };
        let max = match hi {
            None => Some(min),
            Some(h) if h.is_empty() => None,
            Some(h) => Some(h.parse().unwrap_or(u32::MAX)),
        };
        Some((min, max))
    }

    fn quantifiers(&mut self, mut atom: Node, start: usize) -> Result<Node, TranslateError> {
        let mut quantified = false;
        loop {
            self.skip_verbose();
            let (min, max) = match self.peek() {
                Some('*') => {
                    self.pos += 1;
                    (0, None)
                }
                Some('+') => {
                    self.pos += 1;
                    (1, None)
                }
                Some('?') => {
                    self.pos += 1;
                    (0, Some(1))
                }
                Some('{') => match self.brace_quantifier() {
                    Some(q) => q,
                    None => break,
                },
                _ => break,
            };
            if quantified {
                return Err(self.err("multiple repeat"));
            }
            if matches!(atom, Node::Empty) || self.pos == start {
                return Err(self.err("nothing to repeat"));
            }
            if let Some(m) = max {
                if m < min {
                    return Err(self.err("min repeat greater than max repeat"));
                }
            }
            if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
                return Err(self.err("the repetition number is too large"));
            }
            let (greedy, possessive) = if self.eat('?') {
                (false, false)
            } else if self.eat('+') {
                (true, true)
            } else {
                (true, false)
            };
            atom = Node::Repeat {
                body: Box::new(atom),
                min,
                max,
                greedy,
                possessive,
            };
            quantified = true;
        }
        Ok(atom)
    }

    fn atom(&mut self) -> Result<Option<Node>, TranslateError> {
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        self.pos += 1;
        let node = match c {
            '(' => return self.group(),
            '[' => self.class()?,
            '.' => Node::Any {
                dot_all: self.flags.dot_all,
            },
            '^' => Node::LineStart {
                multiline: self.flags.multiline,
            },
            '$' => Node::LineEnd {
                multiline: self.flags.multiline,
            },
            '\\' => self.escape()?,
            '*' | '+' | '?' => return Err(self.err("nothing to repeat")),
            '{' => {
                self.pos -= 1;
                if self.brace_quantifier().is_some() {
                    return Err(self.err("nothing to repeat"));
                }
                self.pos += 1;
                self.char_node('{')
            }
            c => self.char_node(c),
        };
        Ok(Some(node))
    }

    fn char_node(&self, c: char) -> Node {
        Node::Char {
            c,
            ignore_case: self.flags.ignore_case,
        }
    }

    fn group_name(&mut self, close: char) -> Result<String, TranslateError> {
        let mut name = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("missing group name terminator")),
                Some(c) if c == close => {
                    self.pos += 1;
                    break;
                }
                Some(c) => {
                    name.push(c);
                    self.pos += 1;
                }
            }
        }
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !valid {
            return Err(self.err(&format!("bad character in group name {name:?}")));
        }
        Ok(name)
    }

    fn group_ref(&self, name: &str) -> Result<usize, TranslateError> {
        let index = if name.chars().all(|c| c.is_ascii_digit()) {
            name.parse::<usize>()
                .map_err(|_| self.err("invalid group reference"))?
        } else {
            self.names
                .iter()
                .position(|n| n.as_deref() == Some(name))
                .map(|i| i + 1)
                .ok_or_else(|| self.err(&format!("unknown group name {name:?}")))?
        };
        if index == 0 || index > self.names.len() {
            return Err(self.err(&format!("invalid group reference {index}")));
        }
        Ok(index)
    }

    fn parse_flag_letters(&mut self) -> Result<(Vec<char>, Vec<char>, char), TranslateError> {
        let mut on = Vec::new();
        let mut off = Vec::new();
        let mut negative = false;
        loop {
            match self.peek() {
                Some(c @ ('i' | 'm' | 's' | 'x' | 'a' | 'u' | 'L')) => {
                    self.pos += 1;
                    if negative {
                        off.push(c);
                    } else {
                        on.push(c);
                    }
                }
                Some('-') if !negative => {
                    self.pos += 1;
                    negative = true;
                }
                Some(c @ (')' | ':')) => {
                    self.pos += 1;
                    return Ok((on, off, c));
                }
                _ => return Err(self.err("unknown extension or flag")),
            }
        }
    }

    fn apply_flags(&mut self, on: &[char], off: &[char]) {
        for (set, list) in [(true, on), (false, off)] {
            for c in list {
                match c {
                    'i' => self.flags.ignore_case = set,
                    'm' => self.flags.multiline = set,
                    's' => self.flags.dot_all = set,
                    'x' => self.flags.verbose = set,
                    'a' => self.flags.ascii = set,
                    'u' if set => self.flags.ascii = false,
                    _ => {}
                }
            }
        }
    }

    /// Parses a group body up to its `)` with the flags restored afterwards.
    fn group_body(&mut self) -> Result<Node, TranslateError> {
        let saved = self.flags;
        let body = self.alternation()?;
        self.flags = saved;
        if !self.eat(')') {
            return Err(self.err("missing ), unterminated subpattern"));
        }
        Ok(body)
    }

    fn capture(&mut self, name: Option<String>) -> Result<Option<Node>, TranslateError> {
        if let Some(n) = &name {
            if self.names.iter().any(|m| m.as_deref() == Some(n)) {
                return Err(self.err(&format!("redefinition of group name {n:?}")));
            }
        }
        self.names.push(name.clone());
        let index = self.names.len();
        self.open.push(index);
        let body = self.group_body()?;
        self.open.pop();
        Ok(Some(Node::Capture {
            name,
            body: Box::new(body),
        }))
    }

    fn group(&mut self) -> Result<Option<Node>, TranslateError> {
        if !self.eat('?') {
            return self.capture(None);
        }
        if self.eat_str("P<") {
            let name = self.group_name('>')?;
            return self.capture(Some(name));
        }
        if self.eat_str("P=") {
            let name = self.group_name(')')?;
            let index = self.group_ref(&name)?;
            if self.open.contains(&index) {
                return Err(self.err("cannot refer to an open group"));
            }
            return Ok(Some(Node::Backref(index)));
        }
        if self.eat(':') {
            return Ok(Some(Node::Group(Box::new(self.group_body()?))));
        }
        if self.eat('#') {
            while let Some(c) = self.peek() {
                self.pos += 1;
                if c == ')' {
                    return Ok(None);
                }
            }
            return Err(self.err("missing ), unterminated comment"));
        }
        for (prefix, behind, negated) in [
            ("=", false, false),
            ("!", false, true),
            ("<=", true, false),
            ("<!", true, true),
        ] {
            if self.eat_str(prefix) {
                let body = self.group_body()?;
                return Ok(Some(Node::Look {
                    behind,
                    negated,
                    body: Box::new(body),
                }));
            }
        }
        if self.eat('>') {
            return Ok(Some(Node::Atomic(Box::new(self.group_body()?))));
        }
        if self.eat('(') {
            let name = self.group_name(')')?;
            let group = self.group_ref(&name)?;
            let saved = self.flags;
            let yes = self.concat()?;
            let no = if self.eat('|') {
                self.concat()?
            } else {
                Node::Empty
            };
            self.flags = saved;
            if self.peek() == Some('|') {
                return Err(self.err("conditional backref with more than two branches"));
            }
            if !self.eat(')') {
                return Err(self.err("missing ), unterminated subpattern"));
            }
            return Ok(Some(Node::Cond {
                group,
                yes: Box::new(yes),
                no: Box::new(no),
            }));
        }
        let (on, off, end) = self.parse_flag_letters()?;
        if end == ')' {
            // A global flag: in effect from here to the end of the enclosing
            // group (Rust's rule; Python 3.11 only allows them at the start,
            // where both mean the same, and fail2ban moves `((?i)x)` to
            // `(?i:x)`, which also means the same).
            self.apply_flags(&on, &off);
            return Ok(Some(Node::Empty));
        }
        let saved = self.flags;
        self.apply_flags(&on, &off);
        let body = self.alternation()?;
        self.flags = saved;
        if !self.eat(')') {
            return Err(self.err("missing ), unterminated subpattern"));
        }
        Ok(Some(Node::Group(Box::new(body))))
    }

    fn hex_escape(&mut self, digits: usize) -> Result<char, TranslateError> {
        let s: String = self.chars.iter().skip(self.pos).take(digits).collect();
        if s.chars().count() != digits || !s.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(self.err("incomplete hex escape"));
        }
        self.pos += digits;
        u32::from_str_radix(&s, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| self.err("bad escape (invalid code point)"))
    }

    fn octal_escape(&mut self, first: char) -> Result<char, TranslateError> {
        let mut value = first.to_digit(8).unwrap_or(0);
        for _ in 0..2 {
            match self.peek().and_then(|c| c.to_digit(8)) {
                Some(d) => {
                    value = value * 8 + d;
                    self.pos += 1;
                }
                None => break,
            }
        }
        if value > 0o377 {
            return Err(self.err("octal escape value outside of range 0-0o377"));
        }
        char::from_u32(value).ok_or_else(|| self.err("bad octal escape"))
    }

    /// Escapes common to classes and the outside: a character, or `None` for
    /// the letters that mean something else (left to the caller).
    fn char_escape(&mut self, c: char) -> Result<Option<char>, TranslateError> {
        Ok(Some(match c {
            'a' => '\x07',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            'x' => self.hex_escape(2)?,
            'u' => self.hex_escape(4)?,
            'U' => self.hex_escape(8)?,
            'N' => return Err(self.err("named Unicode escapes \\N{...} are not supported")),
            c if c.is_ascii_alphabetic() => return Ok(None),
            c => c,
        }))
    }

    fn perl(&self, c: char) -> Option<(Perl, bool)> {
        Some(match c {
            'd' => (Perl::Digit, false),
            'D' => (Perl::Digit, true),
            'w' => (Perl::Word, false),
            'W' => (Perl::Word, true),
            's' => (Perl::Space, false),
            'S' => (Perl::Space, true),
            _ => return None,
        })
    }

    fn escape(&mut self) -> Result<Node, TranslateError> {
        let Some(c) = self.peek() else {
            return Err(self.err("bad escape (end of pattern)"));
        };
        self.pos += 1;
        if let Some((kind, negated)) = self.perl(c) {
            return Ok(Node::Perl {
                kind,
                negated,
                ascii: self.flags.ascii,
            });
        }
        match c {
            'A' => return Ok(Node::TextStart),
            'Z' => return Ok(Node::TextEnd),
            'b' | 'B' => {
                return Ok(Node::WordBoundary {
                    negated: c == 'B',
                    ascii: self.flags.ascii,
                })
            }
            '0' => {
                let c = self.octal_escape('0')?;
                return Ok(self.char_node(c));
            }
            '1'..='9' => {
                // Three octal digits make an octal escape, otherwise a group
                // reference of one or two digits.
                let (d1, d2) = (self.peek(), self.peek_at(1));
                if c <= '7'
                    && d1.is_some_and(|d| ('0'..='7').contains(&d))
                    && d2.is_some_and(|d| ('0'..='7').contains(&d))
                {
                    let ch = self.octal_escape(c)?;
                    return Ok(self.char_node(ch));
                }
                let mut number = c.to_digit(10).unwrap_or(0) as usize;
                if let Some(d) = d1.and_then(|d| d.to_digit(10)) {
                    number = number * 10 + d as usize;
                    self.pos += 1;
                }
                if number > self.names.len() {
                    return Err(self.err(&format!("invalid group reference {number}")));
                }
                if self.open.contains(&number) {
                    return Err(self.err("cannot refer to an open group"));
                }
                return Ok(Node::Backref(number));
            }
            _ => {}
        }
        match self.char_escape(c)? {
            Some(ch) => Ok(self.char_node(ch)),
            None => Err(self.err(&format!("bad escape \\{c}"))),
        }
    }

    fn class_atom(&mut self) -> Result<ClassItem, TranslateError> {
        let Some(c) = self.peek() else {
            return Err(self.err("unterminated character set"));
        };
        self.pos += 1;
        if c != '\\' {
            return Ok(ClassItem::Char(c));
        }
        let Some(e) = self.peek() else {
            return Err(self.err("unterminated character set"));
        };
        self.pos += 1;
        if let Some((kind, negated)) = self.perl(e) {
            return Ok(ClassItem::Perl {
                kind,
                negated,
                ascii: self.flags.ascii,
            });
        }
        match e {
            'b' => Ok(ClassItem::Char('\x08')),
            '0'..='7' => Ok(ClassItem::Char(self.octal_escape(e)?)),
            _ => match self.char_escape(e)? {
                Some(ch) => Ok(ClassItem::Char(ch)),
                None => Err(self.err(&format!("bad escape \\{e}"))),
            },
        }
    }

    fn class(&mut self) -> Result<Node, TranslateError> {
        let negated = self.eat('^');
        let mut items = Vec::new();
        let mut first = true;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated character set")),
                Some(']') if !first => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            first = false;
            let item = self.class_atom()?;
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| c != ']') {
                self.pos += 1;
                let hi = self.class_atom()?;
                match (item, hi) {
                    (ClassItem::Char(a), ClassItem::Char(b)) => {
                        if b < a {
                            return Err(self.err("bad character range"));
                        }
                        items.push(ClassItem::Range(a, b));
                    }
                    _ => return Err(self.err("bad character range")),
                }
            } else {
                items.push(item);
            }
        }
        Ok(Node::Class {
            negated,
            items,
            ignore_case: self.flags.ignore_case,
        })
    }
}

fn push_char(out: &mut String, c: char, in_class: bool) {
    let meta = if in_class {
        matches!(c, '\\' | '[' | ']' | '^' | '-' | '&' | '~')
    } else {
        regex_syntax_meta(c)
    };
    if meta {
        out.push('\\');
        out.push(c);
    } else if c.is_control() || c.is_whitespace() && c != ' ' {
        let _ = write!(out, "\\x{{{:x}}}", c as u32);
    } else {
        out.push(c);
    }
}

fn regex_syntax_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
            | ' '
    )
}

fn perl_text(kind: Perl, negated: bool, ascii: bool) -> &'static str {
    match (kind, negated, ascii) {
        (Perl::Digit, false, false) => r"\d",
        (Perl::Digit, true, false) => r"\D",
        (Perl::Word, false, false) => r"\w",
        (Perl::Word, true, false) => r"\W",
        (Perl::Space, false, false) => r"\s",
        (Perl::Space, true, false) => r"\S",
        (Perl::Digit, false, true) => "[0-9]",
        (Perl::Digit, true, true) => "[^0-9]",
        (Perl::Word, false, true) => "[0-9A-Za-z_]",
        (Perl::Word, true, true) => "[^0-9A-Za-z_]",
        (Perl::Space, false, true) => r"[\t\n\x0B\x0C\r ]",
        (Perl::Space, true, true) => r"[^\t\n\x0B\x0C\r ]",
    }
}

impl Node {
    fn is_fancy(&self) -> bool {
        match self {
            Node::Look { .. } | Node::Backref(_) | Node::Cond { .. } | Node::Atomic(_) => true,
            Node::Repeat {
                body, possessive, ..
            } => *possessive || body.is_fancy(),
            Node::Capture { body, .. } | Node::Group(body) => body.is_fancy(),
            Node::Concat(v) | Node::Alt(v) => v.iter().any(Node::is_fancy),
            _ => false,
        }
    }

    fn emit(&self, out: &mut String, mode: Mode) {
        match self {
            Node::Empty => {}
            Node::Char { c, ignore_case } => {
                if *ignore_case && c.to_lowercase().ne(c.to_uppercase()) {
                    out.push_str("(?i:");
                    push_char(out, *c, false);
                    out.push(')');
                } else {
                    push_char(out, *c, false);
                }
            }
            Node::Any { dot_all } => out.push_str(if *dot_all { "(?s:.)" } else { "." }),
            Node::Class {
                negated,
                items,
                ignore_case,
            } => {
                if *ignore_case {
                    out.push_str("(?i:");
                }
                out.push('[');
                if *negated {
                    out.push('^');
                }
                for item in items {
                    match item {
                        ClassItem::Char(c) => push_char(out, *c, true),
                        ClassItem::Range(a, b) => {
                            push_char(out, *a, true);
                            out.push('-');
                            push_char(out, *b, true);
                        }
                        ClassItem::Perl {
                            kind,
                            negated,
                            ascii,
                        } => {
                            let text = perl_text(*kind, *negated, *ascii);
                            out.push_str(text);
                        }
                    }
                }
                out.push(']');
                if *ignore_case {
                    out.push(')');
                }
            }
            Node::Perl {
                kind,
                negated,
                ascii,
            } => out.push_str(perl_text(*kind, *negated, *ascii)),
            Node::LineStart { .. }
            | Node::LineEnd { .. }
            | Node::TextStart
            | Node::TextEnd
            | Node::WordBoundary { .. }
                if mode == Mode::Loose => {}
            Node::LineStart { multiline } => {
                out.push_str(if *multiline { "(?m:^)" } else { r"\A" })
            }
            // Python's `$` without MULTILINE: the end, or before a newline
            // that ends the text. Taking that newline into the match changes
            // neither whether it matches nor any group.
            Node::LineEnd { multiline } => {
                out.push_str(if *multiline { "(?m:$)" } else { r"(?:\n?\z)" })
            }
            Node::TextStart => out.push_str(r"\A"),
            Node::TextEnd => out.push_str(r"\z"),
            Node::WordBoundary { negated, ascii } => out.push_str(match (negated, ascii) {
                (false, false) => r"\b",
                (true, false) => r"\B",
                (false, true) => r"(?-u:\b)",
                (true, true) => r"(?-u:\B)",
            }),
            Node::Capture { name, body } => {
                match name {
                    Some(n) => {
                        let _ = write!(out, "(?P<{n}>");
                    }
                    None => out.push('('),
                }
                body.emit(out, mode);
                out.push(')');
            }
            Node::Group(body) => {
                out.push_str("(?:");
                body.emit(out, mode);
                out.push(')');
            }
            Node::Concat(items) => {
                for item in items {
                    item.emit(out, mode);
                }
            }
            Node::Alt(items) => {
                out.push_str("(?:");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    item.emit(out, mode);
                }
                out.push(')');
            }
            Node::Repeat {
                body,
                min,
                max,
                greedy,
                possessive,
            } => {
                let atomic = *possessive && mode == Mode::Exact;
                if atomic {
                    out.push_str("(?>");
                }
                out.push_str("(?:");
                body.emit(out, mode);
                out.push(')');
                match (min, max) {
                    (0, None) => out.push('*'),
                    (1, None) => out.push('+'),
                    (0, Some(1)) => out.push('?'),
                    (m, None) => {
                        let _ = write!(out, "{{{m},}}");
                    }
                    (m, Some(n)) if m == n => {
                        let _ = write!(out, "{{{m}}}");
                    }
                    (m, Some(n)) => {
                        let _ = write!(out, "{{{m},{n}}}");
                    }
                }
                if !greedy {
                    out.push('?');
                }
                if atomic {
                    out.push(')');
                }
            }
            Node::Look {
                behind,
                negated,
                body,
            } => {
                if mode == Mode::Exact {
                    out.push_str(match (behind, negated) {
                        (false, false) => "(?=",
                        (false, true) => "(?!",
                        (true, false) => "(?<=",
                        (true, true) => "(?<!",
                    });
                    body.emit(out, mode);
                    out.push(')');
                }
            }
            Node::Backref(n) => {
                if mode == Mode::Exact {
                    let _ = write!(out, "(?:\\{n})");
                } else {
                    out.push_str("(?s:.*)");
                }
            }
            Node::Cond { group, yes, no } => {
                if mode == Mode::Exact {
                    let _ = write!(out, "(?({group})");
                    yes.emit(out, mode);
                    out.push('|');
                    no.emit(out, mode);
                    out.push(')');
                } else {
                    out.push_str("(?:");
                    yes.emit(out, mode);
                    out.push('|');
                    no.emit(out, mode);
                    out.push(')');
                }
            }
            Node::Atomic(body) => {
                out.push_str(if mode == Mode::Exact { "(?>" } else { "(?:" });
                body.emit(out, mode);
                out.push(')');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> String {
        translate(p, false).unwrap().pattern
    }

    fn std_match(p: &str, hay: &str) -> Option<String> {
        let tr = translate(p, false).unwrap();
        assert!(!tr.fancy, "{p} should not need fancy-regex");
        regex::Regex::new(&tr.pattern)
            .unwrap()
            .find(hay)
            .map(|m| m.as_str().to_string())
    }

    #[test]
    fn named_groups_and_noncapturing() {
        let tr = translate(r"(?P<user>\w+)@(?:x|y)(z)", false).unwrap();
        assert_eq!(tr.names, vec![Some("user".to_string()), None]);
        let re = regex::Regex::new(&tr.pattern).unwrap();
        let c = re.captures("bob@yz").unwrap();
        assert_eq!(&c["user"], "bob");
        assert_eq!(&c[2], "z");
    }

    #[test]
    fn dollar_matches_before_final_newline() {
        assert_eq!(std_match(r"abc$", "xabc\n").as_deref(), Some("abc\n"));
        assert_eq!(std_match(r"abc$", "abc\nx"), None);
        assert_eq!(std_match(r"abc\Z", "abc\n"), None);
        assert_eq!(std_match(r"\Aabc", "abc"), Some("abc".to_string()));
        let tr = translate(r"^b$", true).unwrap();
        assert!(regex::Regex::new(&tr.pattern)
            .unwrap()
            .is_match("a\nb\nc\n"));
        assert!(!regex::Regex::new(&t(r"^b$")).unwrap().is_match("a\nb\nc\n"));
    }

    #[test]
    fn braces_follow_python() {
        assert_eq!(std_match(r"a{,2}b", "aab").as_deref(), Some("aab"));
        assert_eq!(std_match(r"a{2,}", "aaa").as_deref(), Some("aaa"));
        assert_eq!(std_match(r"x{y}", "x{y}").as_deref(), Some("x{y}"));
        assert_eq!(std_match(r"x{}", "x{}").as_deref(), Some("x{}"));
        assert_eq!(std_match(r"x{1,a}", "x{1,a}").as_deref(), Some("x{1,a}"));
        assert_eq!(std_match(r"a{2}?", "aaa").as_deref(), Some("aa"));
        assert!(translate("a**", false).is_err());
        assert!(translate("*a", false).is_err());
    }

    #[test]
    fn inline_flags_anywhere() {
        assert_eq!(std_match(r"(?i)abc", "xABC").as_deref(), Some("ABC"));
        assert_eq!(std_match(r"a((?i)b)c", "aBc").as_deref(), Some("aBc"));
        assert_eq!(std_match(r"a((?i)b)c", "aBC"), None);
        assert_eq!(std_match(r"a(?i:b)c", "aBc").as_deref(), Some("aBc"));
        assert_eq!(std_match(r"(?s)a.b", "a\nb").as_deref(), Some("a\nb"));
        assert_eq!(std_match(r"a.b", "a\nb"), None);
        assert_eq!(std_match(r"(?m)^b$", "a\nb\n").as_deref(), Some("b"));
        assert_eq!(
            std_match("(?x) a b # comment\n c", "abc").as_deref(),
            Some("abc")
        );
        assert_eq!(std_match(r"(?x)a[ ]b", "a b").as_deref(), Some("a b"));
    }

    #[test]
    fn unicode_and_ascii_classes() {
        // Python str patterns are Unicode: \d and \w match beyond ASCII.
        assert!(std_match(r"^\d+$", "١٢٣").is_some());
        assert!(std_match(r"^\w+$", "héllo").is_some());
        // (?a) makes them ASCII, as in Python.
        assert!(std_match(r"(?a)^\d+$", "١٢٣").is_none());
        assert!(std_match(r"(?a)^\w+$", "héllo").is_none());
        assert!(std_match(r"(?a)^\w+$", "hello_1").is_some());
        assert!(std_match(r"^\s\S$", "\tx").is_some());
        assert!(std_match(r"\bfoo\b", "a foo.").is_some());
        assert!(std_match(r"\Bfoo", "a foo.").is_none());
    }

    #[test]
    fn class_oddities() {
        // `[` inside a class is a literal in Python; so are `&&`, `--`, `~~`.
        assert_eq!(std_match(r"[[:alpha:]]+", "x:]]").as_deref(), Some(":]]"));
        assert_eq!(std_match(r"[a&&b]+", "&ab").as_deref(), Some("&ab"));
        assert_eq!(std_match(r"[~~]", "~").as_deref(), Some("~"));
        assert_eq!(std_match(r"[\w\-.]+", "a-b.c").as_deref(), Some("a-b.c"));
        assert_eq!(std_match(r"[]a]+", "]a").as_deref(), Some("]a"));
        assert_eq!(std_match(r"[^]a]+", "xy]").as_deref(), Some("xy"));
        assert_eq!(std_match(r"[a-]+", "-a").as_deref(), Some("-a"));
        assert_eq!(std_match(r"[-a]+", "-a").as_deref(), Some("-a"));
        assert_eq!(std_match(r"[\b]", "\x08").as_deref(), Some("\x08"));
        assert_eq!(std_match(r"[\]]", "]").as_deref(), Some("]"));
        assert_eq!(std_match(r"[\^x]+", "^x").as_deref(), Some("^x"));
        assert_eq!(std_match(r"[a^]+", "^a").as_deref(), Some("^a"));
        assert!(translate(r"[\w-z]", false).is_err());
        assert!(translate(r"[z-a]", false).is_err());
    }

    #[test]
    fn escapes() {
        // Escaped punctuation is a literal; `\<` is not a word boundary.
        assert_eq!(
            std_match(r"\<\>\-\/\ \#\%\@", "<>-/ #%@").as_deref(),
            Some("<>-/ #%@")
        );
        assert_eq!(
            std_match(r"\x41\u00e9\U0001F600", "Aé😀").as_deref(),
            Some("Aé😀")
        );
        assert_eq!(std_match(r"\101\0", "A\0").as_deref(), Some("A\0"));
        assert_eq!(std_match(r"a\tb\nc", "a\tb\nc").as_deref(), Some("a\tb\nc"));
        assert!(translate(r"\q", false).is_err());
        assert!(translate(r"(a)\2", false).is_err());
        // Comments vanish.
        assert_eq!(std_match(r"a(?#note)b", "ab").as_deref(), Some("ab"));
    }

    #[test]
    fn fancy_features_are_detected_and_approximated() {
        for p in [
            r"a(?=b)",
            r"a(?!b)",
            r"(?<=a)b",
            r"(?<!a)b",
            r"(?P<x>a)(?P=x)",
            r"(a)\1",
            r"(?P<c>x)?(?(c)y|z)",
            r"(?>ab|a)c",
            r"a*+b",
        ] {
            let tr = translate(p, false).unwrap();
            assert!(tr.fancy, "{p}");
            regex::Regex::new(&tr.approx).unwrap_or_else(|e| panic!("{p}: {e}"));
            fancy_regex::Regex::new(&tr.pattern).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
        let tr = translate(r"(?P<c>x)?(?(c)y|z)", false).unwrap();
        let re = fancy_regex::Regex::new(&tr.pattern).unwrap();
        assert!(re.is_match("xy").unwrap());
        assert!(re.is_match("z").unwrap());
        assert_eq!(re.find("xz").unwrap().map(|m| m.as_str()), Some("z"));
        let tr = translate(r"^(?P<x>a+)-(?P=x)$", false).unwrap();
        let re = fancy_regex::Regex::new(&tr.pattern).unwrap();
        assert!(re.is_match("aa-aa").unwrap());
        assert!(!re.is_match("aa-a").unwrap());
        // Possessive and atomic forms do not give back.
        let tr = translate(r"^a*+a", false).unwrap();
        assert!(!fancy_regex::Regex::new(&tr.pattern)
            .unwrap()
            .is_match("aaa")
            .unwrap());
    }

    #[test]
    fn group_errors() {
        assert!(translate(r"(?P<a>x)(?P<a>y)", false).is_err());
        assert!(translate(r"(?P<a>x(?P=a))", false).is_err());
        assert!(translate(r"(abc", false).is_err());
        assert!(translate(r"abc)", false).is_err());
        assert!(translate(r"(?P<1a>x)", false).is_err());
    }
}
