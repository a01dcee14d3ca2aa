//! The TCPOPTSTRIP target: overwrites TCP options of the given kinds with
//! no-op options.

use moat_model::Action;

use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::parse_number;

/// `-j TCPOPTSTRIP [--strip-options KIND[,KIND...]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TcpOptStrip {
    /// The option kinds, ascending (none: the target strips nothing).
    kinds: Option<Vec<u8>>,
}

const OPTIONS: &[OptDef] = &[opt("--strip-options", 1, false)];

/// The option names iptables knows, with their kinds.
const NAMES: &[(&str, u8)] = &[
    ("mss", 2),
    ("wscale", 3),
    ("sack-permitted", 4),
    ("sack", 5),
    ("timestamp", 8),
    ("md5", 19),
];

/// The kind `word` names: a name above, or a number 2-255 as strtoul reads it.
fn kind(word: &str) -> Res<u8> {
    if let Some((_, kind)) = NAMES.iter().find(|(name, _)| *name == word) {
        return Ok(*kind);
    }
    match parse_number(word) {
        Some(0 | 1) => {
            fail("TCPOPTSTRIP: option kinds 0 (end of options) and 1 (no-op) cannot be stripped")
        }
        Some(n) if n <= 255 => Ok(n as u8),
        _ => {
            let names: Vec<&str> = NAMES.iter().map(|(name, _)| *name).collect();
            fail(format!(
                "TCPOPTSTRIP --strip-options: \"{word}\" is not a TCP option: give {} or a kind 2-255",
                names.join(", ")
            ))
        }
    }
}

impl TcpOptStrip {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        Action::TcpOptStrip(self.kinds.clone().unwrap_or_default())
    }
}

impl Extension for TcpOptStrip {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.kinds, "TCPOPTSTRIP --strip-options")?;
        let mut kinds = Vec::new();
        for word in o.value().split(',') {
            let k = kind(word)?;
            if kinds.contains(&k) {
                return fail(format!(
                    "TCPOPTSTRIP --strip-options: option \"{word}\" given twice"
                ));
            }
            kinds.push(k);
        }
        kinds.sort_unstable();
        self.kinds = Some(kinds);
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if cx.plain_proto() != Some(6) {
            return refused_by_kernel("TCPOPTSTRIP works on TCP packets only: add -p tcp");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(kinds) = self.kinds.as_deref().filter(|k| !k.is_empty()) {
            let words: Vec<String> = kinds.iter().map(u8::to_string).collect();
            out.push_str(&format!(" --strip-options {}", words.join(",")));
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        let Some(kinds) = self.kinds.as_deref().filter(|k| !k.is_empty()) else {
            return;
        };
        let words: Vec<String> = kinds
            .iter()
            .map(|k| match NAMES.iter().find(|(_, kind)| kind == k) {
                Some((name, _)) if !numeric => (*name).to_string(),
                _ => k.to_string(),
            })
            .collect();
        out.push_str(&format!(" TCPOPTSTRIP options {}", words.join(",")));
    }
}
