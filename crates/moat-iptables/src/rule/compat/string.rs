//! `-m string`: a byte pattern in the packet, searched by the kernel's
//! textsearch algorithms (xt_string, revision 1).

use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// The longest pattern the kernel takes.
const MAX_PATTERN: usize = 128;
/// The field holding the algorithm's name.
const ALGO_FIELD: usize = 16;
/// The textsearch algorithms the kernel has.
const ALGOS: &[&str] = &["bm", "kmp", "fsm"];
/// `XT_STRING_FLAG_INVERT`.
const FLAG_INVERT: u8 = 0x01;
/// `XT_STRING_FLAG_IGNORECASE`.
const FLAG_IGNORECASE: u8 = 0x02;

/// `-m string`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct StringMatch {
    algo: Option<String>,
    from: Option<u16>,
    to: Option<u16>,
    /// The bytes and whether the match is inverted.
    pattern: Option<(Vec<u8>, bool)>,
    icase: bool,
}

/// The bytes of `--hex-string`: text with `|0d 0a|` hex runs and `\` escapes.
fn parse_hex_string(s: &str) -> Res<Vec<u8>> {
    let mut out = Vec::new();
    let mut hex = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => hex = !hex,
            ' ' if hex => {}
            '\\' if !hex => match chars.next() {
                Some(next) => out.extend(next.to_string().bytes()),
                None => return fail("--hex-string: a \\ at the end escapes nothing"),
            },
            _ if hex => {
                let pair: String = [Some(c), chars.next()].into_iter().flatten().collect();
                match u8::from_str_radix(&pair, 16) {
                    Ok(b) if pair.len() == 2 => out.push(b),
                    _ => {
                        return fail(format!(
                            "--hex-string: \"{pair}\" is not a pair of hex digits"
                        ))
                    }
                }
            }
            _ => out.extend(c.to_string().bytes()),
        }
    }
    if hex {
        return fail("--hex-string: a |hex| run is not closed with |");
    }
    Ok(out)
}

/// `"text"` with `"` and `\` escaped, as iptables prints a pattern.
/// Whether iptables writes a pattern as text: every byte printable and
/// the last not a backslash (which would escape the closing quote).
fn as_text(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| (0x20..0x7f).contains(b)) && bytes.last() != Some(&b'\\')
}

fn quoted(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    if as_text(bytes) {
        for &b in bytes {
            if b == b'"' || b == b'\\' {
                out.push('\\');
            }
            out.push(char::from(b));
        }
    } else {
        out.push('|');
        out.extend(bytes.iter().map(|b| format!("{b:02x}")));
        out.push('|');
    }
    out.push('"');
    out
}

impl StringMatch {
    /// The pattern as `-S` writes it: `--string "..."`, or `--hex-string
    /// "|...|"` when it holds bytes that are not printable or ends in a
    /// backslash.
    fn pattern_opt(bytes: &[u8]) -> &'static str {
        if as_text(bytes) {
            "--string"
        } else {
            "--hex-string"
        }
    }

    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let (pattern, invert) = self.pattern.clone().unwrap_or_default();
        let algo = self.algo.as_deref().unwrap_or_default();
        let mut flags = 0;
        if invert {
            flags |= FLAG_INVERT;
        }
        if self.icase {
            flags |= FLAG_IGNORECASE;
        }
        let info = XtLayout::new()
            .u16(self.from.unwrap_or(0))
            .u16(self.to.unwrap_or(u16::MAX))
            .bytes(algo.as_bytes(), ALGO_FIELD)
            .bytes(&pattern, MAX_PATTERN)
            .u8(u8::try_from(pattern.len()).unwrap_or(u8::MAX))
            .u8(flags)
            // The kernel's own pointer to its search state.
            .align(8)
            .bytes(&[], 8)
            .finish();
        kernel_ext("-m", "string", 1, info, self)
    }
}

