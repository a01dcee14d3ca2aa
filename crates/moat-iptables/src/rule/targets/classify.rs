//! The CLASSIFY target: sets the packet's traffic-control class.

use moat_model::Action;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::c_blanks_trimmed;

/// `-j CLASSIFY --set-class MAJOR:MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Classify {
    /// The class: major in the high 16 bits, minor in the low.
    class: Option<u32>,
}

const OPTIONS: &[OptDef] = &[opt("--set-class", 1, false)];

/// One `%x` of C's sscanf: blanks, a sign, an optional `0x`, then
/// hexadecimal digits (at least one, the `0` of a bare `0x` counting), read as glibc reads them (saturating
/// on overflow, a `-` negating) into 32 bits; the value and what follows.
fn scan_hex(s: &str) -> Option<(u32, &str)> {
    let s = c_blanks_trimmed(s);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let s = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_hexdigit()) => rest,
        // glibc takes a `0x` with no digit after it as 0.
        Some(rest) => return Some((0, rest)),
        None => s,
    };
    let len = s.bytes().take_while(u8::is_ascii_hexdigit).count();
    if len == 0 {
        return None;
    }
    let value = s[..len].bytes().fold(0u64, |n, b| {
        let digit = u64::from(char::from(b).to_digit(16).unwrap_or(0));
        n.checked_mul(16)
            .and_then(|n| n.checked_add(digit))
            .unwrap_or(u64::MAX)
    });
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    Some((value as u32, &s[len..]))
}

/// The class of `MAJOR:MINOR` as iptables reads it, `sscanf("%x:%x")`:
/// each half is cut to 16 bits and what follows the minor is ignored.
fn parse_class(v: &str) -> Option<u32> {
    let (major, rest) = scan_hex(v)?;
    let (minor, _) = scan_hex(rest.strip_prefix(':')?)?;
    Some((major << 16) | (minor & 0xffff))
}

impl Classify {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        Action::Classify(self.class.unwrap_or(0))
    }

    fn parts(&self) -> (u32, u32) {
        let class = self.class.unwrap_or(0);
        (class >> 16, class & 0xffff)
    }
}

impl Extension for Classify {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.class, "CLASSIFY --set-class")?;
        let v = o.value();
        let Some(class) = parse_class(v) else {
            return fail(format!(
                "CLASSIFY --set-class needs MAJOR:MINOR in hexadecimal, e.g. 1:10, not \"{v}\""
            ));
        };
        self.class = Some(class);
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.class.is_none() {
            return fail("CLASSIFY needs --set-class MAJOR:MINOR");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let (major, minor) = self.parts();
        out.push_str(&format!(" --set-class {major:04x}:{minor:04x}"));
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        let (major, minor) = self.parts();
        out.push_str(&format!(" CLASSIFY set {major:x}:{minor:x}"));
    }
}

#[cfg(test)]
mod tests {
    use super::parse_class;

    #[test]
    fn classes_read_as_sscanf_reads_them() {
        assert_eq!(parse_class("1:10"), Some(0x0001_0010));
        assert_eq!(parse_class("0x1:0X2"), Some(0x0001_0002));
        assert_eq!(parse_class(" +1: 1x"), Some(0x0001_0001));
        assert_eq!(parse_class("10000:1"), Some(0x0000_0001));
        assert_eq!(parse_class("fffff:10000"), Some(0xffff_0000));
        assert_eq!(parse_class("1:-1"), Some(0x0001_ffff));
        assert_eq!(parse_class("0x:1"), Some(0x0000_0001));
        for bad in ["1", "1:", ":2", "x:1", "1 :1"] {
            assert_eq!(parse_class(bad), None, "{bad}");
        }
    }
}
