//! One INI file read the way Python's `configparser` reads it for fail2ban: `#` and `;`
//! full-line comments, `;` inline comments after whitespace, `=` or `:` between key and value,
//! keys lower-cased, values continued on deeper-indented lines (blank and comment lines
//! inside a value do not end it), `[DEFAULT]`, and duplicate keys or sections in one file refused.

use crate::error::{ConfError, Location, Warning};
use std::path::Path;

/// One `key = value` with the line of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The key, lower-cased as `configparser` does.
    pub key: String,
    /// The value, continuation lines joined with `\n`, trailing blank lines dropped.
    pub value: String,
    /// The 1-based line of the key.
    pub line: usize,
}

/// A `[section]` of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    /// The name between the brackets (case kept).
    pub name: String,
    /// The 1-based line of the header.
    pub line: usize,
    /// Its entries in file order.
    pub entries: Vec<Entry>,
}

/// One parsed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IniFile {
    /// The `[DEFAULT]` entries.
    pub defaults: Vec<Entry>,
    /// The other sections in file order.
    pub sections: Vec<Section>,
}

impl IniFile {
    /// The entries of section `name` (`DEFAULT` gives the defaults).
    pub fn section(&self, name: &str) -> Option<&[Entry]> {
        if name == "DEFAULT" {
            return Some(&self.defaults);
        }
        self.sections
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.entries.as_slice())
    }
}

/// Where the entries of the current section go.
#[derive(Clone, Copy)]
enum Target {
    Defaults,
    Section(usize),
}

/// Splits text into lines like Python's universal newlines (`\n`, `\r\n`, `\r`).
fn lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                out.push(&text[start..i]);
                if b.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < b.len() {
        out.push(&text[start..]);
    }
    out
}

/// The line without its comment: `;` at the start or after whitespace starts an inline
/// comment; a line whose first non-blank character is `#` or `;` is all comment.
fn strip_comment(line: &str) -> (&str, bool) {
    let t = line.trim();
    if t.starts_with('#') || t.starts_with(';') {
        return ("", true);
    }
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == ';' && prev_space {
            return (line[..i].trim(), true);
        }
        prev_space = c.is_whitespace();
    }
    (t, false)
}

/// Parses `text` (the content of `file`) into sections, with warnings for lines fail2ban
/// reads in a way their author most likely did not mean.
pub(crate) fn parse(text: &str, file: &Path) -> Result<(IniFile, Vec<Warning>), ConfError> {
    let at = |line: usize| Location::new(file, line);
    let mut ini = IniFile::default();
    let mut warnings = Vec::new();
    let mut target: Option<Target> = None;
    // The option being read: (target, index of the entry, its value lines).
    let mut current: Option<(Target, usize)> = None;
    let mut value_lines: Vec<Vec<String>> = Vec::new();
    let mut values_of: Vec<(Target, usize)> = Vec::new();
    let mut indent_level = 0usize;
    let mut last_key: Option<String> = None;

    for (n, raw) in lines(text).into_iter().enumerate() {
        let lineno = n + 1;
        let (value, had_comment) = strip_comment(raw);
        if value.is_empty() {
            // Blank lines belong to the value being read (configparser's
            // empty_lines_in_values); comment lines are skipped without ending it.
            if !had_comment {
                if let Some(slot) = current_slot(&current, &values_of) {
                    value_lines[slot].push(String::new());
                }
            }
            continue;
        }
        let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
        if current.is_some() && indent > indent_level {
            let slot = current_slot(&current, &values_of).expect("current option has a slot");
            value_lines[slot].push(value.to_string());
            continue;
        }
        indent_level = indent;
        if let Some(name) = section_header(value) {
            if name == "DEFAULT" {
                target = Some(Target::Defaults);
            } else if ini.sections.iter().any(|s| s.name == name) {
                return Err(at(lineno).error(format!(
                    "section [{name}] appears twice in this file; merge the two into one"
                )));
            } else {
                ini.sections.push(Section {
                    name: name.to_string(),
                    line: lineno,
                    entries: Vec::new(),
                });
                target = Some(Target::Section(ini.sections.len() - 1));
            }
            current = None;
            last_key = None;
            continue;
        }
        let Some(t) = target else {
            return Err(at(lineno).error(format!(
                "`{}` comes before any [section]; expected a section header such as [Definition] or [DEFAULT]",
                raw.trim()
            )));
        };
        let Some((key, val)) = option_line(value) else {
            return Err(at(lineno).error(format!(
                "`{}` is neither `key = value` nor a [section] header (a continuation line must be indented)",
                raw.trim()
            )));
        };
        if key.is_empty() {
            return Err(at(lineno).error(format!("`{}` has no key before `=`", raw.trim())));
        }
        let key = key.to_lowercase();
        let entries = match t {
            Target::Defaults => &mut ini.defaults,
            Target::Section(i) => &mut ini.sections[i].entries,
        };
        if entries.iter().any(|e| e.key == key) {
            return Err(at(lineno).error(format!(
                "`{key}` is set twice in this section; fail2ban refuses the file (remove one)"
            )));
        }
        if key.contains('[') || key.contains(']') || key.contains('"') {
            let cont = match &last_key {
                Some(k) => format!(" as a continuation of `{k}`"),
                None => String::new(),
            };
            warnings.push(at(lineno).warning(format!(
                "`{}` is not indented, so fail2ban reads it as an option named `{key}` and ignores it; \
                 indent it to make it count{cont}",
                raw.trim()
            )));
        }
        entries.push(Entry {
            key: key.clone(),
            value: String::new(),
            line: lineno,
        });
        let idx = entries.len() - 1;
        current = Some((t, idx));
        values_of.push((t, idx));
        value_lines.push(vec![val.to_string()]);
        last_key = Some(key);
    }
    for ((t, idx), vl) in values_of.into_iter().zip(value_lines) {
        let joined = vl.join("\n");
        let entries = match t {
            Target::Defaults => &mut ini.defaults,
            Target::Section(i) => &mut ini.sections[i].entries,
        };
        entries[idx].value = joined.trim_end().to_string();
    }
    Ok((ini, warnings))
}