impl Extension for StringMatch {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--algo", 1, false),
            opt("--from", 1, false),
            opt("--to", 1, false),
            opt("--string", 1, true),
            opt("--hex-string", 1, true),
            opt("--icase", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let offset = |v: &str, name: &str| -> Res<u16> {
            Ok(number_in(v, name, 0, u64::from(u16::MAX))? as u16)
        };
        match o.name {
            "--algo" => {
                once(&self.algo, "--algo")?;
                let algo = o.value();
                if !ALGOS.contains(&algo) {
                    return refused_by_kernel(format!(
                        "--algo: \"{algo}\" is not a text search algorithm of the kernel (bm, kmp or fsm)"
                    ));
                }
                self.algo = Some(algo.to_string());
            }
            "--from" => {
                once(&self.from, "--from")?;
                self.from = Some(offset(o.value(), "--from")?);
            }
            "--to" => {
                once(&self.to, "--to")?;
                self.to = Some(offset(o.value(), "--to")?);
            }
            "--icase" => self.icase = true,
            name => {
                if self.pattern.is_some() {
                    return fail("give one pattern: --string or --hex-string, once");
                }
                let bytes = if name == "--string" {
                    o.value().as_bytes().to_vec()
                } else {
                    parse_hex_string(o.value())?
                };
                if bytes.is_empty() || bytes.len() > MAX_PATTERN {
                    return fail(format!(
                        "{name}: the pattern must be 1 to {MAX_PATTERN} bytes long, not {}",
                        bytes.len()
                    ));
                }
                self.pattern = Some((bytes, o.invert));
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.algo.is_none() {
            return fail("string: option \"--algo\" must be specified");
        }
        if self.pattern.is_none() {
            return fail("the string match needs --string or --hex-string");
        }
        // The defaults, given or not, are the same rule.
        self.from = self.from.filter(|&f| f != 0);
        self.to = self.to.filter(|&t| t != u16::MAX);
        let (from, to) = (self.from.unwrap_or(0), self.to.unwrap_or(u16::MAX));
        if from > to {
            return refused_by_kernel(format!("string: --from {from} lies after --to {to}"));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((bytes, invert)) = &self.pattern {
            if *invert {
                out.push_str(" !");
            }
            out.push_str(&format!(" {} {}", Self::pattern_opt(bytes), quoted(bytes)));
        }
        if let Some(algo) = &self.algo {
            out.push_str(&format!(" --algo {algo}"));
        }
        if let Some(from) = self.from.filter(|&f| f != 0) {
            out.push_str(&format!(" --from {from}"));
        }
        if let Some(to) = self.to.filter(|&t| t != u16::MAX) {
            out.push_str(&format!(" --to {to}"));
        }
        if self.icase {
            out.push_str(" --icase");
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((bytes, invert)) = &self.pattern {
            let bang = if *invert { "!" } else { "" };
            out.push_str(&format!(" STRING match {bang} {}", quoted(bytes)));
        }
        if let Some(algo) = &self.algo {
            out.push_str(&format!(" ALGO name {algo}"));
        }
        if let Some(from) = self.from.filter(|&f| f != 0) {
            out.push_str(&format!(" FROM {from}"));
        }
        if let Some(to) = self.to.filter(|&t| t != u16::MAX) {
            out.push_str(&format!(" TO {to}"));
        }
        if self.icase {
            out.push_str(" ICASE");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_strings_mix_text_and_bytes() {
        assert_eq!(parse_hex_string("|0d 0a|Host|00|").unwrap(), b"\r\nHost\0");
        assert_eq!(parse_hex_string("a\\|b").unwrap(), b"a|b");
        assert!(parse_hex_string("|0d").is_err());
        assert!(parse_hex_string("|0g|").is_err());
        assert_eq!(quoted(b"a\"b"), "\"a\\\"b\"");
        assert_eq!(quoted(b"\r\n"), "\"|0d0a|\"");
    }

    #[test]
    fn the_structure_is_the_kernels_size() {
        let m = StringMatch {
            algo: Some("bm".into()),
            pattern: Some((b"GET".to_vec(), false)),
            ..Default::default()
        };
        let ext = m.ext();
        assert_eq!(ext.info.len(), 160);
        assert_eq!(&ext.info[4..6], b"bm");
        assert_eq!(&ext.info[20..23], b"GET");
        assert_eq!(ext.info[148], 3);
        assert_eq!(u16::from_ne_bytes([ext.info[2], ext.info[3]]), u16::MAX);
    }
}
