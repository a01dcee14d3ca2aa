//! The MARK and CONNMARK targets.

use moat_model::{Action, MarkSet, XtLayout};

use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{parse_mark, push_opt, u32_value};

/// What a MARK or CONNMARK target does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `new = (old & !mask) ^ value`.
    Xset { value: u32, mask: u32 },
    /// Connection mark from packet mark (CONNMARK only).
    Save { nfmask: u32, ctmask: u32 },
    /// Packet mark from connection mark (CONNMARK only).
    Restore { nfmask: u32, ctmask: u32 },
}

/// `-j MARK` or `-j CONNMARK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MarkTarget {
    conn: bool,
    op: Option<Op>,
    nfmask: Option<u32>,
    ctmask: Option<u32>,
    /// CONNMARK's `--left-shift-mark` / `--right-shift-mark`: whether right,
    /// and by how many bits, never 0 (the last given counts, as in iptables).
    shift: Option<(bool, u8)>,
}

const MARK_OPTIONS: &[OptDef] = &[
    opt("--set-mark", 1, false),
    opt("--set-xmark", 1, false),
    opt("--and-mark", 1, false),
    opt("--or-mark", 1, false),
    opt("--xor-mark", 1, false),
];

const CONNMARK_OPTIONS: &[OptDef] = &[
    opt("--set-mark", 1, false),
    opt("--set-xmark", 1, false),
    opt("--and-mark", 1, false),
    opt("--or-mark", 1, false),
    opt("--xor-mark", 1, false),
    opt("--save-mark", 0, false),
    opt("--restore-mark", 0, false),
    opt("--mask", 1, false),
    opt("--nfmask", 1, false),
    opt("--ctmask", 1, false),
    opt("--left-shift-mark", 1, false).once(),
    opt("--right-shift-mark", 1, false).once(),
];

/// xt_CONNMARK's modes.
const CONNMARK_SET: u8 = 0;
const CONNMARK_SAVE: u8 = 1;
const CONNMARK_RESTORE: u8 = 2;

impl MarkTarget {
    /// An empty target; `conn` for CONNMARK.
    pub(crate) fn new(conn: bool) -> Self {
        MarkTarget {
            conn,
            op: None,
            nfmask: None,
            ctmask: None,
            shift: None,
        }
    }

    /// `MARK` or `CONNMARK`.
    pub(crate) fn name(&self) -> &'static str {
        if self.conn {
            "CONNMARK"
        } else {
            "MARK"
        }
    }

    /// The model action: a shifted CONNMARK runs in the kernel's
    /// xt_CONNMARK (revision 2), nf_tables having no such change.
    pub(crate) fn lower(&self) -> Action {
        if let (Some(op), Some((right, bits))) = (self.op, self.shift) {
            let (mode, ctmark, ctmask, nfmask) = match op {
                Op::Xset { value, mask } => (CONNMARK_SET, value, mask, 0),
                Op::Save { nfmask, ctmask } => (CONNMARK_SAVE, 0, ctmask, nfmask),
                Op::Restore { nfmask, ctmask } => (CONNMARK_RESTORE, 0, ctmask, nfmask),
            };
            let info = XtLayout::new()
                .u32(ctmark)
                .u32(ctmask)
                .u32(nfmask)
                .u8(u8::from(right))
                .u8(bits)
                .u8(mode)
                .finish();
            return super::xt::ext("CONNMARK", 2, info, self);
        }
        match self.op {
            Some(Op::Save { nfmask, ctmask }) => Action::SaveMark { nfmask, ctmask },
            Some(Op::Restore { nfmask, ctmask }) => Action::RestoreMark { nfmask, ctmask },
            Some(Op::Xset { value, mask }) if self.conn => {
                Action::SetConnMark(MarkSet { value, mask })
            }
            Some(Op::Xset { value, mask }) => Action::SetMark(MarkSet { value, mask }),
            None => Action::Continue,
        }
    }
}

