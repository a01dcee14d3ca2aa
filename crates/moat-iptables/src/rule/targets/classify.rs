//! The CLASSIFY target: sets the packet's traffic-control class.

use moat_model::Action;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};

/// `-j CLASSIFY --set-class MAJOR:MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Classify {
    /// The class: major in the high 16 bits, minor in the low.
    class: Option<u32>,
}

const OPTIONS: &[OptDef] = &[opt("--set-class", 1, false)];

/// A hexadecimal half of a class (`1`, `ffff`, `0x10`).
fn half(s: &str, whole: &str) -> Res<u32> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    match u32::from_str_radix(digits, 16) {
        Ok(n) if n <= 0xffff && !digits.starts_with('+') => Ok(n),
        Ok(_) => fail(format!(
            "CLASSIFY --set-class {whole}: {s} is above ffff (major and minor are 16-bit hexadecimal)"
        )),
        Err(_) => fail(format!(
            "CLASSIFY --set-class needs MAJOR:MINOR in hexadecimal, e.g. 1:10, not \"{whole}\""
        )),
    }
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
        let Some((major, minor)) = v.split_once(':') else {
            return fail(format!(
                "CLASSIFY --set-class needs MAJOR:MINOR in hexadecimal, e.g. 1:10, not \"{v}\""
            ));
        };
        self.class = Some(half(major, v)? << 16 | half(minor, v)?);
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
