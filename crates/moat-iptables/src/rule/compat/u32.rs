//! `-m u32`: tests on 32-bit words anywhere in the packet, reached by
//! masks, shifts and header-length jumps (xt_u32, revision 0).

use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};

/// The most tests, location steps and value ranges of each kind.
const MAX: usize = 10;

/// How a location step combines with the word so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `&`: mask it.
    And,
    /// `<<`: shift it left.
    Shl,
    /// `>>`: shift it right.
    Shr,
    /// `@`: move the read position forward by it.
    At,
}

impl Op {
    fn code(self) -> u8 {
        match self {
            Op::And => 0,
            Op::Shl => 1,
            Op::Shr => 2,
            Op::At => 3,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::And => "&",
            Op::Shl => "<<",
            Op::Shr => ">>",
            Op::At => "@",
        }
    }
}

/// One test: a location (a start offset, then steps) and the value ranges
/// the word found there must fall in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Test {
    start: u32,
    steps: Vec<(Op, u32)>,
    values: Vec<(u32, u32)>,
}

/// Reads `--u32`'s little language.
struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn skip_spaces(&mut self) {
        while self.text.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn error<T>(&self, what: &str) -> Res<T> {
        fail(format!("u32: at char {}: {what}", self.pos))
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_spaces();
        self.text.get(self.pos).copied()
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.text[self.pos..].starts_with(s.as_bytes()) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// A number as C's strtoul with base 0 reads it: hex, octal or decimal.
    fn number(&mut self) -> Res<u32> {
        self.skip_spaces();
        let rest = &self.text[self.pos..];
        let hex_digit = rest.get(2).is_some_and(u8::is_ascii_hexdigit);
        let (radix, skip) = if (rest.starts_with(b"0x") || rest.starts_with(b"0X")) && hex_digit {
            (16, 2)
        } else if rest.first() == Some(&b'0') {
            (8, 0)
        } else {
            (10, 0)
        };
        let digits = rest[skip..]
            .iter()
            .take_while(|b| char::from(**b).is_digit(radix))
            .count();
        let word = std::str::from_utf8(&rest[skip..skip + digits]).unwrap_or_default();
        match u32::from_str_radix(word, radix) {
            Ok(n) if digits > 0 => {
                self.pos += skip + digits;
                Ok(n)
            }
            _ => self.error("not a number or out of range"),
        }
    }

    fn test(&mut self) -> Res<Test> {
        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return self.error("location spec missing");
        }
        let start = self.number()?;
        let mut steps = Vec::new();
        loop {
            let op = match self.peek() {
                Some(b'=') => {
                    self.pos += 1;
                    break;
                }
                None => return self.error("abrupt end of input after location specifier"),
                Some(_) if self.eat("&") => Op::And,
                Some(_) if self.eat("<<") => Op::Shl,
                Some(_) if self.eat(">>") => Op::Shr,
                Some(_) if self.eat("@") => Op::At,
                Some(_) => return self.error("operator expected"),
            };
            steps.push((op, self.number()?));
            if steps.len() >= MAX {
                return self.error("too many operators");
            }
        }
        let mut values = Vec::new();
        loop {
            let min = self.number()?;
            let max = if self.peek() == Some(b':') {
                self.pos += 1;
                self.number()?
            } else {
                min
            };
            values.push((min, max));
            if self.peek() != Some(b',') {
                break;
            }
            if values.len() >= MAX {
                return self.error("too many \",\"s");
            }
            self.pos += 1;
        }
        Ok(Test {
            start,
            steps,
            values,
        })
    }

    fn tests(&mut self) -> Res<Vec<Test>> {
        let mut tests = vec![self.test()?];
        while self.peek().is_some() {
            if !self.eat("&&") {
                return self.error("\"&&\" expected");
            }
            if tests.len() >= MAX {
                return self.error("too many \"&&\"s");
            }
            tests.push(self.test()?);
        }
        Ok(tests)
    }
}

/// `-m u32`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct U32 {
    tests: Option<(Vec<Test>, bool)>,
}