impl Extension for MarkTarget {
    fn options(&self) -> &'static [OptDef] {
        if self.conn {
            CONNMARK_OPTIONS
        } else {
            MARK_OPTIONS
        }
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        if let Some(right) = match o.name {
            "--left-shift-mark" => Some(false),
            "--right-shift-mark" => Some(true),
            _ => None,
        } {
            let bits = u32_value(v, o.name)?;
            if bits > 31 {
                return refused_by_kernel(format!(
                    "{} {v}: the kernel shifts by 0 to 31 bits",
                    o.name
                ));
            }
            // A shift of 0 bits is none, as iptables prints it.
            self.shift = (bits != 0).then_some((right, bits as u8));
            return Ok(());
        }
        // After a mark change, --mask and --ctmask replace its mask and
        // --nfmask does nothing, as in iptables, where the last writer of
        // the connection mask wins.
        if let Some(Op::Xset { mask, .. }) = &mut self.op {
            match o.name {
                "--mask" | "--ctmask" => {
                    *mask = u32_value(v, o.name)?;
                    return Ok(());
                }
                "--nfmask" => {
                    u32_value(v, o.name)?;
                    return Ok(());
                }
                _ => {}
            }
        }
        let mask_slot = match o.name {
            "--nfmask" => Some(&mut self.nfmask),
            "--ctmask" => Some(&mut self.ctmask),
            _ => None,
        };
        if let Some(slot) = mask_slot {
            if slot.is_some() {
                return fail(format!("{} given twice", o.name));
            }
            *slot = Some(u32_value(v, o.name)?);
            return Ok(());
        }
        if o.name == "--mask" {
            if self.nfmask.is_some() || self.ctmask.is_some() {
                return fail(
                    "--mask sets both --nfmask and --ctmask; give it once and not with them",
                );
            }
            let m = u32_value(v, o.name)?;
            self.nfmask = Some(m);
            self.ctmask = Some(m);
            return Ok(());
        }
        if self.op.is_some() {
            return fail(format!(
                "{} takes only one of --set-mark, --set-xmark, --and-mark, --or-mark, --xor-mark{}",
                self.name(),
                if self.conn {
                    ", --save-mark and --restore-mark"
                } else {
                    ""
                }
            ));
        }
        self.op = Some(match o.name {
            "--set-mark" => {
                let (value, mask) = parse_mark(v, o.name)?;
                Op::Xset {
                    value,
                    mask: mask.map_or(u32::MAX, |m| m | value),
                }
            }
            "--set-xmark" => {
                let (value, mask) = parse_mark(v, o.name)?;
                Op::Xset {
                    value,
                    mask: mask.unwrap_or(u32::MAX),
                }
            }
            "--and-mark" => Op::Xset {
                value: 0,
                mask: !u32_value(v, o.name)?,
            },
            "--or-mark" => {
                let m = u32_value(v, o.name)?;
                Op::Xset { value: m, mask: m }
            }
            "--xor-mark" => Op::Xset {
                value: u32_value(v, o.name)?,
                mask: 0,
            },
            "--save-mark" => Op::Save {
                nfmask: 0,
                ctmask: 0,
            },
            _ => Op::Restore {
                nfmask: 0,
                ctmask: 0,
            },
        });
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        let (nf, ct) = (self.nfmask.take(), self.ctmask.take());
        match &mut self.op {
            None => fail(format!(
                "{} needs an option such as --set-mark{}",
                self.name(),
                if self.conn {
                    ", --save-mark or --restore-mark"
                } else {
                    ""
                }
            )),
            Some(Op::Save { nfmask, ctmask }) | Some(Op::Restore { nfmask, ctmask }) => {
                *nfmask = nf.unwrap_or(u32::MAX);
                *ctmask = ct.unwrap_or(u32::MAX);
                Ok(())
            }
            // Masks given before the mark change: it set its own.
            Some(Op::Xset { .. }) => Ok(()),
        }
    }

    fn save(&self, out: &mut String) {
        match self.op {
            Some(Op::Xset { value, mask }) => {
                push_opt(
                    out,
                    false,
                    "--set-xmark",
                    Some(&format!("{value:#x}/{mask:#x}")),
                );
            }
            Some(Op::Save { nfmask, ctmask }) | Some(Op::Restore { nfmask, ctmask }) => {
                let word = if matches!(self.op, Some(Op::Save { .. })) {
                    "--save-mark"
                } else {
                    "--restore-mark"
                };
                push_opt(out, false, word, None);
                push_opt(out, false, "--nfmask", Some(&format!("{nfmask:#x}")));
                push_opt(out, false, "--ctmask", Some(&format!("{ctmask:#x}")));
            }
            None => {}
        }
        if let Some((right, bits)) = self.shift {
            let option = shift_option(right);
            push_opt(out, false, &format!("--{option}"), Some(&bits.to_string()));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        let name = self.name();
        match self.op {
            Some(Op::Xset { value, mask }) => {
                // In iptables' order: `--set-mark 0xffffffff` is an or.
                let text = if value == 0 {
                    format!("and {:#x}", !mask)
                } else if value == mask {
                    format!("or {value:#x}")
                } else if mask == 0 {
                    format!("xor {value:#x}")
                } else if mask == u32::MAX {
                    format!("set {value:#x}")
                } else {
                    format!("xset {value:#x}/{mask:#x}")
                };
                out.push_str(&format!(" {name} {text}"));
            }
            Some(Op::Save { nfmask, ctmask }) => {
                out.push_str(&format!(" {name} save"));
                if nfmask == ctmask {
                    if nfmask != u32::MAX {
                        out.push_str(&format!(" mask {nfmask:#x}"));
                    }
                } else {
                    out.push_str(&format!(" nfmask {nfmask:#x} ctmask ~{ctmask:#x}"));
                }
            }
            Some(Op::Restore { nfmask, ctmask }) => {
                out.push_str(&format!(" {name} restore"));
                if nfmask == ctmask {
                    if ctmask != u32::MAX {
                        out.push_str(&format!(" mask {ctmask:#x}"));
                    }
                } else {
                    out.push_str(&format!(" ctmask {ctmask:#x} nfmask ~{nfmask:#x}"));
                }
            }
            None => {}
        }
        if let Some((right, bits)) = self.shift {
            out.push_str(&format!(" {} {bits}", shift_option(right)));
        }
    }
}

/// The name of a CONNMARK shift's option, without its dashes.
fn shift_option(right: bool) -> &'static str {
    if right {
        "right-shift-mark"
    } else {
        "left-shift-mark"
    }
}
