//! The DSCP target: sets the Differentiated Services code point, keeping
//! the ECN bits.

use moat_model::Action;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// `-j DSCP --set-dscp N` or `-j DSCP --set-dscp-class CLASS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Dscp {
    value: Option<u8>,
}

const OPTIONS: &[OptDef] = &[
    opt("--set-dscp", 1, false),
    opt("--set-dscp-class", 1, false),
];

/// The code point of a class name (`EF`, `AF11`, `CS3`, `BE`), as iptables
/// knows them, in any case.
fn class_value(name: &str) -> Option<u8> {
    let upper = name.to_ascii_uppercase();
    let digit = |c: u8| c.is_ascii_digit().then(|| c - b'0');
    match upper.as_bytes() {
        b"EF" => Some(46),
        b"BE" => Some(0),
        [b'C', b'S', n] => digit(*n).filter(|n| *n <= 7).map(|n| n << 3),
        [b'A', b'F', x, y] => {
            let (x, y) = (digit(*x)?, digit(*y)?);
            ((1..=4).contains(&x) && (1..=3).contains(&y)).then_some(x << 3 | y << 1)
        }
        _ => None,
    }
}

impl Dscp {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        Action::Dscp(self.value.unwrap_or(0))
    }
}

impl Extension for Dscp {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if self.value.is_some() {
            return fail("DSCP takes one of --set-dscp and --set-dscp-class, once");
        }
        let v = o.value();
        self.value = Some(if o.name == "--set-dscp" {
            number_in(v, "DSCP --set-dscp", 0, 63)? as u8
        } else {
            match class_value(v) {
                Some(n) => n,
                None => {
                    return fail(format!(
                        "DSCP --set-dscp-class: unknown class \"{v}\" (use CS0-CS7, AF11-AF43, EF or BE)"
                    ))
                }
            }
        });
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.value.is_none() {
            return fail("DSCP needs --set-dscp N or --set-dscp-class CLASS");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        out.push_str(&format!(" --set-dscp {:#04x}", self.value.unwrap_or(0)));
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(&format!(" DSCP set {:#04x}", self.value.unwrap_or(0)));
    }
}

#[cfg(test)]
mod tests {
    use super::class_value;

    #[test]
    fn class_names_are_code_points() {
        assert_eq!(class_value("ef"), Some(46));
        assert_eq!(class_value("AF11"), Some(10));
        assert_eq!(class_value("af43"), Some(38));
        assert_eq!(class_value("CS7"), Some(56));
        assert_eq!(class_value("BE"), Some(0));
        assert_eq!(class_value("AF44"), None);
        assert_eq!(class_value("CS8"), None);
    }
}
