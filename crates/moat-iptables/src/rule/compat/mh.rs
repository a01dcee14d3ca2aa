//! `-m mh` (ip6tables): the type of a Mobile IPv6 mobility header (ip6t_mh,
//! revision 0).

use moat_model::{XtExtension, XtLayout};

use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{begins_ignoring_case, number_in, strtoul_start};

/// The mobility header protocol number.
const IPPROTO_MH: u8 = 135;
/// The type names iptables takes and prints, with their short forms.
const TYPES: &[(&str, &str, u8)] = &[
    ("binding-refresh-request", "brr", 0),
    ("home-test-init", "hoti", 1),
    ("careof-test-init", "coti", 2),
    ("home-test", "hot", 3),
    ("careof-test", "cot", 4),
    ("binding-update", "bu", 5),
    ("binding-acknowledgement", "ba", 6),
    ("binding-error", "be", 7),
];

/// `-m mh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mh {
    types: (u8, u8),
    invert: bool,
}

impl Default for Mh {
    fn default() -> Self {
        Mh {
            types: (0, u8::MAX),
            invert: false,
        }
    }
}

/// A type's name as iptables reads it: any leading part of a name or
/// short form, in any case; the first such name in the table's order,
/// unless a later one is the whole word (`b` is binding-refresh-request,
/// `hot` home-test, `HOTI` home-test-init).
fn type_by_name(s: &str) -> Option<u8> {
    let names = TYPES
        .iter()
        .flat_map(|&(name, short, n)| [(name, n), (short, n)]);
    let mut found = None;
    for (name, n) in names {
        if begins_ignoring_case(name, s) && (found.is_none() || name.len() == s.len()) {
            found = Some(n);
        }
    }
    found
}

fn parse_type(s: &str) -> Res<u8> {
    if let Some(n) = type_by_name(s) {
        return Ok(n);
    }
    let digits = strtoul_start(s);
    if digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty() {
        return Ok(number_in(digits, "--mh-type", 0, 255)? as u8);
    }
    fail(format!("Invalid MH type `{s}'"))
}

fn type_text(n: u8, numeric: bool) -> String {
    match TYPES.iter().find(|(_, _, t)| *t == n) {
        Some((name, _, _)) if !numeric => name.to_string(),
        _ => n.to_string(),
    }
}

impl Mh {
    fn is_all(&self) -> bool {
        self.types == (0, u8::MAX) && !self.invert
    }

    fn types_text(&self, numeric: bool) -> String {
        let (a, b) = self.types;
        if a == b {
            type_text(a, numeric)
        } else {
            format!("{}:{}", type_text(a, numeric), type_text(b, numeric))
        }
    }

    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let info = XtLayout::new()
            .u8(self.types.0)
            .u8(self.types.1)
            .u8(u8::from(self.invert))
            .finish();
        super::kernel_ext("-m", "mh", 0, info, self)
    }
}

impl Extension for Mh {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--mh-type", 1, true).once()];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        self.types = match v.split_once(':') {
            Some((a, b)) => (
                if a.is_empty() { 0 } else { parse_type(a)? },
                if b.is_empty() {
                    u8::MAX
                } else {
                    parse_type(b)?
                },
            ),
            None => {
                let t = parse_type(v)?;
                (t, t)
            }
        };
        if self.types.0 > self.types.1 {
            return fail(format!(
                "--mh-type {v}: the type range runs backwards (min > max), which iptables refuses"
            ));
        }
        self.invert = o.invert;
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if cx.plain_proto() != Some(IPPROTO_MH) {
            return refused_by_kernel(
                "the mh match needs -p mh before it (the kernel module tests only those packets)",
            );
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if !self.is_all() {
            let bang = if self.invert { " !" } else { "" };
            out.push_str(&format!("{bang} --mh-type {}", self.types_text(true)));
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        out.push_str(" mh");
        if !self.is_all() {
            let bang = if self.invert { "!" } else { "" };
            out.push_str(&format!(" {bang}{}", self.types_text(numeric)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_as_iptables_reads_them() {
        for (word, n) in [
            ("binding-update", 5),
            ("Binding-Update", 5),
            ("BU", 5),
            ("binding-up", 5),
            ("bindin", 0),
            ("b", 0),
            ("hot", 3),
            ("HOME-TEST-INIT", 1),
            ("ho", 1),
            ("", 0),
        ] {
            assert_eq!(type_by_name(word), Some(n), "{word}");
        }
        assert_eq!(type_by_name("binding-updates"), None);
        assert_eq!(type_by_name("5"), None);
    }
}
