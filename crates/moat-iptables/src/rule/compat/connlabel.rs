//! `-m connlabel`: a label bit of the packet's connection, tested or set
//! (xt_connlabel, revision 0). Names come from iptables' connlabel.conf.

use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::parse_number;

/// Where iptables names label bits (`0 eth0-in`).
const LABEL_FILE: &str = "/etc/xtables/connlabel.conf";
/// Label bits the kernel has.
const MAX_BIT: u64 = 127;

/// `-m connlabel [!] --label NAME|BIT [--set]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ConnLabel {
    label: Option<(u16, bool)>,
    set: bool,
}

/// The `(bit, name)` lines of the label file (none when it is missing).
fn named_bits() -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(LABEL_FILE).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let bit = parse_number(words.next()?)?;
            Some((bit, words.next()?.to_string()))
        })
        .collect()
}

/// The name of `bit`, or its number.
fn label_text(bit: u16) -> String {
    named_bits()
        .into_iter()
        .find(|(b, _)| *b == u64::from(bit))
        .map_or_else(|| bit.to_string(), |(_, name)| name)
}

impl ConnLabel {
    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let (bit, invert) = self.label.unwrap_or_default();
        let options = u16::from(invert) | if self.set { 2 } else { 0 };
        kernel_ext(
            "-m",
            "connlabel",
            0,
            XtLayout::new().u16(bit).u16(options).finish(),
            self,
        )
    }
}

impl Extension for ConnLabel {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--label", 1, true), opt("--set", 0, false)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if o.name == "--set" {
            self.set = true;
            return Ok(());
        }
        once(&self.label, "--label")?;
        let v = o.value();
        let bit = parse_number(v).or_else(|| {
            named_bits()
                .into_iter()
                .find(|(_, name)| name == v)
                .map(|(bit, _)| bit)
        });
        match bit {
            Some(bit) if bit <= MAX_BIT => self.label = Some((bit as u16, o.invert)),
            Some(bit) => {
                return fail(format!(
                    "connlabel: label {bit} is out of range 0-{MAX_BIT}"
                ))
            }
            None => {
                return fail(format!(
                    "connlabel: label \"{v}\" is neither a number nor a name in {LABEL_FILE}"
                ))
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.label.is_none() {
            return fail("connlabel: option \"--label\" must be specified");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((bit, invert)) = self.label {
            let bang = if invert { " !" } else { "" };
            out.push_str(&format!("{bang} --label \"{}\"", label_text(bit)));
        }
        if self.set {
            out.push_str(" --set");
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" connlabel");
        if let Some((bit, invert)) = self.label {
            if invert {
                out.push_str(" !");
            }
            out.push_str(&format!(" {}", label_text(bit)));
        }
        if self.set {
            out.push_str(" set");
        }
    }
}
