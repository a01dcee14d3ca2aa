//! dccp's `--dccp-types TYPE,...` and `--dccp-option N`, run in the
//! kernel's xt_dccp as iptables-nft runs them (nf_tables reads a DCCP
//! packet's type, but not its options).

use moat_model::XtLayout;

use crate::rule::error::{fail, Res};
use crate::rule::suggest::did_you_mean;

/// The packet types iptables names, by number; INVALID stands for every
/// type from 10 on (bits 10 to 15).
const TYPES: [&str; 11] = [
    "REQUEST", "RESPONSE", "DATA", "ACK", "DATAACK", "CLOSEREQ", "CLOSE", "RESET", "SYNC",
    "SYNCACK", "INVALID",
];

/// The bits of INVALID.
const INVALID: u16 = 0xfc00;

/// xt_dccp's flags (XT_DCCP_*) for the two tests.
const TYPE_TEST: u16 = 0x04;
const OPTION_TEST: u16 = 0x08;

/// Parses `--dccp-types`: a bit per type.
pub(crate) fn parse_types(list: &str) -> Res<u16> {
    let mut mask = 0;
    for word in list.split(',') {
        let upper = word.to_ascii_uppercase();
        let Some(n) = TYPES.iter().position(|t| *t == upper) else {
            return fail(format!(
                "--dccp-types: unknown DCCP packet type \"{word}\"{}",
                did_you_mean(&upper, TYPES.iter().copied())
            ));
        };
        mask |= if upper == "INVALID" { INVALID } else { 1 << n };
    }
    Ok(mask)
}

/// The types as iptables prints them, in number order (with `numeric`,
/// as `-n` lists them: every bit's number).
pub(crate) fn types_text(mask: u16, numeric: bool) -> String {
    let words: Vec<String> = if numeric {
        (0..16)
            .filter(|n| mask & (1 << n) != 0)
            .map(|n| n.to_string())
            .collect()
    } else {
        TYPES
            .iter()
            .enumerate()
            .filter(|&(n, _)| {
                let bits = if n == 10 { INVALID } else { 1 << n };
                mask & bits != 0
            })
            .map(|(_, t)| t.to_string())
            .collect()
    };
    words.join(",")
}

/// `struct xt_dccp_info` with only the type and option tests given set:
/// the port ranges (unused), flags, inversions, the type mask, the option.
pub(crate) fn info(types: Option<(u16, bool)>, option: Option<(u8, bool)>) -> Vec<u8> {
    let (mut flags, mut invert) = (0, 0);
    for (given, negate, flag) in [
        (types.is_some(), types.is_some_and(|t| t.1), TYPE_TEST),
        (option.is_some(), option.is_some_and(|o| o.1), OPTION_TEST),
    ] {
        if given {
            flags |= flag;
        }
        if negate {
            invert |= flag;
        }
    }
    XtLayout::new()
        .u16(0)
        .u16(0)
        .u16(0)
        .u16(0)
        .u16(flags)
        .u16(invert)
        .u16(types.map_or(0, |t| t.0))
        .u8(option.map_or(0, |o| o.0))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_read_and_print_as_iptables_does() {
        let mask = parse_types("syncack,request,REQUEST").unwrap();
        assert_eq!(types_text(mask, false), "REQUEST,SYNCACK");
        let invalid = parse_types("DATA,INVALID").unwrap();
        assert_eq!(types_text(invalid, false), "DATA,INVALID");
        assert_eq!(types_text(invalid, true), "2,10,11,12,13,14,15");
        assert!(parse_types("ALL").is_err());
        let info = info(Some((mask, true)), Some((2, false)));
        assert_eq!(info.len(), 16);
        let word = |at: usize| u16::from_ne_bytes([info[at], info[at + 1]]);
        assert_eq!(
            (word(8), word(10), word(12), info[14]),
            (0x0c, 0x04, 0x201, 2)
        );
    }
}