impl U32 {
    /// The tests as iptables writes them back: every number in hex.
    fn text(tests: &[Test]) -> String {
        let test_text = |t: &Test| {
            let mut s = format!("{:#x}", t.start);
            for (op, n) in &t.steps {
                s.push_str(&format!("{}{n:#x}", op.symbol()));
            }
            let values: Vec<String> = t
                .values
                .iter()
                .map(|&(a, b)| {
                    if a == b {
                        format!("{a:#x}")
                    } else {
                        format!("{a:#x}:{b:#x}")
                    }
                })
                .collect();
            format!("{s}={}", values.join(","))
        };
        tests.iter().map(test_text).collect::<Vec<_>>().join("&&")
    }

    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let (tests, invert) = self.tests.clone().unwrap_or_default();
        let mut layout = XtLayout::new();
        for i in 0..=MAX {
            let test = tests.get(i);
            let locations: Vec<(u8, u32)> = test
                .map(|t| {
                    std::iter::once((0, t.start))
                        .chain(t.steps.iter().map(|(op, n)| (op.code(), *n)))
                        .collect()
                })
                .unwrap_or_default();
            for j in 0..=MAX {
                let (op, n) = locations.get(j).copied().unwrap_or_default();
                layout.u32(n).u8(op).align(4);
            }
            let values = test.map(|t| t.values.clone()).unwrap_or_default();
            for j in 0..=MAX {
                let (min, max) = values.get(j).copied().unwrap_or_default();
                layout.u32(min).u32(max);
            }
            layout
                .u8(u8::try_from(locations.len()).unwrap_or(0))
                .u8(u8::try_from(values.len()).unwrap_or(0))
                .align(4);
        }
        let info = layout
            .u8(u8::try_from(tests.len()).unwrap_or(0))
            .u8(u8::from(invert))
            .finish();
        kernel_ext("-m", "u32", 0, info, self)
    }
}

impl Extension for U32 {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--u32", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.tests, "--u32")?;
        let mut reader = Reader {
            text: o.value().as_bytes(),
            pos: 0,
        };
        self.tests = Some((reader.tests()?, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.tests.is_none() {
            return fail("u32: option \"--u32\" must be specified");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((tests, invert)) = &self.tests {
            let bang = if *invert { " !" } else { "" };
            out.push_str(&format!("{bang} --u32 \"{}\"", Self::text(tests)));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((tests, invert)) = &self.tests {
            let bang = if *invert { "! " } else { "" };
            out.push_str(&format!(" u32 {bang}\"{}\"", Self::text(tests)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Res<Vec<Test>> {
        Reader {
            text: s.as_bytes(),
            pos: 0,
        }
        .tests()
    }

    #[test]
    fn the_language_reads_and_prints_as_iptables() {
        let t = parse("0>>22&0x3C@12>>26&0x3F=0x10").unwrap();
        assert_eq!(U32::text(&t), "0x0>>0x16&0x3c@0xc>>0x1a&0x3f=0x10");
        let t = parse("6 & 0xFF = 1 && 4 & 0x3FFF = 0").unwrap();
        assert_eq!(U32::text(&t), "0x6&0xff=0x1&&0x4&0x3fff=0x0");
        assert_eq!(U32::text(&parse("010=1:2,5").unwrap()), "0x8=0x1:0x2,0x5");
        for (bad, why) in [
            ("=5", "location spec missing"),
            ("0", "abrupt end"),
            ("0x=1", "operator expected"),
            ("4294967296=1", "out of range"),
            ("0@4@8@12@16@20@24@28@32@36@40=1", "too many operators"),
            ("0=1,2,3,4,5,6,7,8,9,10,11", "too many"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.message.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_structure_is_the_kernels_size() {
        let m = U32 {
            tests: Some((parse("6&0xff=1").unwrap(), false)),
        };
        let info = m.ext().info;
        assert_eq!(info.len(), 1984);
        assert_eq!(u32::from_ne_bytes(info[0..4].try_into().unwrap()), 6);
        assert_eq!(u32::from_ne_bytes(info[8..12].try_into().unwrap()), 0xff);
        assert_eq!(info[176], 2);
        assert_eq!(info[177], 1);
        assert_eq!(info[1980], 1);
    }
}
