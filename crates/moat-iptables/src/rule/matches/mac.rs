//! The mac match: the source MAC address.

use moat_model::addr_text::mac_text;
use moat_model::Match;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::push_opt;

/// `-m mac --mac-source`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Mac {
    source: Option<([u8; 6], bool)>,
}

fn parse_mac(s: &str) -> Res<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return fail(format!("--mac-source: \"{s}\" is not a MAC address (write six hex bytes like 00:11:22:33:44:55)"));
    }
    for (byte, part) in mac.iter_mut().zip(&parts) {
        *byte = match u8::from_str_radix(part, 16) {
            Ok(b)
                if !part.is_empty()
                    && part.len() <= 2
                    && part.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                b
            }
            _ => {
                return fail(format!(
                    "--mac-source: \"{s}\" is not a MAC address (\"{part}\" is not a hex byte)"
                ))
            }
        };
    }
    Ok(mac)
}

impl Mac {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((mac, negate)) = self.source {
            out.push(Match::SourceMac { mac, negate });
        }
    }
}

impl Extension for Mac {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--mac-source", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.source, o.name)?;
        self.source = Some((parse_mac(o.value())?, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.source.is_none() {
            return fail("the mac match needs --mac-source");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((mac, inv)) = &self.source {
            push_opt(out, *inv, "--mac-source", Some(&mac_text(mac)));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((mac, inv)) = &self.source {
            out.push_str(&format!(
                " MAC {}{}",
                if *inv { "! " } else { "" },
                mac_text(mac)
            ));
        }
    }
}
