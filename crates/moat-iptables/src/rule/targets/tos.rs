//! The TOS target: changes the IPv4 TOS byte (IPv6 traffic class):
//! `new = (old & !mask) ^ value`.

use moat_model::Action;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{number_in, strtoul_start};

/// `-j TOS --set-tos V[/M] | --and-tos N | --or-tos N | --xor-tos N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Tos {
    /// (value, mask).
    change: Option<(u8, u8)>,
}

const OPTIONS: &[OptDef] = &[
    opt("--set-tos", 1, false),
    opt("--and-tos", 1, false),
    opt("--or-tos", 1, false),
    opt("--xor-tos", 1, false),
];

/// The symbolic TOS values iptables knows; they set the low six bits
/// (mask 0x3f).
const SYMBOLS: &[(&str, u8)] = &[
    ("Minimize-Delay", 0x10),
    ("Maximize-Throughput", 0x08),
    ("Maximize-Reliability", 0x04),
    ("Minimize-Cost", 0x02),
    ("Normal-Service", 0x00),
];

/// The mask of a symbolic value.
const SYMBOL_MASK: u8 = 0x3f;

fn byte(s: &str, what: &str) -> Res<u8> {
    number_in(s, what, 0, 255).map(|n| n as u8)
}

/// `VALUE[/MASK]` or a symbolic name.
fn parse_set(s: &str) -> Res<(u8, u8)> {
    if let Some((_, v)) = SYMBOLS.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Ok((*v, SYMBOL_MASK));
    }
    let what = "TOS --set-tos";
    match s.split_once('/') {
        Some((v, m)) => Ok((byte(v, what)?, byte(m, what)?)),
        None if strtoul_start(s).starts_with(|c: char| c.is_ascii_digit()) => Ok((byte(s, what)?, 0xff)),
        None => fail(format!(
            "TOS --set-tos: \"{s}\" is neither VALUE[/MASK] nor a name (Minimize-Delay, Maximize-Throughput, Maximize-Reliability, Minimize-Cost, Normal-Service)"
        )),
    }
}

impl Tos {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        let (value, mask) = self.change.unwrap_or((0, 0));
        Action::Tos { value, mask }
    }
}

impl Extension for Tos {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if self.change.is_some() {
            return fail("TOS takes one of --set-tos, --and-tos, --or-tos and --xor-tos, once");
        }
        let what = format!("TOS {}", o.name);
        let v = o.value();
        self.change = Some(match o.name {
            "--set-tos" => parse_set(v)?,
            "--and-tos" => (0, !byte(v, &what)?),
            "--or-tos" => {
                let n = byte(v, &what)?;
                (n, n)
            }
            _ => (byte(v, &what)?, 0),
        });
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.change.is_none() {
            return fail("TOS needs --set-tos, --and-tos, --or-tos or --xor-tos");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let (value, mask) = self.change.unwrap_or((0, 0));
        out.push_str(&format!(" --set-tos {value:#04x}/{mask:#04x}"));
    }

    fn print(&self, out: &mut String, numeric: bool) {
        let (value, mask) = self.change.unwrap_or((0, 0));
        let symbol = SYMBOLS
            .iter()
            .find(|(_, v)| mask == SYMBOL_MASK && *v == value);
        out.push_str(&match symbol {
            _ if numeric => format!(" TOS set {value:#04x}/{mask:#04x}"),
            // iptables prints the name right after "set", with a space before.
            Some((name, _)) => format!("  TOS set{name}"),
            // In iptables' order: `--set-tos 0/0` is an and.
            None if value == 0 => format!(" TOS and {:#04x}", !mask),
            None if value == mask => format!(" TOS or {value:#04x}"),
            None if mask == 0 => format!(" TOS xor {value:#04x}"),
            None => format!(" TOS set {value:#04x}/{mask:#04x}"),
        });
    }
}