/// The slot in `value_lines` of the option being read.
fn current_slot(current: &Option<(Target, usize)>, values_of: &[(Target, usize)]) -> Option<usize> {
    current.map(|_| values_of.len() - 1)
}

/// `[name]` at the start of a line: the name runs to the last `]` (configparser's `\[(.+)\]`).
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// `key = value` or `key : value`, split at the first `=` or `:`.
fn option_line(value: &str) -> Option<(&str, &str)> {
    let i = value.find(['=', ':'])?;
    Some((value[..i].trim_end(), value[i + 1..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> IniFile {
        parse(text, Path::new("t.conf")).unwrap().0
    }

    #[test]
    fn values_comments_and_continuations() {
        let ini = p(
            "# c\n[DEFAULT]\na = 1 ; note\nB: x;y\n[S]\nm = one\n  two\n\n  # c\n  three\n\nn =\n",
        );
        assert_eq!(ini.defaults[0].value, "1");
        assert_eq!(ini.defaults[1].key, "b");
        assert_eq!(ini.defaults[1].value, "x;y");
        let s = ini.section("S").unwrap();
        assert_eq!(s[0].value, "one\ntwo\n\nthree");
        assert_eq!(s[1].value, "");
        assert_eq!(s[1].line, 12);
    }

    #[test]
    fn unindented_action_line_is_a_key_with_a_warning() {
        let (ini, w) = parse(
            "[j]\naction = iptables[name=SSH, port=ssh]\nsendmail-whois[name=SSH, dest=root]\nlogpath = /x\n",
            Path::new("jail.conf"),
        )
        .unwrap();
        let s = ini.section("j").unwrap();
        assert_eq!(s[0].value, "iptables[name=SSH, port=ssh]");
        assert_eq!(s[1].key, "sendmail-whois[name");
        assert_eq!(w.len(), 1);
        assert!(w[0].to_string().starts_with("jail.conf:3: "), "{}", w[0]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("[a]\nx = 1\nx = 2\n", Path::new("f")).unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("x = 1\n", Path::new("f")).unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("[a]\njunk\n", Path::new("f")).unwrap_err();
        assert_eq!(e.to_string().split(": ").next(), Some("f:2"));
    }
}
