//! `-m physdev`: the bridge ports a bridged packet came in on or goes out
//! of (xt_physdev, revision 0).

use moat_model::{Hook, XtExtension, XtLayout};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::parse_iface;

/// Bits of the match's `bitmask` and `invert` fields.
const OP_IN: u8 = 0x01;
const OP_OUT: u8 = 0x02;
const OP_BRIDGED: u8 = 0x04;
const OP_ISIN: u8 = 0x08;
const OP_ISOUT: u8 = 0x10;
/// The size of an interface name field.
const IFNAMSIZ: usize = 16;

/// `-m physdev`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Physdev {
    port_in: Option<String>,
    port_out: Option<String>,
    /// The OP_* tests given.
    bitmask: u8,
    /// The OP_* tests inverted.
    invert: u8,
}

/// An interface name field and its mask: every byte of the name and its
/// terminating zero, or, for `eth+`, every byte before the `+`.
fn name_and_mask(name: &str) -> ([u8; IFNAMSIZ], [u8; IFNAMSIZ]) {
    let mut field = [0u8; IFNAMSIZ];
    let mut mask = [0u8; IFNAMSIZ];
    for (slot, b) in field.iter_mut().zip(name.bytes()) {
        *slot = b;
    }
    let masked = match name.strip_suffix('+') {
        Some(prefix) => prefix.len(),
        None => name.len() + 1,
    };
    for m in mask.iter_mut().take(masked) {
        *m = 0xff;
    }
    (field, mask)
}

impl Physdev {
    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let (in_name, in_mask) = name_and_mask(self.port_in.as_deref().unwrap_or_default());
        let (out_name, out_mask) = name_and_mask(self.port_out.as_deref().unwrap_or_default());
        let (in_mask, out_mask) = (
            if self.port_in.is_some() {
                in_mask
            } else {
                [0; IFNAMSIZ]
            },
            if self.port_out.is_some() {
                out_mask
            } else {
                [0; IFNAMSIZ]
            },
        );
        let info = XtLayout::new()
            .bytes(&in_name, IFNAMSIZ)
            .bytes(&in_mask, IFNAMSIZ)
            .bytes(&out_name, IFNAMSIZ)
            .bytes(&out_mask, IFNAMSIZ)
            .u8(self.invert)
            .u8(self.bitmask)
            .finish();
        // The outgoing port of a packet not known to be bridged is only
        // known after routing, never for the host's own packets.
        let out_tests = self.bitmask & (OP_OUT | OP_ISOUT) != 0;
        let bridged = self.bitmask & OP_BRIDGED != 0 && self.invert & OP_BRIDGED == 0;
        let hooks = if out_tests && !bridged {
            vec![
                Hook::Prerouting,
                Hook::Input,
                Hook::Forward,
                Hook::Postrouting,
            ]
        } else {
            Vec::new()
        };
        // xt_physdev checks this as the rule is added, so only in a
        // built-in chain.
        XtExtension {
            builtin_hooks: hooks,
            ..super::kernel_ext("-m", "physdev", 0, info, self)
        }
    }

    fn flag(&self, op: u8, name: &str, value: Option<&str>, out: &mut String) {
        if self.bitmask & op == 0 {
            return;
        }
        if self.invert & op != 0 {
            out.push_str(" !");
        }
        out.push_str(&format!(" {name}"));
        if let Some(v) = value {
            out.push_str(&format!(" {v}"));
        }
    }
}

impl Extension for Physdev {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--physdev-in", 1, true),
            opt("--physdev-out", 1, true),
            opt("--physdev-is-in", 0, true),
            opt("--physdev-is-out", 0, true),
            opt("--physdev-is-bridged", 0, true),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let op = match o.name {
            "--physdev-in" => OP_IN,
            "--physdev-out" => OP_OUT,
            "--physdev-is-in" => OP_ISIN,
            "--physdev-is-out" => OP_ISOUT,
            _ => OP_BRIDGED,
        };
        if self.bitmask & op != 0 {
            return fail(format!("{} given twice", o.name));
        }
        if op == OP_IN || op == OP_OUT {
            let name = o.value().to_string();
            parse_iface(&name, o.name, o.warnings)?;
            if op == OP_IN {
                self.port_in = Some(name);
            } else {
                self.port_out = Some(name);
            }
        }
        self.bitmask |= op;
        if o.invert {
            self.invert |= op;
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.bitmask == 0 {
            return fail(
                "the physdev match needs --physdev-in, --physdev-out, --physdev-is-in, --physdev-is-out or --physdev-is-bridged",
            );
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        self.flag(OP_ISIN, "--physdev-is-in", None, out);
        self.flag(OP_IN, "--physdev-in", self.port_in.as_deref(), out);
        self.flag(OP_ISOUT, "--physdev-is-out", None, out);
        self.flag(OP_OUT, "--physdev-out", self.port_out.as_deref(), out);
        self.flag(OP_BRIDGED, "--physdev-is-bridged", None, out);
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" PHYSDEV match");
        self.save(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked_like_interfaces() {
        let (name, mask) = name_and_mask("eth0");
        assert_eq!(&name[..5], b"eth0\0");
        assert_eq!(mask.iter().filter(|&&b| b == 0xff).count(), 5);
        let (name, mask) = name_and_mask("vnet+");
        assert_eq!(&name[..5], b"vnet+");
        assert_eq!(mask.iter().filter(|&&b| b == 0xff).count(), 4);
        let p = Physdev {
            port_in: Some("eth0".into()),
            bitmask: OP_IN,
            ..Default::default()
        };
        assert_eq!(p.ext().info.len(), 72);
    }
}
