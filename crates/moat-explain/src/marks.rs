//! Mark changes: MARK and CONNMARK set, save and restore.

use moat_model::{Action, MarkSet};

use crate::flight::Flight;

/// Changes the packet or connection mark of `flight` as `action` does and
/// says what changed (`mark 0x0 -> 0x7`); `None` for other actions. A mark
/// copied from an unknown one becomes unknown.
pub fn apply(action: &Action, flight: &mut Flight) -> Option<String> {
    let (what, old, new) = match action {
        Action::SetMark(set) => ("mark", flight.mark, apply_mark(flight.mark, *set)),
        Action::SetConnMark(set) => (
            "connection mark",
            flight.conn_mark,
            apply_mark(flight.conn_mark, *set),
        ),
        Action::SaveMark { nfmask, ctmask } => (
            "connection mark",
            flight.conn_mark,
            copy_mark(flight.conn_mark, *ctmask, flight.mark, *nfmask),
        ),
        Action::RestoreMark { nfmask, ctmask } => (
            "mark",
            flight.mark,
            copy_mark(flight.mark, *nfmask, flight.conn_mark, *ctmask),
        ),
        _ => return None,
    };
    if what == "mark" {
        flight.mark = new;
    } else {
        flight.conn_mark = new;
    }
    let show = |m: Option<u32>| m.map_or("unknown".to_string(), |v| format!("{v:#x}"));
    Some(format!("{what} {} -> {}", show(old), show(new)))
}

/// `(old & !mask) ^ value`, when the old value is known or wholly replaced.
pub fn apply_mark(old: Option<u32>, set: MarkSet) -> Option<u32> {
    match old {
        Some(v) => Some((v & !set.mask) ^ set.value),
        None if set.mask == u32::MAX => Some(set.value),
        None => None,
    }
}

/// `(to & !to_mask) | (from & from_mask)`, for copies between the packet
/// and connection marks.
pub fn copy_mark(to: Option<u32>, to_mask: u32, from: Option<u32>, from_mask: u32) -> Option<u32> {
    let kept = if to_mask == u32::MAX { Some(0) } else { to };
    let taken = if from_mask == 0 { Some(0) } else { from };
    Some((kept? & !to_mask) | (taken? & from_mask))
}
